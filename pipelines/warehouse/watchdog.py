"""A destination that stops answering, or a backend of ours that stops moving, ends the run
instead of hanging it.

Two hangs no server-side timeout can end:
- the server stops answering at all (a stuck server, a paused VM, a dead proxy): TCP
  connections stay open and a query waits forever;
- the backend serving this command's connection stops while the server answers others
  (a stuck backend, a half-open connection after a failover): a fresh connection would
  say all is well.

So while a command uses Postgres, a thread looks every few seconds, through a connection
of its own (each look bounded), at the server and at this command's own backends: their
rows in `pg_stat_activity` (named by `application_name`, `destinations.CLIENT_OPTIONS`)
and their COPY progress. When the server has not answered for `hang_timeout` seconds, or
one of our backends has sat in a statement or an open transaction showing no change at
all for that long, the process prints one line naming the destination and exits 1 at
once: a kill at an arbitrary point, which a run survives (tests/pipelines/test_kills.py);
the next run completes the pending load. A statement that works longer than
`hang_timeout` without any sign in those rows (a huge single CPU-bound statement) counts
as stuck: set `hang_timeout` above the longest one.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import events
from ..exits import Exit

# this command's backends that are inside a statement or a transaction, and what shows
# that they move (a new statement, a state or wait change, COPY progress)
ACTIVITY = """
select a.pid, a.state, a.query_start, a.state_change, a.wait_event_type, a.wait_event,
       {copy}
from pg_stat_activity a
where a.application_name = %s and a.pid <> pg_backend_pid()
  and a.state in ('active', 'idle in transaction')
"""
WITH_COPY = ("(select c.bytes_processed from pg_stat_progress_copy c where c.pid = a.pid)")

Backends = dict[int, tuple[Any, ...]]


def activity(dsn: str, name: str, timeout: float) -> Backends | None:
    """Our busy backends and their signs of life; None when the server did not answer
    within about `timeout` seconds."""
    import psycopg2

    result: list[Backends | None] = []

    def probe() -> None:
        try:
            conn = psycopg2.connect(dsn, connect_timeout=max(1, int(timeout)),
                                    application_name="flowsync watchdog",
                                    options=f"-c statement_timeout={int(timeout * 1000)}")
            try:
                with conn.cursor() as cur:
                    copy = WITH_COPY if conn.server_version >= 140000 else "null"
                    cur.execute(ACTIVITY.format(copy=copy), (name,))
                    result.append({row[0]: tuple(row[1:]) for row in cur.fetchall()})
            finally:
                conn.close()
        except psycopg2.Error:
            result.append(None)

    thread = threading.Thread(target=probe, daemon=True, name="flowsync-probe")
    thread.start()
    thread.join(timeout + 1)  # a probe stuck past this is abandoned: the answer is no
    return result[0] if result else None


class Watch:
    """What the watchdog has seen: when the server last answered, and since when each of
    our busy backends has shown the same row."""

    def __init__(self, hang_timeout: float, now: float) -> None:
        self.hang_timeout = hang_timeout
        self.last_answer = now
        self.backends: dict[int, tuple[tuple[Any, ...], float]] = {}

    def look(self, seen: Backends | None, now: float) -> str | None:
        """Takes one look; returns why the run must end, or None."""
        if seen is None:
            if now - self.last_answer >= self.hang_timeout:
                return f"has not answered for {self.hang_timeout:.0f} s"
            return None
        self.last_answer = now
        before, self.backends = self.backends, {}
        for pid, signs in seen.items():
            old = before.get(pid)
            self.backends[pid] = (signs, old[1] if old and old[0] == signs else now)
        for pid, (signs, since) in sorted(self.backends.items()):
            if now - since >= self.hang_timeout:
                waiting = f", waiting on {signs[3]}:{signs[4]}" if signs[3] else ""
                return (f"answers, but this run's backend {pid} has shown no progress for "
                        f"{self.hang_timeout:.0f} s ({signs[0]}{waiting})")
        return None


@contextmanager
def watched(dsn: str, label: str, hang_timeout: float) -> Iterator[None]:
    """Watches the Postgres server at `dsn` and this command's backends for the duration."""
    if hang_timeout <= 0:
        yield
        return
    from psycopg2.extensions import parse_dsn

    name = parse_dsn(dsn).get("application_name", "")
    stop = threading.Event()
    every = max(1.0, min(10.0, hang_timeout / 4))

    def watch() -> None:
        seen = Watch(hang_timeout, time.monotonic())
        while not stop.wait(every):
            why = seen.look(activity(dsn, name, timeout=every), time.monotonic())
            if why is not None and not stop.is_set():
                sys.stdout.flush()
                events.notice(f"the destination {label} {why} "
                              "(destination.postgres.hang_timeout); giving up. What was committed "
                              "is kept; the next run completes the pending load")
                os._exit(Exit.FAILED)

    thread = threading.Thread(target=watch, daemon=True, name="flowsync-watchdog")
    thread.start()
    try:
        yield
    finally:
        stop.set()
