"""What DuckDB raised, found behind dlt's wrapping, and what invalidated a database."""

from __future__ import annotations

import re

from sources.errors import first_line

_ORIGINAL = re.compile(r'Original error: "?([^"\n]+)')


def duckdb_error(exc: BaseException) -> BaseException | None:
    """What DuckDB raised, `exc` or one of its causes (dlt wraps it), or None."""
    import duckdb

    seen: set[int] = set()
    found: BaseException | None = exc
    while found is not None and id(found) not in seen:
        if isinstance(found, duckdb.Error):
            return found
        seen.add(id(found))
        found = found.__cause__ or found.__context__
    return None


def invalidation(conn: object) -> BaseException | None:
    """Why the database of `conn` no longer runs statements (a fatal error invalidated
    it), or None while it does."""
    import duckdb

    try:
        conn.execute("select 1").fetchall()  # type: ignore[attr-defined]
    except duckdb.Error as exc:
        return exc
    return None


def original_error(exc: BaseException) -> str:
    """The error that invalidated a database, from DuckDB's "database has been invalidated"
    (which names it as its original error), or the error's first line."""
    found = _ORIGINAL.search(str(exc))
    return found.group(1).strip() if found else first_line(exc)
