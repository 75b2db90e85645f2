"""Rows as Arrow tables: the same table layout as dlt's JSON path, and no lost values."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import dlt
import duckdb
import pyarrow as pa
import pytest

import sources.arrow
from sources.arrow import _to_arrow_by_row, arrow_types, to_arrow
from sources.records import OncePerLoad

COLUMNS = {"created_on": {"data_type": "timestamp"}, "reason": {"data_type": "text"},
           "owner__role": {"data_type": "bigint"}}
TYPES = arrow_types(COLUMNS)
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

RECORDS = [
    {"id": "a", "created_on": T0, "reason": None, "isTest": False, "count": 3,
     "owner": {"firstName": "Ana", "role": 1, "meta": {"tier": "gold"}}, "vars": {},
     "score": 0.5, "gone": None},
    {"id": "b", "created_on": T0, "reason": "x", "isTest": True, "count": None,
     "owner": None, "vars": {}, "score": None, "gone": None},
]


@pytest.fixture(autouse=True)
def _no_type_from_another_test() -> None:
    sources.arrow._LAST.clear()


def test_nested_objects_become_snake_case_columns_and_declared_types_win() -> None:
    table = to_arrow(RECORDS, TYPES, "test")
    assert table.schema.names == ["id", "created_on", "reason", "is_test", "count",
                                  "owner__first_name", "owner__role", "owner__meta__tier",
                                  "score"]
    assert table.schema.field("created_on").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("owner__role").type == pa.int64()
    assert table.schema.field("reason").type == pa.string()
    assert table.to_pylist() == [
        {"id": "a", "created_on": T0, "reason": None, "is_test": False, "count": 3,
         "owner__first_name": "Ana", "owner__role": 1, "owner__meta__tier": "gold",
         "score": 0.5},
        {"id": "b", "created_on": T0, "reason": "x", "is_test": True, "count": None,
         "owner__first_name": None, "owner__role": None, "owner__meta__tier": None,
         "score": None},
    ]


def test_the_row_by_row_fallback_builds_the_same_table() -> None:
    assert _to_arrow_by_row(RECORDS, TYPES, "test") == to_arrow(RECORDS, TYPES, "test")


def test_a_field_only_later_rows_have_is_kept() -> None:
    rows = [{"id": "a"}, {"id": "b", "owner": {"role": 2}, "late": "x"}]
    assert to_arrow(rows, {}, "test").to_pylist() == [
        {"id": "a", "owner__role": None, "late": None},
        {"id": "b", "owner__role": 2, "late": "x"}]


def test_a_declared_column_exists_even_when_every_value_is_null() -> None:
    table = to_arrow([{"id": "a", "created_on": T0, "reason": None}], TYPES, "test")
    assert table.schema.field("reason").type == pa.string()
    assert table.column("reason").to_pylist() == [None]


def test_timestamp_text_in_a_declared_column_is_parsed() -> None:
    table = to_arrow([{"id": "a", "created_on": "2026-11-01T12:00:00.250000Z"}], TYPES, "t")
    assert table.column("created_on").to_pylist() == [T0.replace(microsecond=250000)]


def test_lists_and_mixed_types_are_kept_as_json_text(caplog: pytest.LogCaptureFixture) -> None:
    rows = [{"id": "a", "tags": ["x", 1], "value": 1}, {"id": "b", "tags": [], "value": "one"}]
    with caplog.at_level(logging.WARNING, logger="flowsync.arrow"):
        table = to_arrow(rows, {}, "Test resource")
    assert table.to_pylist() == [{"id": "a", "tags": '["x", 1]', "value": "1"},
                                 {"id": "b", "tags": "[]", "value": '"one"'}]
    assert caplog.messages == ["Test resource: column `value` has values of more than one "
                               "type; kept as JSON text"]


def test_a_typed_column_converts_what_converts_and_keeps_the_rest_as_text_beside_it(
        caplog: pytest.LogCaptureFixture) -> None:
    rows = [{"id": "a", "owner": {"role": 3}}, {"id": "b", "owner": {"role": "4"}},
            {"id": "c", "owner": {"role": "admin"}}, {"id": "d", "owner": {"role": None}}]
    with caplog.at_level(logging.WARNING, logger="flowsync.arrow"):
        table = to_arrow(rows, TYPES, "Test resource")
    assert table.schema.field("owner__role").type == pa.int64()
    assert table.to_pylist() == [
        {"id": "a", "owner__role": 3, "owner__role__v_text": None},
        {"id": "b", "owner__role": 4, "owner__role__v_text": None},
        {"id": "c", "owner__role": None, "owner__role__v_text": "admin"},
        {"id": "d", "owner__role": None, "owner__role__v_text": None},
    ]
    assert caplog.messages == ["Test resource: 1 value(s) of column `owner__role` are not of "
                               "its type (int64); kept as text in `owner__role__v_text`"]


def test_a_column_typed_by_an_earlier_load_keeps_its_type(tmp_path: Path) -> None:
    @dlt.resource(name="things", primary_key="id", write_disposition="merge")
    def things(value):
        yield to_arrow([{"id": "a", "version": value}], {}, "things", table="things")

    pipeline = dlt.pipeline(pipeline_name="drift", destination=dlt.destinations.duckdb(
        str(tmp_path / "w.duckdb")), dataset_name="d", pipelines_dir=str(tmp_path / "p"))
    pipeline.run(things(7))
    pipeline.run(things("8"))  # the api now sends a string: the column stays a number
    pipeline.run(things("v9"))  # and one that is no number goes beside it, as text
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("select version, version__v_text from d.things").fetchall() == [
            (None, "v9")]
        assert con.execute("select data_type from information_schema.columns where "
                           "table_schema = 'd' and table_name = 'things' and column_name = 'version'"
                           ).fetchall() == [
            ("BIGINT",)]


def test_loaded_like_the_json_path(tmp_path: Path) -> None:
    """The same records through dlt's JSON normalizer and as Arrow give the same table."""
    db = tmp_path / "w.duckdb"

    @dlt.resource(name="as_json", primary_key="id", write_disposition="merge", columns=COLUMNS)
    def as_json():
        yield RECORDS

    @dlt.resource(name="as_arrow", primary_key="id", write_disposition="merge", columns=COLUMNS)
    def as_arrow():
        yield to_arrow(RECORDS, TYPES, "test")

    pipeline = dlt.pipeline("arrow_test", destination=dlt.destinations.duckdb(str(db)),
                            dataset_name="raw", pipelines_dir=str(tmp_path / "dlt"))
    pipeline.run([as_json(), as_arrow()], loader_file_format="parquet")
    with duckdb.connect(str(db)) as con:
        def layout(table: str) -> list[tuple]:
            return con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = ? and column_name not like '\\_dlt%' "
                "escape '\\' order by column_name", [table]).fetchall()

        def rows(table: str) -> list[tuple]:
            cols = ", ".join(c for c, _ in layout(table))
            return con.execute(f"select {cols} from raw.{table} order by id").fetchall()

        assert layout("as_arrow") == layout("as_json")
        assert rows("as_arrow") == rows("as_json")
        assert len(rows("as_arrow")) == 2


