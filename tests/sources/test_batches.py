"""Arrow tables gathered into batches before dlt sees them (`sources.batches`)."""

from __future__ import annotations

import pyarrow as pa

from sources.batches import Batches


def page(first: int, rows: int, **extra: list) -> pa.Table:
    return pa.table({"id": list(range(first, first + rows)), **extra})


def ids(table: pa.Table) -> list[int]:
    return table.column("id").to_pylist()


def test_pages_of_one_schema_go_on_together_once_they_hold_the_rows() -> None:
    batches = Batches(rows=250)
    out = [list(batches.add(page(i * 100, 100))) for i in range(6)]
    # nothing after the first two pages; the third makes 300 rows: the three go on as one
    assert [len(o) for o in out] == [0, 0, 1, 0, 0, 1]
    assert ids(out[2][0]) == list(range(300))
    assert ids(out[5][0]) == list(range(300, 600))
    assert list(batches.flush()) == []


def test_flush_hands_on_what_is_left_and_a_single_table_as_it_is() -> None:
    batches = Batches(rows=1000)
    one = page(0, 10)
    assert list(batches.add(one)) == []
    (left,) = batches.flush()
    assert left is one
    assert list(batches.flush()) == []


def test_a_page_of_another_schema_first_hands_on_what_was_gathered() -> None:
    batches = Batches(rows=1000)
    assert list(batches.add(page(0, 10))) == []
    assert list(batches.add(page(10, 10))) == []
    (gathered,) = batches.add(page(20, 5, status=["x"] * 5))
    assert ids(gathered) == list(range(20)) and gathered.column_names == ["id"]
    (rest,) = batches.flush()
    assert ids(rest) == list(range(20, 25)) and rest.column_names == ["id", "status"]


def test_what_is_not_a_table_passes_at_once() -> None:
    batches = Batches(rows=1000)
    assert list(batches.add(page(0, 10))) == []
    quarantined = [{"raw": "{}"}]
    assert list(batches.add(quarantined)) == [quarantined]
    (held,) = batches.flush()
    assert ids(held) == list(range(10))
