"""A DB-API connection to DuckDB or Postgres with the few calls flowsync needs, and the
catalogue questions whose answers differ between the two (what depends on a table, how a
row is named).

Values go in as parameters (`%s` on both: DuckDB's `?` is substituted here), never quoted
into the SQL by hand.
"""

from __future__ import annotations

import re
from typing import Any

_WORD = r"(?<!\w){name}(?!\w)"  # the name as a whole word (a schema may stand before it)


class Warehouse:
    """One connection to the warehouse (DuckDB or Postgres)."""

    def __init__(self, kind: str, conn: Any) -> None:
        self.kind = kind
        self.conn = conn
        if kind == "postgres":
            conn.autocommit = True

    @classmethod
    def connect(cls, kind: str, target: str) -> Warehouse:
        if kind == "duckdb":
            import duckdb

            return cls(kind, duckdb.connect(target))
        import psycopg2

        return cls(kind, psycopg2.connect(target))

    # a row's physical name, for deleting one of two rows that are otherwise equal
    @property
    def row_id(self) -> str:
        return "rowid" if self.kind == "duckdb" else "ctid"

    def _run(self, sql: str, params: tuple | list | None = None) -> Any:
        # a duckdb cursor is a separate connection with its own transaction, so statements
        # run on the connection itself; psycopg2 needs a cursor
        if self.kind == "duckdb":
            if params:
                return self.conn.execute(sql.replace("%s", "?"), list(params))
            return self.conn.execute(sql)
        cur = self.conn.cursor()
        cur.execute(sql, params or None)
        return cur

    def execute(self, sql: str, params: tuple | list | None = None) -> None:
        self._run(sql, params)

    def scalar(self, sql: str, params: tuple | list | None = None) -> Any:
        return self._run(sql, params).fetchone()[0]

    def rows(self, sql: str, params: tuple | list | None = None) -> list[tuple]:
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

    def tables(self, schema: str) -> list[str]:
        """The base tables of a schema (no views), by name."""
        return [r[0] for r in self.rows(
            "select table_name from information_schema.tables where table_schema = %s "
            "and table_type = 'BASE TABLE' order by 1", (schema,))]

    def dependents(self, schema: str, table: str) -> list[str]:
        """The views (`schema.name`) that read the table: Postgres' own dependency records;
        on DuckDB, which keeps none, every view whose SQL names the table (a view that
        merely mentions the name counts too: keeping a table is the safe mistake)."""
        if self.kind == "postgres":
            return [r[0] for r in self.rows(
                "select distinct n.nspname || '.' || v.relname from pg_depend d "
                "join pg_rewrite r on r.oid = d.objid join pg_class v on v.oid = r.ev_class "
                "join pg_namespace n on n.oid = v.relnamespace "
                "where d.refobjid = to_regclass(%s) and v.oid <> d.refobjid order by 1",
                (f"{schema}.{table}",))]
        pattern = re.compile(_WORD.format(name=re.escape(table)), re.IGNORECASE)
        return [f"{s}.{v}" for s, v, sql in self.rows(
            "select schema_name, view_name, sql from duckdb_views() where not internal "
            "order by 1, 2") if pattern.search(sql or "")]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
