"""Whose turn it is: one flowsync command per warehouse at a time, the others waiting.

The warehouse lock is held from the first load to the end of the analytics rebuild:
- DuckDB: the database file itself, opened for writing once and kept open for the whole
  command (dlt's loads and the transforms use that connection). DuckDB lets one process
  write a file and no one read it meanwhile, so a BI tool or notebook holding the file,
  even read-only, is waited for the same way as another flowsync run.
- Postgres: a session advisory lock in the database, so runs on two hosts are kept apart
  too. The session that holds it is named (`application_name`) after the command, host and
  pid, and the waiting run prints that.

A command that finds the lock taken prints that it waits, and for whom, and tries again
every second, up to `lock.wait_seconds`; past that it gives up (BusyError, exit 3).
SIGINT/SIGTERM end the wait at once (StoppedError).
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dlt.common.runtime import signals

from sources.errors import BusyError, ConfigError, StoppedError, first_line

# pg_try_advisory_lock(int4, int4): 'flow', 'sync'
ADVISORY_KEYS = (0x666C6F77, 0x73796E63)
REPORT_EVERY = 60.0  # seconds between "still waiting" lines


def wait_turn(try_take: Callable[[], str | None], what: str, limit: float,
              poll: float = 1.0) -> None:
    """Calls `try_take` until it takes the lock (returns None); meanwhile it returns who
    holds it. Prints the wait; BusyError past `limit` seconds, StoppedError on a signal."""
    holder = try_take()
    if holder is None:
        return
    t0 = time.monotonic()
    print(f"flowsync: waiting for {what}: held by {holder}; waiting up to {limit:.0f} s "
          "(lock.wait_seconds)", file=sys.stderr, flush=True)
    reported = t0
    while True:
        waited = time.monotonic() - t0
        if waited >= limit:
            raise BusyError(f"gave up waiting for {what} after {waited:.0f} s: held by "
                            f"{holder}; it is retried on the next run (or raise "
                            "lock.wait_seconds)")
        signals.sleep(min(poll, limit - waited))
        if signals.was_signal_received():
            raise StoppedError(f"stopped while waiting for {what}")
        now = try_take()
        if now is None:
            print(f"flowsync: {what} is free after {time.monotonic() - t0:.0f} s; going on",
                  file=sys.stderr, flush=True)
            return
        holder = now
        if time.monotonic() - reported >= REPORT_EVERY:
            reported = time.monotonic()
            print(f"flowsync: still waiting for {what} ({reported - t0:.0f} s): held by "
                  f"{holder}", file=sys.stderr, flush=True)


def command_name() -> str:
    """This process, as other processes' waiting lines name it."""
    args = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "flowsync"
    return f"{args[:80]} (pid {os.getpid()} on {socket.gethostname()})"


def process_name(pid: int) -> str:
    """`pid` and its command line (Linux), e.g. `PID 12 (python notebook.py)`."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        args = [Path(raw[0].decode(errors="replace")).name,
                *(a.decode(errors="replace") for a in raw[1:])]
        return f"PID {pid} ({' '.join(' '.join(args).split())[:80]})"  # one line
    except (OSError, IndexError):
        return f"PID {pid}"


DUCKDB_HOLDER = re.compile(r"Conflicting lock is held in .*?\(PID (\d+)\)")


@contextmanager
def hold_duckdb(path: str, limit: float, config: dict[str, str]) -> Iterator[Any]:
    """The DuckDB file opened for writing, once every other process has let go of it."""
    import duckdb

    conn: Any = None

    def try_take() -> str | None:
        nonlocal conn
        try:
            conn = duckdb.connect(path, config=config)
            return None
        except duckdb.Error as exc:
            found = DUCKDB_HOLDER.search(str(exc))
            if found is None:  # not a lock: the file's own problem (not DuckDB's, denied)
                raise ConfigError(f"DuckDB file {path} cannot be opened: "
                                  f"{first_line(exc)}") from None
            return process_name(int(found.group(1)))

    wait_turn(try_take, f"the DuckDB file {path}", limit)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def hold_postgres(dsn: str, limit: float) -> Iterator[None]:
    """The database's flowsync advisory lock, on a session of its own for the command."""
    import psycopg2

    try:
        conn = psycopg2.connect(dsn, application_name=f"flowsync {command_name()}"[:63])
    except psycopg2.Error as exc:  # the driver's message names host and port, no password
        raise ConfigError(f"Postgres is unreachable: {first_line(exc)}") from None
    conn.autocommit = True
    try:
        cur = conn.cursor()

        def try_take() -> str | None:
            cur.execute("select pg_try_advisory_lock(%s, %s)", ADVISORY_KEYS)
            if cur.fetchone()[0]:
                return None
            cur.execute(
                "select a.pid, a.application_name, host(a.client_addr), "
                "  extract(epoch from now() - a.backend_start)::int"
                " from pg_locks l join pg_stat_activity a on a.pid = l.pid"
                " where l.locktype = 'advisory' and l.classid = %s and l.objid = %s"
                "   and l.objsubid = 2 and l.granted", ADVISORY_KEYS)
            row = cur.fetchone()
            if row is None:  # let go between the two queries: try again next second
                return "another session"
            pid, app, addr, age = row
            return (f"{app or 'a session'} (server pid {pid}"
                    f"{f', from {addr}' if addr else ''}, connected {age} s ago)")

        wait_turn(try_take, "the Postgres database (flowsync's advisory lock)", limit)
        yield
    finally:
        conn.close()  # the session ends: the server releases the lock


@contextmanager
def pipeline_lock(folder: Path, name: str, limit: float) -> Iterator[None]:
    """`<folder>/<name>.lock` for the run: the pipeline's working state is one run's at a
    time (two warehouses configured with one state folder). The kernel releases the lock
    when the process ends, however it ends."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "a+") as fh:

        def try_take() -> str | None:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return None
            except BlockingIOError:
                fh.seek(0)
                return fh.read().strip() or "another process"

        wait_turn(try_take, f"pipeline {name}", limit)
        fh.seek(0)
        fh.truncate()
        fh.write(command_name())
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
