"""A destination that stops answering ends the run instead of hanging it.

A frozen Postgres (a stuck server, a paused VM, a dead proxy) keeps TCP connections open
without answering: a query waits forever, and no server-side timeout can fire. So while a
command uses Postgres, a thread checks every few seconds that the server still answers (a
fresh connection and `select 1`, each bounded); when it has not for `hang_timeout`
seconds, the process prints one line naming the destination and exits 1 at once. That is
a kill at an arbitrary point, which a run survives (tests/pipelines/test_kills.py): the
next run completes the pending load.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .destinations import Destination

EXIT_FAILED = 1


def answers(dsn: str, timeout: float) -> bool:
    """Whether Postgres at `dsn` answers `select 1` within about `timeout` seconds."""
    import psycopg2

    result: list[bool] = []

    def probe() -> None:
        try:
            conn = psycopg2.connect(dsn, connect_timeout=max(1, int(timeout)),
                                    options=f"-c statement_timeout={int(timeout * 1000)}")
            try:
                with conn.cursor() as cur:
                    cur.execute("select 1")
                result.append(True)
            finally:
                conn.close()
        except psycopg2.Error:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True, name="flowsync-probe")
    thread.start()
    thread.join(timeout + 1)  # a probe stuck past this is abandoned: the answer is no
    return bool(result and result[0])


@contextmanager
def watched(destination: Destination, hang_timeout: float) -> Iterator[None]:
    """Watches a Postgres destination for the duration; DuckDB is embedded and needs none."""
    if destination.kind != "postgres" or hang_timeout <= 0:
        yield
        return
    stop = threading.Event()
    every = max(1.0, min(10.0, hang_timeout / 4))

    def watch() -> None:
        last_answer = time.monotonic()
        while not stop.wait(every):
            if answers(destination.target, timeout=every):
                last_answer = time.monotonic()
            elif time.monotonic() - last_answer >= hang_timeout and not stop.is_set():
                sys.stdout.flush()
                print(f"\nflowsync: the destination {destination.label} has not answered for "
                      f"{hang_timeout:.0f} s (destination.postgres.hang_timeout); giving up. "
                      "What was committed is kept; the next run completes the pending load",
                      file=sys.stderr, flush=True)
                os._exit(EXIT_FAILED)

    thread = threading.Thread(target=watch, daemon=True, name="flowsync-watchdog")
    thread.start()
    try:
        yield
    finally:
        stop.set()