def test_a_key_is_handed_to_dlt_once_per_load() -> None:
    once = OncePerLoad("sid", "steps")
    assert once([{"sid": "a"}, {"sid": "b"}, {"sid": "a"}]) == [{"sid": "a"}, {"sid": "b"}]
    assert once([{"sid": "b", "v": 2}, {"sid": "c"}]) == [{"sid": "c"}]
    assert once.repeated == 2


def _sorted(table: pa.Table) -> pa.Table:
    return table.select(sorted(table.schema.names))


# records without numbers: a type with numbers is inferred every time (`_exact`)
TEXTUAL = [{**{k: v for k, v in r.items() if k not in ("count", "score")},
            "owner": r["owner"] and {"firstName": "Ana", "meta": {"tier": "gold"}}}
           for r in RECORDS]


def _changed(**change: object) -> list[dict]:
    return [{**TEXTUAL[0], **change}, {**TEXTUAL[1], **change}]


# every kind of value an API's JSON (and the records' parsed timestamps) has, in every
# kind of column the last rows had: declared timestamp and text, text, bool, bigint,
# double, object, only nulls
VALUES = ["x", 5, 1.5, True, {}, {"a": 1}, [1], T0, None, 1 << 70]
FIELDS = ["created_on", "reason", "id", "isTest", "owner", "vars", "gone"]


