"""What the benchmark scripts share: the simulator in a process of its own, a timed sync."""

from __future__ import annotations

import time
from multiprocessing.connection import Connection
from typing import Any

import dlt

from simulator import Simulator


def timed_sync(pipeline: dlt.Pipeline, source: Any, sim: Simulator, label: str,
               loader_file_format: str = "parquet") -> tuple[int, float]:
    """Runs one sync; prints and returns its API requests and wall time."""
    sim.reset_stats()
    t0 = time.perf_counter()
    info = pipeline.run(source, loader_file_format=loader_file_format)
    wall = time.perf_counter() - t0
    info.raise_on_failed_jobs()
    stats = sim.stats()["requests"]
    detail = ", ".join(f"{k.split('.', 1)[1]}={v}" for k, v in sorted(stats.items()))
    print(f"{label:<34} {sum(stats.values()):>6} requests  {wall:>7.2f} s   ({detail})", flush=True)
    return sum(stats.values()), wall


def serve_simulator(config: dict, ready: Connection) -> None:
    """The simulator's process: builds the world, hands back its URL, serves until killed."""
    from simulator import SimConfig

    sim = Simulator(SimConfig(**config), port=0)
    ready.send(sim.base_url)
    ready.close()
    sim.serve_forever()
