"""Rows as Arrow tables, flattened the way dlt flattens JSON.

dlt loads an Arrow table almost as it is (straight to parquet for DuckDB), where a list
of dicts goes through its row-by-row JSON normalizer: per row a flatten, a type check of
every value and a random `_dlt_id`. On a 100k-run load that normalizer was half the wall
time (`python -m benchmarks`). So the sources yield Arrow tables built here, with the
table layout the JSON path would give: nested objects become `parent__child` columns
(names in dlt's snake_case), empty objects and all-null columns give no column unless the
resource declares the column's type, and a declared type is the column's Arrow type.

One difference, on purpose: a list value is kept as JSON text in its column, where the
JSON path would make a child table. The APIs' execution records hold no lists.

Types drift (an API sends a number one day and a string the next): a column whose type is
declared, or already in the warehouse (`table=`), keeps that type; a value that converts
(`"33"` for a bigint) is converted, one that does not goes whole to the text column
`<column>__v_text` beside it (as dlt's variant columns do), so nothing is lost and the load
never fails on it. An undeclared new column whose values do not fit one type is JSON text.
"""

from __future__ import annotations

import json
import logging
from operator import methodcaller
from typing import Any

import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention

log = logging.getLogger("flowsync.arrow")

_NAMING = NamingConvention()
_NAMES: dict[tuple[str, str], str] = {}

_TYPES = {
    "text": pa.string(), "timestamp": pa.timestamp("us", tz="UTC"), "bigint": pa.int64(),
    "bool": pa.bool_(), "double": pa.float64(), "json": pa.string(),
}


def arrow_types(columns: dict[str, dict]) -> dict[str, pa.DataType]:
    """Arrow types for a resource's declared dlt columns."""
    return {name: _TYPES[c["data_type"]] for name, c in columns.items()
            if c.get("data_type") in _TYPES}


