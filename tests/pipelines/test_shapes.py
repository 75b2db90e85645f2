"""Every record shape the specs allow, and a field whose type drifts, through both sources
and the transforms, on DuckDB and Postgres: a first load and two incremental runs exit 0
with exact rows; nothing is flattened into a column per variable; nothing fails later."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from simulator import Simulator
from simulator.shapes import UNKNOWN_STATUS
from tests.expected import (
    HILOS_CONTACTS,
    TWILIO_EXECUTIONS,
    TWILIO_STEPS,
    contact_truth,
    execution_truth,
    step_truth,
    visible_floor,
)
from tests.running import env_for, flowsync, warehouse
from tests.worlds import small_config


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_every_shape_the_specs_allow_loads_and_never_fails_a_later_run(
        tmp_path: Path, request: pytest.FixtureRequest, kind: str) -> None:
    if kind == "postgres":
        request.getfixturevalue("postgres_dsn")
    config = small_config(spec_shapes=True, type_drift=True, twilio_executions=600,
                          hilos_contact_runs=1200)
    with Simulator(config) as sim, warehouse(kind, tmp_path) as (dest, read):
        since = visible_floor(sim)
        # pages of 100: odd records sit on every page, the middle ones included
        env = env_for(sim, tmp_path, SOURCES__HILOS__PAGE_SIZE="100", **dest)
        for round_ in range(3):
            if round_:
                sim.advance(86_400, new_twilio=40, new_hilos=80, finish_fraction=0.3)
            result = flowsync(["run", "--destination", kind], env, tmp_path)
            assert result.returncode == 0, result.stderr
            assert read(HILOS_CONTACTS) == contact_truth(sim), round_
            assert read(TWILIO_EXECUTIONS) == execution_truth(sim, since), round_
            assert read(TWILIO_STEPS) == step_truth(sim, since), round_
        # long non-ASCII text as it came; an empty list as JSON text
        assert read("select max(length(contact__first_name)), max(tags), count(*) filter ("
                    "where contact__email = 'josé.müller+ü@exämple.com') > 0 "
                    "from hilos.flow_execution_contacts") == [(10_000, "[]", True)]
        # context: one column of JSON text, equal to the API's (an ended execution's is final)
        (sid, flow_sid, stored), = read("select sid, flow_sid, context from twilio_studio."
                                        "executions where status = 'ended' order by sid limit 1")
        api = sim.twilio.execution_json(sim.base_url, "v2",
                                        sim.world.twilio_execution(flow_sid, sid))["context"]
        assert json.loads(stored) == api and api["flow"]["variables"]
        # the README's query over context, for this destination, runs and reads it
        text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
        section = text[text.index("## Records that are odd"):text.index("## The analytics")]
        duck_sql, pg_sql = re.findall(r"```sql\n(.*?)```", section, re.S)
        rows = read((duck_sql if kind == "duckdb" else pg_sql).replace(
            "limit 5", f"where sid = '{sid}'"))
        assert rows[0][1] == api["trigger"]["message"]["Body"]
        assert sorted(rows[0][2]) == sorted(api["flow"]["variables"])
        for table in ("executions", "execution_steps"):
            columns = read("select count(*) from information_schema.columns where table_schema = "
                           f"'twilio_studio' and table_name = '{table}'")[0][0]
            assert columns < 40, table
        # flow_version came as a number and as a string: one bigint column
        assert read("select count(distinct flow_version), count(*) filter (where flow_version "
                    "is null) from twilio_studio.executions") == [(3, 0)]
        # runs without a flow: one group per provider; unknown statuses: status null
        no_flow = sum(1 for r in contact_truth(sim) if r[4] is None and not r[3])
        assert no_flow > 0
        # such runs carry a flow name, as the real API sends (issue 24); their one group
        # has none in every per-flow table
        assert all(r[6] for r in contact_truth(sim) if r[4] is None)
        for table in ("completion_rate", "status_funnel", "status_counts"):
            assert read(f"select count(*) from analytics.{table} where flow_id is null "
                        "and flow_name is not null") == [(0,)], table
        assert read("select cast(sum(runs) as bigint) from analytics.status_funnel where provider = 'hilos' "
                    "and flow_id is null and stage = 'entered'") == [(no_flow,)]
        unknown = sum(1 for r in contact_truth(sim) if r[1] == UNKNOWN_STATUS and not r[3])
        assert unknown > 0
        assert read("select cast(sum(runs) as bigint) from analytics.status_counts where provider = 'hilos' "
                    "and status is null") == [(unknown,)]
        assert read("select count(*) from analytics.flow_runs where status is null "
                    f"and provider_status <> '{UNKNOWN_STATUS}'") == [(0,)]
