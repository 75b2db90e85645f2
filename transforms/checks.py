"""The data checks each analytics table passes before it replaces the old one, as its
contract says (`contracts`: the YAML beside the model)."""

from __future__ import annotations

from typing import Any

from .contracts import contracts


class CheckFailedError(Exception):
    """A data check failed; the message names the model, the check, some of the rows that
    break it, and what to do."""

RECOVER = ("the previous analytics tables are kept. The raw rows behind the rows named hold "
           "a shape flowsync does not handle yet: please report it (with the rows); to go on "
           "meanwhile, delete those raw rows and run `flowsync transform`")


def check(wh: Any, model: str, table: str) -> None:
    """Runs the model's data checks on `table`; raises CheckFailedError naming the first failure."""
    spec = contracts().get(model)
    if spec is None:
        return
    key = spec.grain
    shown = ", ".join(key) or "*"
    failures = []
    not_null = [c for c in dict.fromkeys([*key, *spec.not_null]) if c not in spec.nullable_in_grain]
    if not_null:  # one pass over the table for every column
        counts = wh.rows("select " + ", ".join(f"count(*) filter (where {c} is null)"
                                               for c in not_null) + f" from {table}")[0]
        for column, n in zip(not_null, counts, strict=True):
            if n:
                failures.append(f"{model}: {column} not null ({n} null rows, e.g. "
                                f"{_examples(wh, table, shown, f'{column} is null')})")
    unique = spec.unique or key
    if unique:
        cols = ", ".join(unique)
        n = wh.scalar(f"select count(*) from (select {cols} from {table} group by {cols} "
                      "having count(*) > 1) as d")
        if n:
            dupes = wh.rows(f"select {cols} from {table} group by {cols} having count(*) > 1 "
                            "order by 1 limit 3")
            failures.append(f"{model}: ({cols}) unique ({n} duplicated keys, e.g. "
                            f"{'; '.join(str(tuple(r)) for r in dupes)})")
    for name, condition in spec.rules.items():
        n = wh.scalar(f"select count(*) from {table} where {condition}")
        if n:
            failures.append(f"{model}: {name} ({n} rows break it, e.g. "
                            f"{_examples(wh, table, shown, condition)})")
    for name, query in spec.queries.items():
        n = wh.scalar(query.format(t=table))
        if n:
            failures.append(f"{model}: {name} ({n} rows break it)")
    if failures:
        raise CheckFailedError("data check failed: " + "; ".join(failures) + ". " + RECOVER)


def _examples(wh: Any, table: str, columns: str, condition: str) -> str:
    rows = wh.rows(f"select {columns} from {table} where {condition} order by 1 limit 3")
    return "; ".join(str(tuple(r)) for r in rows)
