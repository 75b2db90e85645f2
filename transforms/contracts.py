"""Each analytics table's contract, in the YAML file beside its model
(`marts/<model>.yml`, dbt's schema-file shape): what the table and each column mean, its
grain, and the checks it passes before it replaces the old table. The table and column
comments (what a BI tool shows), the data checks (`checks`), `flowsync dbt-sources` and
the README's column lists (tested) all read it from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Contract:
    name: str
    description: str
    columns: dict[str, str]  # name -> meaning, in the table's order
    grain: list[str] = field(default_factory=list)  # unique together, not null...
    nullable_in_grain: list[str] = field(default_factory=list)  # ...but these
    not_null: list[str] = field(default_factory=list)
    unique: list[str] = field(default_factory=list)  # when not the grain
    rules: dict[str, str] = field(default_factory=dict)  # name -> a violating row's condition
    queries: dict[str, str] = field(default_factory=dict)  # name -> count of violations ({t})


@cache
def contracts(root: Path = ROOT) -> dict[str, Contract]:
    """Every model's contract, by model name."""
    out = {}
    for path in sorted(root.glob("*/*.yml")):
        for model in yaml.safe_load(path.read_text())["models"]:
            columns = {c["name"]: c["description"] for c in model.pop("columns")}
            out[model["name"]] = Contract(columns=columns, **model)
    return out


def comment_statements(schema: str, table: str) -> list[str]:
    """The comment statements for one table (none for a table without a contract)."""
    contract = contracts().get(table)
    if contract is None:
        return []
    out = [f"comment on table {schema}.{table} is {_literal(contract.description)}"]
    return out + [f"comment on column {schema}.{table}.{c} is {_literal(m)}"
                  for c, m in contract.columns.items()]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sources_yml(schema: str = "analytics") -> str:
    """dbt's `sources.yml` for the analytics tables (`flowsync dbt-sources`): source
    `flowsync`, each table's and column's meaning, and the key tests: not_null on the key
    and the not-null columns, unique on the key (one column, or the key's columns joined)."""
    tables = []
    for name, contract in sorted(contracts().items()):
        key = contract.unique or contract.grain
        required = [c for c in contract.grain if c not in contract.nullable_in_grain]
        required += [c for c in contract.not_null if c not in required]
        columns = []
        for column, meaning in contract.columns.items():
            entry: dict = {"name": column, "description": meaning}
            if column in required:
                entry["data_tests"] = ["not_null"]
            columns.append(entry)
        joined = " || '|' || ".join(
            f"coalesce(cast({c} as varchar), '')" if c in contract.nullable_in_grain
            else f"cast({c} as varchar)" for c in key)
        tables.append({"name": name, "description": contract.description,
                       "data_tests": [{"unique": {"column_name": joined}}] if key else [],
                       "columns": columns})
    document = {"version": 2, "sources": [{
        "name": "flowsync", "schema": schema,
        "description": "flowsync's analytics tables (its README says what each holds); "
                       "rebuilt by every `flowsync run` and `flowsync transform`",
        "tables": tables}]}
    return ("# flowsync's analytics tables as a dbt source: `flowsync dbt-sources > "
            "models/flowsync_sources.yml`\n"
            + yaml.safe_dump(document, sort_keys=False, width=100, allow_unicode=True))