@pytest.mark.parametrize("rows", [_changed(**{f: v}) for f in FIELDS for v in VALUES])
def test_any_value_in_any_column_gives_the_table_inferring_gives(rows: list[dict]) -> None:
    test_rows_converted_at_the_last_rows_type_give_the_table_inferring_gives(rows)


@pytest.mark.parametrize("rows", [
    TEXTUAL,  # as before
    _changed(extra="new"),  # a key the last rows did not have
    _changed(owner={"firstName": "Bo", "meta": {"tier": "x", "since": "2020"}}),
    _changed(vars={"step": "greeting"}),  # an object that was always empty
    _changed(gone="back"),  # a field that was only ever null
    _changed(reason=5), _changed(isTest="yes"),  # another type
    _changed(count=1.5), _changed(count=1),  # numbers where there were none
    _changed(owner="Ana"),  # text where an object was
    [{k: v for k, v in r.items() if k != "reason"} for r in TEXTUAL],  # a key gone
    _changed(owner=None, id=None),  # fields null in every row
    [TEXTUAL[0], 7],  # not a record at all
], ids=["same", "new key", "new nested key", "empty object filled", "null filled",
        "number for text", "text for bool", "float", "int", "text for object", "key gone",
        "all null", "not a dict"])
def test_rows_converted_at_the_last_rows_type_give_the_table_inferring_gives(
        rows: list[dict]) -> None:
    """Arrow converts at a given type in half the time it takes to infer one: the rows of
    a resource are converted at its last rows' type where every key is in it, and the
    table is the one inferring gives (a key Arrow would ignore, a value that does not fit:
    inferred)."""
    to_arrow(TEXTUAL, TYPES, "t")  # the last rows
    try:
        after = to_arrow(rows, TYPES, "t")
    except Exception as exc:  # (a row that is not a record fails as it did before)
        sources.arrow._LAST.clear()
        with pytest.raises(type(exc)):
            to_arrow(rows, TYPES, "t")
        return
    sources.arrow._LAST.clear()
    alone = to_arrow(rows, TYPES, "t")
    # but for a declared column no row has a key for: there, all null (as loaded)
    extra = sorted(set(after.schema.names) - set(alone.schema.names))
    assert all(n in TYPES and after.column(n).null_count == len(after) for n in extra)
    assert _sorted(after.drop_columns(extra)).equals(_sorted(alone))
    assert _sorted(after.drop_columns(extra)).to_pylist() == _sorted(alone).to_pylist()


def test_rows_shaped_like_the_last_ones_are_not_inferred_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[pa.DataType | None] = []
    array = pa.array

    def spy(obj: object, *args: object, **kwargs: object) -> pa.Array:
        if isinstance(obj, list) and obj and isinstance(obj[0], dict):
            calls.append(kwargs.get("type"))  # type: ignore[arg-type]
        return array(obj, *args, **kwargs)

    monkeypatch.setattr(pa, "array", spy)
    first = to_arrow(TEXTUAL, TYPES, "t")
    again = to_arrow(list(reversed(TEXTUAL)), TYPES, "t")
    other = to_arrow(TEXTUAL, TYPES, "another resource")
    new_key = to_arrow(_changed(extra="new"), TYPES, "t")
    numbers = [{"id": "a", "n": 1}, {"id": "b", "n": 2.5}]
    to_arrow(numbers, TYPES, "numbers")
    to_arrow(numbers, TYPES, "numbers")
    assert [t is None for t in calls] == [True, False, True, True, True, True]
    assert again.to_pylist() == list(reversed(first.to_pylist()))
    assert other.equals(first)
    assert [r["extra"] for r in new_key.to_pylist()] == ["new", "new"]
