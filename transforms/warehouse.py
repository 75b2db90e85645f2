"""A connection to the warehouse, as the transforms (and every other step) use it: the few
calls flowsync needs, values passed as parameters (`%s`), never quoted into the SQL by
hand.

What differs between DuckDB and Postgres (how a statement runs, what depends on a table,
how a row is named, how many rows are loaded at once) is each database's subclass, in
`pipelines.warehouse`; nothing here asks which one it is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

Params = Sequence[Any] | None


class Warehouse(ABC):
    """One connection to the warehouse."""

    # a row's physical name, to delete one of two rows that are otherwise equal
    row_id: str = ""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @abstractmethod
    def _run(self, sql: str, params: Params = None) -> Any:
        """Runs one statement; returns a cursor to fetch from."""

    @abstractmethod
    def dependents(self, schema: str, table: str) -> list[str]:
        """The views (`schema.name`) that read the table."""

    @abstractmethod
    def json_elements(self, expr: str, key: str) -> str:
        """A FROM item: one row per element of the array at `key` of the JSON `expr`
        (used as `... as alias(element)`; `element ->> 'name'` reads it on both)."""

    @abstractmethod
    def insert_rows(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        """Many rows at once (a bulk load, not one statement per row)."""

    def move_rows(self, table: str, where: str, into: str, columns: str) -> None:
        """Moves the rows of `table` for which `where` holds into `into` (`columns`, a
        comma-separated list both have)."""
        self.execute(f"insert into {into} ({columns}) select {columns} from {table} "
                     f"where {where}")
        self.execute(f"delete from {table} where {where}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together, or (on any exception, a stop included)
        rolls back: readers see all of it or none."""
        self.execute("begin")
        try:
            yield
        except BaseException:
            self.execute("rollback")
            raise
        self.execute("commit")

    def execute(self, sql: str, params: Params = None) -> None:
        self._run(sql, params)

    def scalar(self, sql: str, params: Params = None) -> Any:
        return self._run(sql, params).fetchone()[0]

    def rows(self, sql: str, params: Params = None) -> list[tuple]:
        return self._run(sql, params).fetchall()

    def columns(self, schema: str, table: str) -> set[str] | None:
        """The table's columns, or None when it does not exist."""
        found = self.rows("select column_name from information_schema.columns "
                          "where table_schema = %s and table_name = %s", (schema, table))
        return {r[0] for r in found} or None

    def typed_columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        """(name, type) of the table's columns in order; empty when it does not exist."""
        return [(r[0], r[1]) for r in self.rows(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table))]

    def schemas(self) -> list[str]:
        """The schemas of this database, by name."""
        return [r[0] for r in self.rows(
            "select distinct schema_name from information_schema.schemata order by 1")]

    def tables(self, schema: str) -> list[str]:
        """The base tables of a schema (no views), by name."""
        return [r[0] for r in self.rows(
            "select table_name from information_schema.tables where table_schema = %s "
            "and table_type = 'BASE TABLE' order by 1", (schema,))]

    def views(self, schema: str) -> list[str]:
        """The views of a schema, by name."""
        return [r[0] for r in self.rows(
            "select table_name from information_schema.tables where table_schema = %s "
            "and table_type = 'VIEW' order by 1", (schema,))]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
