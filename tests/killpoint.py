"""`flowsync` with a SIGKILL at an exact point, for tests.

    python -m tests.killpoint POINT N [SIGNAL] -- run --source hilos ...

The process sends itself SIGNAL (default KILL; TERM and INT test clean stops) right after
the Nth time it passes POINT:

- `request`: an API answer was received (and parsed);
- `normalized`: dlt's normalize step committed its package (nothing loaded yet);
- `staged`: a file was copied into a table (parquet on DuckDB, COPY on Postgres) and
  committed, before dlt recorded the job as done: where a kill inside the load step hurts
  most, since the job runs again;
- `sql`: an SQL job (the merge from the staging dataset) committed, before dlt recorded it;
- `model`: an analytics table was rebuilt (in full), or its changed part checked;
- `hashed`: the privacy pass replaced one column's clear addresses by their hashes.

A kill by timing hits such a point only now and then; this hits it every time.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from dlt.destinations.impl.duckdb.duck import DuckDbCopyJob
from dlt.destinations.impl.postgres.postgres import PostgresCsvCopyJob
from dlt.destinations.job_client_impl import SqlLoadJob
from dlt.pipeline.pipeline import Pipeline

import pipelines.privacy
import transforms.changes
import transforms.runner
from pipelines.cli import main
from sources.http import HttpClient

POINTS: dict[str, list[tuple[Any, str]]] = {
    "request": [(HttpClient, "get_json")],
    "normalized": [(Pipeline, "normalize")],
    "staged": [(DuckDbCopyJob, "run"), (PostgresCsvCopyJob, "run")],
    "sql": [(SqlLoadJob, "run")],
    "model": [(transforms.runner, "check"), (transforms.changes, "check")],
    "hashed": [(pipelines.privacy, "_apply_hashes")],
}


def arm(point: str, nth: int, sig: signal.Signals = signal.SIGKILL) -> None:
    count = 0
    lock = threading.Lock()

    def wrap(original: Callable) -> Callable:
        def after(*args: Any, **kwargs: Any) -> Any:
            nonlocal count
            result = original(*args, **kwargs)
            with lock:
                count += 1
                if count == nth:
                    os.kill(os.getpid(), sig)
            return result

        return after

    for owner, name in POINTS[point]:
        setattr(owner, name, wrap(getattr(owner, name)))


if __name__ == "__main__":
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    head, args = argv[:split], argv[split + 1:]
    if len(head) not in (2, 3) or head[0] not in POINTS:
        sys.exit(f"usage: python -m tests.killpoint {{{','.join(POINTS)}}} N [SIGNAL] -- ARGS")
    arm(head[0], int(head[1]), signal.Signals[f"SIG{head[2] if len(head) == 3 else 'KILL'}"])
    sys.exit(main(args))