def known_types(table: str, declared: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
    """The declared types, and those the table's columns have in dlt's schema (the
    warehouse's), for the extraction running now."""
    try:
        import dlt

        columns = dlt.current.source_schema().get_table_columns(table)
    except Exception:  # outside an extraction (unit tests): the declared types alone
        return declared
    return {**arrow_types({k: v for k, v in columns.items() if not k.startswith("_dlt")}),
            **declared}


def _name(prefix: str, key: str) -> str:
    name = _NAMES.get((prefix, key))
    if name is None:
        if len(_NAMES) >= 10_000:  # an API with data as keys must not grow it forever
            _NAMES.clear()
        name = _NAMES[(prefix, key)] = prefix + _NAMING.normalize_identifier(key)
    return name


def _flatten(record: dict, out: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    for key, value in record.items():
        name = _name(prefix, key)
        if type(value) is dict:
            _flatten(value, out, name + "__")
        elif type(value) is list:
            out[name] = json.dumps(value, sort_keys=True, default=str)
        else:
            out[name] = value
    return out


def to_arrow(rows: list[dict], types: dict[str, pa.DataType], what: str,
             required: tuple[str, ...] = (), table: str | None = None) -> pa.Table:
    """One Arrow table of `rows` (dicts as the API sent them, timestamps parsed).

    Arrow infers one struct type over all the rows (every key of every row), or converts
    them at the type the resource's last rows had where that gives the same (`_struct`),
    and the nested structs are flattened in C++; only when the values do not fit one type
    per column does it fall back to flattening row by row in Python.

    Args:
        rows: the records.
        types: the declared column types (from `arrow_types`).
        what: the resource, for the warning about a column kept as JSON text.
        required: columns every row has a value in (the key and cursor, checked before):
            not nullable, as dlt's schema has them.
        table: the table loaded, whose columns' types in dlt's schema are kept too.
    """
    if table is not None:
        types = known_types(table, types)
    try:
        struct = _struct(rows, what)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return _to_arrow_by_row(rows, types, what, required)
    if not pa.types.is_struct(struct.type):  # e.g. no rows
        return _to_arrow_by_row(rows, types, what, required)
    columns: dict[str, pa.Array] = {}
    _flatten_struct(struct, "", columns)
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for name, array in columns.items():
        for out_name, out in _fit(array, types.get(name), name, what):
            arrays.append(out)
            fields.append(pa.field(out_name, out.type, nullable=out_name not in required))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


# per resource: the struct type Arrow inferred for its last rows, and the keys it holds
Shape = tuple[frozenset, tuple[tuple[str, "Shape"], ...]]
_LAST: dict[str, tuple[pa.StructType, Shape]] = {}


def _struct(rows: list[dict], what: str) -> pa.StructArray:
    """The rows as one struct array: of the type the resource's last rows had, where every
    key of every row (nested ones too) is in it, else of the type Arrow infers.

    Arrow infers a type in a pass over every value before it converts them; given the type
    it converts at once (5,000 Twilio steps: 18-23 ms against 33-49). Given a type, Arrow
    ignores keys it does not hold, so rows with another key are inferred; a value that
    does not fit its field's type (a number where text was, a value where there were only
    nulls) fails the conversion and is inferred as well; types with numbers are not kept
    (`_exact`)."""
    last = _LAST.get(what)
    if last is not None and rows and _within(rows, last[1]):
        try:
            return pa.array(rows, type=last[0], from_pandas=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    struct = pa.array(rows, from_pandas=False)
    if pa.types.is_struct(struct.type) and _exact(struct.type):
        _LAST[what] = (struct.type, _shape(struct.type))
    return struct


def _exact(struct: pa.StructType) -> bool:
    """Whether converting at this type gives what inferring does: not where a field is a
    number (Arrow converts 1.5 to the integer 1, and 5 or True to the float 5.0 or 1.0)."""
    return all(_exact(f.type) if pa.types.is_struct(f.type) else
               (pa.types.is_string(f.type) or pa.types.is_boolean(f.type)
                or pa.types.is_timestamp(f.type) or pa.types.is_null(f.type))
               for f in struct)


def _shape(struct: pa.StructType) -> Shape:
    return (frozenset(f.name for f in struct),
            tuple((f.name, _shape(f.type)) for f in struct if pa.types.is_struct(f.type)))


def _within(rows: list[Any], shape: Shape) -> bool:
    """Whether the rows' keys, and their nested objects' keys, are all in `shape` (in C:
    a value that is not an object either fails here or fails the conversion)."""
    keys, nested = shape
    try:
        if not all(map(keys.issuperset, rows)):
            return False
        return all(_within(list(filter(None, map(methodcaller("get", name), rows))), inner)
                   for name, inner in nested)
    except (TypeError, AttributeError):  # a row or nested value that is not an object
        return False


def _flatten_struct(struct: pa.StructArray, prefix: str, out: dict[str, pa.Array]) -> None:
    # StructArray.flatten() applies the parent's nulls to its children
    for field, child in zip(struct.type, struct.flatten(), strict=True):
        name = _name(prefix, field.name)
        if pa.types.is_struct(field.type):
            _flatten_struct(child, name + "__", out)
        else:
            out[name] = child


def _fit(array: pa.Array, declared: pa.DataType | None, name: str, what: str
         ) -> list[tuple[str, pa.Array]]:
    """The column(s) as loaded: declared type, lists as JSON text, no all-null column."""
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        array = pa.array([None if v is None else json.dumps(v, sort_keys=True, default=str)
                          for v in array.to_pylist()], type=pa.string())
    if declared is not None and array.type != declared:
        if pa.types.is_null(array.type):
            return [(name, pa.nulls(len(array), declared))]
        try:
            return [(name, array.cast(declared))]
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return _array(array.to_pylist(), declared, name, what)
    if declared is None and array.null_count == len(array):  # (Arrow's null type, inferred)
        return []  # all null and undeclared: no column, as dlt's JSON path does
    return [(name, array)]


def _to_arrow_by_row(rows: list[dict], types: dict[str, pa.DataType], what: str,
                     required: tuple[str, ...] = ()) -> pa.Table:
    flat = [_flatten(row, {}) for row in rows]
    names: dict[str, None] = {}
    for row in flat:
        names.update(dict.fromkeys(row))
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for name in names:
        values = [row.get(name) for row in flat]
        for out_name, array in _array(values, types.get(name), name, what):
            arrays.append(array)
            fields.append(pa.field(out_name, array.type, nullable=out_name not in required))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _array(values: list, declared: pa.DataType | None, name: str, what: str
           ) -> list[tuple[str, pa.Array]]:
    try:
        array = pa.array(values, type=declared, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        if declared is not None:
            return _coerced(values, declared, name, what)
        log.warning("%s: column `%s` has values of more than one type; kept as JSON text",
                    what, name)
        return [(name, pa.array([None if v is None else json.dumps(v, default=str)
                                 for v in values], type=pa.string()))]
    if pa.types.is_null(array.type):
        return []  # all null and undeclared: no column, as dlt's JSON path does
    return [(name, array)]


def _coerced(values: list, declared: pa.DataType, name: str, what: str
             ) -> list[tuple[str, pa.Array]]:
    """Each value converted to the column's type where it converts; the others whole, as
    text, in `<name>__v_text` (the column's value null)."""
    fitted: list[Any] = []
    misfits: list[str | None] = []
    for v in values:
        try:
            fitted.append(None if v is None else
                          pa.array([v], from_pandas=False).cast(declared)[0].as_py())
            misfits.append(None)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError,
                OverflowError):
            fitted.append(None)
            misfits.append(v if isinstance(v, str) else json.dumps(v, default=str))
    out = [(name, pa.array(fitted, type=declared))]
    bad = sum(m is not None for m in misfits)
    if bad:
        log.warning("%s: %d value(s) of column `%s` are not of its type (%s); kept as text in "
                    "`%s__v_text`", what, bad, name, declared, name)
        out.append((f"{name}__v_text", pa.array(misfits, type=pa.string())))
    return out
