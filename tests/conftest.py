"""Shared fixtures: a simulator on loopback, HTTP clients for it, and Postgres."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from simulator import SimConfig, Simulator

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
# dlt requires a password in the dsn; the server trusts loopback, so any value does
POSTGRES_DSN = os.environ.get("FLOWSYNC_TEST_POSTGRES",
                              "postgresql://postgres:postgres@127.0.0.1:5432/postgres")


def small_config(**overrides) -> SimConfig:
    """A small world with a fixed clock, quick to build and to sync."""
    values = dict(seed=7, start=START, twilio_flows=3, twilio_executions=600, hilos_flows=3,
                  hilos_contact_runs=800, hilos_batch_size=40)
    values.update(overrides)
    return SimConfig(**values)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(small_config()) as s:
        yield s


def twilio_client(sim: Simulator, api_key: bool = False) -> httpx.Client:
    cfg = sim.world.config
    auth = ((cfg.twilio_api_key_sid, cfg.twilio_api_key_secret) if api_key
            else (cfg.twilio_account_sid, cfg.twilio_auth_token))
    return httpx.Client(base_url=sim.base_url, auth=auth, timeout=10)


def hilos_client(sim: Simulator) -> httpx.Client:
    return httpx.Client(base_url=sim.base_url, timeout=10,
                        headers={"Authorization": f"Token {sim.world.config.hilos_api_token}"})


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
