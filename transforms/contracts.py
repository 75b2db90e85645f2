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
