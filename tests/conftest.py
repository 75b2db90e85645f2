"""Shared fixtures: a simulator on loopback, HTTP clients for it, and Postgres (the
helpers they are built on are in `tests/worlds.py`)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from simulator import Simulator
from tests.worlds import POSTGRES_DSN, hilos_client, small_config, twilio_client


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(small_config()) as s:
        yield s


@pytest.fixture
def twilio(sim: Simulator) -> Iterator[httpx.Client]:
    with twilio_client(sim) as c:
        yield c


@pytest.fixture
def hilos(sim: Simulator) -> Iterator[httpx.Client]:
    with hilos_client(sim) as c:
        yield c


def _postgres_reachable() -> str | None:
    try:
        import psycopg2
    except ImportError:
        return "psycopg2 is not installed"
    try:
        psycopg2.connect(POSTGRES_DSN, connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        return f"no PostgreSQL at {POSTGRES_DSN}: {str(exc).strip().splitlines()[0]}"
    return None


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The test server's DSN. Skips without a server, except in CI, where it fails."""
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"Postgres tests are required in CI: {problem}")
        pytest.skip(problem)
    return POSTGRES_DSN
