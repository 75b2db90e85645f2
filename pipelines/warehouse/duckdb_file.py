"""The DuckDB file opened for writing by one command at a time.

DuckDB lets one process write a file and no one else open it meanwhile, even read-only:
a command waits until every other process has let go of it (another run, a BI tool or
notebook reading it), and says who holds it while it waits.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sources.errors import ConfigError, first_line

from ..lock import command_name, process_name, wait_turn

HOLDER = re.compile(r"Conflicting lock is held in .*?\(PID (\d+)\)")


@contextmanager
def hold(path: str, limit: float, options: dict[str, str], note: Path) -> Iterator[Any]:
    """The DuckDB file opened for writing, once every other process has let go of it.
    Who holds it: a flowsync command says so in `note` while it holds the file; another
    program (a BI tool, a notebook) is named from DuckDB's message where it gives a PID."""
    import duckdb

    conn: Any = None

    def try_take() -> str | None:
        nonlocal conn
        try:
            conn = duckdb.connect(path, config=options)
            return None
        except duckdb.Error as exc:
            if not isinstance(exc, duckdb.IOException | duckdb.ConnectionException):
                raise ConfigError(f"DuckDB file {path} cannot be opened: "
                                  f"{first_line(exc)}") from None
            return _holder(note) or _named_by_duckdb(exc, path)

    wait_turn(try_take, f"the DuckDB file {path}", limit)
    note.parent.mkdir(parents=True, exist_ok=True)
    note.write_text(json.dumps({"pid": os.getpid(), "command": command_name()}))
    try:
        yield conn
    finally:
        note.unlink(missing_ok=True)
        conn.close()


def _holder(note: Path) -> str | None:
    """The flowsync command that noted it holds the file, if it still runs."""
    try:
        noted = json.loads(note.read_text())
        os.kill(int(noted["pid"]), 0)  # only asks whether it runs
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(noted["command"])


def _named_by_duckdb(exc: Exception, path: str) -> str:
    """The holder as DuckDB's message names it (its PID, where the platform gives one);
    an open that failed for another reason (not DuckDB's file, denied) is the file's own
    problem."""
    found = HOLDER.search(str(exc))
    if found is not None:
        return process_name(int(found.group(1)))
    if "lock" in str(exc).lower():
        return "another process (DuckDB does not say which)"
    raise ConfigError(f"DuckDB file {path} cannot be opened: {first_line(exc)}") from None
