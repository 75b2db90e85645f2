"""The simulated worlds and connections tests use: a small world with a fixed clock, HTTP
clients for the simulator, and the test Postgres server's DSN. (Fixtures built on them are
in conftest.py.)"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import httpx

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


def twilio_client(sim: Simulator, api_key: bool = False) -> httpx.Client:
    cfg = sim.world.config
    auth = ((cfg.twilio_api_key_sid, cfg.twilio_api_key_secret) if api_key
            else (cfg.twilio_account_sid, cfg.twilio_auth_token))
    return httpx.Client(base_url=sim.base_url, auth=auth, timeout=10)


def hilos_client(sim: Simulator) -> httpx.Client:
    return httpx.Client(base_url=sim.base_url, timeout=10,
                        headers={"Authorization": f"Token {sim.world.config.hilos_api_token}"})
