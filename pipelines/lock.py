"""Whose turn it is: one command per warehouse, one run per working folder, the others
waiting.

`wait_turn` is the waiting: a command that finds a lock taken says that it waits, and for
whom, and tries again every second, up to `lock.wait_seconds`; past that it gives up
(BusyError, exit 3); SIGINT/SIGTERM end the wait at once (StoppedError). What the lock on
a warehouse is belongs to its kind (`pipelines.warehouse`); the working folder's is a file
lock here (`pipeline_lock`).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dlt.common.runtime import signals

from sources.errors import BusyError, StoppedError

from . import events

REPORT_EVERY = 60.0  # seconds between "still waiting" lines


def wait_turn(try_take: Callable[[], str | None], what: str, limit: float,
              poll: float = 1.0) -> None:
    """Calls `try_take` until it takes the lock (returns None); meanwhile it returns who
    holds it. Prints the wait; BusyError past `limit` seconds, StoppedError on a signal."""
    holder = try_take()
    if holder is None:
        return
    t0 = time.monotonic()
    events.notice(f"waiting for {what}: held by {holder}; waiting up to {limit:.0f} s "
                  "(lock.wait_seconds)")
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
            events.notice(f"{what} is free after {time.monotonic() - t0:.0f} s; going on")
            return
        holder = now
        if time.monotonic() - reported >= REPORT_EVERY:
            reported = time.monotonic()
            events.notice(f"still waiting for {what} ({reported - t0:.0f} s): held by "
                          f"{holder}")


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


@contextmanager
def pipeline_lock(folder: Path, name: str, limit: float) -> Iterator[None]:
    """`<folder>/<name>.lock` for the run: the pipeline's working state is one run's at a
    time (two warehouses configured with one state folder). The kernel releases the lock
    when the process ends, however it ends."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "a+") as fh:

        def try_take() -> str | None:
            try:
                _lock(fh)
                return None
            except OSError:  # taken (BlockingIOError here, PermissionError on Windows)
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
            _unlock(fh)


def _lock(fh: Any) -> None:
    """An exclusive lock on the open file, without waiting (OSError when taken): flock
    where there is one, the C runtime's byte-range lock on Windows."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(fh: Any) -> None:
    try:
        import fcntl
    except ImportError:
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fh, fcntl.LOCK_UN)
