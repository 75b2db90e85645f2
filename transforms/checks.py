"""The data checks each analytics table passes before it replaces the old one."""

from __future__ import annotations

from typing import Any

# per model: key columns (unique; not null unless listed in `nullable`: runs without a
# flow are one group per provider with flow_id null), more not-null columns, and checks
# written as a condition that a violating row meets
CHECKS: dict[str, dict[str, Any]] = {
    "flow_runs": {"key": ["provider", "run_id"], "not_null": ["started_at"]},
    "sync_status": {"key": ["source"], "not_null": ["last_attempt_at", "last_outcome"]},
    "completion_rate": {
        "key": ["provider", "flow_id", "day"], "nullable": ["flow_id"],
        "rules": {
            "runs_completed <= runs_finished <= runs_total":
                "runs_completed > runs_finished or runs_finished > runs_total",
            "completion_rate in [0, 1]": "completion_rate < 0 or completion_rate > 1",
        },
    },
    "status_funnel": {
        "key": ["provider", "flow_id", "stage"], "nullable": ["flow_id"],
        "rules": {
            "pct_of_entered and pct_of_previous in [0, 1]":
                "pct_of_entered < 0 or pct_of_entered > 1 or pct_of_previous < 0 "
                "or pct_of_previous > 1",
        },
        "queries": {
            "funnel stages non-increasing":
                "select count(*) from {t} a join {t} b on a.provider = b.provider and "
                "a.flow_id is not distinct from b.flow_id and b.stage_order = a.stage_order + 1 "
                "where b.runs > a.runs",
        },
    },
    "status_counts": {
        "key": ["provider", "flow_id"], "nullable": ["flow_id"],
        "unique": ["provider", "flow_id", "status"],
        "rules": {"share in [0, 1]": "share < 0 or share > 1"},
    },
    "step_funnel": {
        "key": ["flow_id", "widget"],
        "rules": {
            "pct_of_flow_executions in [0, 1]":
                "pct_of_flow_executions < 0 or pct_of_flow_executions > 1",
            "executions_ended_here <= executions_reached":
                "executions_ended_here > executions_reached",
        },
    },
}


class CheckFailedError(Exception):
    """A data check failed; the message names the model, the check, some of the rows that
    break it, and what to do."""

RECOVER = ("the previous analytics tables are kept. The raw rows behind the rows named hold "
           "a shape flowsync does not handle yet: please report it (with the rows); to go on "
           "meanwhile, delete those raw rows and run `flowsync transform`")


def check(wh: Any, model: str, table: str) -> None:
    """Runs the model's data checks on `table`; raises CheckFailedError naming the first failure."""
    spec = CHECKS.get(model, {})
    key = spec.get("key", [])
    shown = ", ".join(key) or "*"
    failures = []
    for column in [*key, *spec.get("not_null", [])]:
        if column in spec.get("nullable", []):
            continue
        n = wh.scalar(f"select count(*) from {table} where {column} is null")
        if n:
            failures.append(f"{model}: {column} not null ({n} null rows, e.g. "
                            f"{_examples(wh, table, shown, f'{column} is null')})")
    unique = spec.get("unique", key)
    if unique:
        cols = ", ".join(unique)
        n = wh.scalar(f"select count(*) from (select {cols} from {table} group by {cols} "
                      "having count(*) > 1) as d")
        if n:
            dupes = wh.rows(f"select {cols} from {table} group by {cols} having count(*) > 1 "
                            "order by 1 limit 3")
            failures.append(f"{model}: ({cols}) unique ({n} duplicated keys, e.g. "
                            f"{'; '.join(str(tuple(r)) for r in dupes)})")
    for name, condition in spec.get("rules", {}).items():
        n = wh.scalar(f"select count(*) from {table} where {condition}")
        if n:
            failures.append(f"{model}: {name} ({n} rows break it, e.g. "
                            f"{_examples(wh, table, shown, condition)})")
    for name, query in spec.get("queries", {}).items():
        n = wh.scalar(query.format(t=table))
        if n:
            failures.append(f"{model}: {name} ({n} rows break it)")
    if failures:
        raise CheckFailedError("data check failed: " + "; ".join(failures) + ". " + RECOVER)


def _examples(wh: Any, table: str, columns: str, condition: str) -> str:
    rows = wh.rows(f"select {columns} from {table} where {condition} order by 1 limit 3")
    return "; ".join(str(tuple(r)) for r in rows)
