"""One flowsync run per pipeline at a time: an exclusive file lock, released on exit."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dlt.common.pipeline import get_dlt_pipelines_dir

from sources.errors import BusyError


@contextmanager
def pipeline_lock(name: str) -> Iterator[None]:
    """Holds `<dlt data dir>/flowsync-locks/<name>.lock` for the run; BusyError if held.

    The kernel releases the lock when the process ends, however it ends.
    """
    folder = Path(get_dlt_pipelines_dir()).parent / "flowsync-locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise BusyError(f"another flowsync run is using pipeline {name} (pid {holder}); "
                            "try again when it has finished") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
