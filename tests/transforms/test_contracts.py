"""Each analytics table's contract (the YAML beside its model) is what the warehouse, the
checks and the README say: one place for a table's meaning (issue 23: it was spread over
checks.py, comments.py, the README and the tests)."""

from __future__ import annotations

import re
from pathlib import Path

from transforms.contracts import contracts
from transforms.runner import load_models

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_mart_has_a_contract_naming_every_column_it_builds() -> None:
    marts = {m.name for m in load_models() if m.layer == "marts"}
    assert set(contracts()) == marts
    for contract in contracts().values():
        assert contract.description and all(contract.columns.values()), contract.name
        assert set(contract.grain) <= set(contract.columns), contract.name


def test_the_readme_describes_every_column_of_every_table() -> None:
    for name, contract in contracts().items():
        found = re.search(rf"### `analytics\.{name}`.*?(?=\n##)", README, re.DOTALL)
        assert found, f"README has no section for analytics.{name}"
        missing = [c for c in contract.columns if f"`{c}`" not in found.group(0)]
        assert missing == [], f"analytics.{name}: the README does not name {missing}"
