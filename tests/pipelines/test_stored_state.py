"""The warehouse keeps the stored state dlt would restore, of each pipeline, and no older
one (`pipelines.warehouse.stored_state`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.warehouse import connect
from pipelines.warehouse.stored_state import keep_newest_state
from tests.running import warehouse

STATES = [  # (pipeline, load id, version)
    ("flowsync_twilio_studio", "1001", 1), ("flowsync_twilio_studio", "1002", 2),
    ("flowsync_twilio_studio", "1003", 3),  # its load did not complete
    ("flowsync_twilio_studio__south", "1000", 1),  # another account's, older
    ("flowsync_twilio_studio__south", "0999", 0),
]


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_newest_state_of_a_completed_load_stays_with_newer_ones_per_pipeline(
        tmp_path: Path, request: pytest.FixtureRequest, kind: str) -> None:
    if kind == "postgres":
        request.getfixturevalue("postgres_dsn")
    with warehouse(kind, tmp_path) as (env, read):
        target = next(iter(env.values()))
        with connect(kind, target) as wh:
            wh.execute("create schema twilio_studio")
            wh.execute("create table twilio_studio._dlt_pipeline_state (version bigint, "
                       "pipeline_name text, state text, _dlt_load_id text)")
            wh.execute("create table twilio_studio._dlt_loads (load_id text, status bigint)")
            for name, load, version in STATES:
                wh.execute("insert into twilio_studio._dlt_pipeline_state values "
                           "(%s, %s, 'x', %s)", (version, name, load))
                if load != "1003":
                    wh.execute("insert into twilio_studio._dlt_loads values (%s, 0)", (load,))
            keep_newest_state(wh, "twilio_studio", "flowsync_twilio_studio")
            keep_newest_state(wh, "hilos", "flowsync_hilos")  # no such tables: nothing
        assert read("select pipeline_name, _dlt_load_id from twilio_studio._dlt_pipeline_state "
                    "order by 1, 2") == [
            ("flowsync_twilio_studio", "1002"), ("flowsync_twilio_studio", "1003"),
            ("flowsync_twilio_studio__south", "0999"), ("flowsync_twilio_studio__south", "1000")]
