"""The cyclic collector's threshold while a source loads (`pipelines.collector`)."""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any

import pytest

from pipelines import collector
from pipelines.accounts import accounts
from pipelines.config import environment
from pipelines.runner import run_source
from pipelines.warehouse.duckdb import duckdb_destination
from simulator import Simulator
from sources import registry
from tests.running import env_for
from tests.worlds import small_config


@pytest.fixture(autouse=True)
def usual_threshold() -> Any:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_a_load_collects_less_often_and_puts_the_threshold_back(tmp_path: Path) -> None:
    """During a real run (inside its load into DuckDB) the youngest generation's
    threshold is 20,000; after it, 700 again."""
    seen: list[tuple[int, int, int]] = []
    with Simulator(small_config(twilio_executions=50, hilos_contact_runs=0)) as sim, \
            environment(**{k: v for k, v in env_for(sim, tmp_path).items()
                           if k.startswith(("SOURCES__TWILIO", "DLT_"))},
                        FLOWSYNC__STATE_DIR=str(tmp_path / "state")):
        (account,) = accounts(registry.get("twilio_studio"))
        with duckdb_destination(str(tmp_path / "w.duckdb")).session() as held:
            loads = held.load

            def load(pipeline: Any) -> list[str]:
                seen.append(gc.get_threshold())
                return loads(pipeline)

            held.load = load  # type: ignore[method-assign]
            result = run_source(account, held)
    assert result.ok, result.error
    assert seen == [(20_000, 10, 10)] * result.checkpoints and seen
    assert gc.get_threshold() == (700, 10, 10)


def test_loads_in_several_threads_put_back_the_threshold_when_the_last_ends() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, tuple[int, ...]] = {}

    def first() -> None:
        with collector.fewer_collections():
            first_in.set()
            second_in.wait(5)
        seen["first out"] = gc.get_threshold()
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with collector.fewer_collections():
            second_in.set()
            first_out.wait(5)
            seen["second inside, first out"] = gc.get_threshold()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"first out": (20_000, 10, 10), "second inside, first out": (20_000, 10, 10)}
    assert gc.get_threshold() == (700, 10, 10)


def test_collection_turned_off_stays_off() -> None:
    gc.set_threshold(0)
    with collector.fewer_collections():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0


SPY = """
import gc, sys
seen = []
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "dlt":
            seen.append(gc.isenabled())
sys.meta_path.insert(0, Spy())
sys.argv = ["flowsync", "--version"]
from pipelines.entry import main
try:
    main()
except SystemExit:
    pass
print(seen, gc.isenabled())
"""


def test_the_command_imports_its_modules_with_the_collector_off_then_on() -> None:
    import subprocess
    import sys
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"] == {"flowsync": "pipelines.entry:main"}
    done = subprocess.run([sys.executable, "-c", SPY], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    from pipelines import __version__
    assert done.stdout.splitlines() == [f"flowsync {__version__}", "[False] True"]
