"""dbt on top (issue 26): the team's own project, built by `flowsync run` right after the
analytics, on the same warehouse, inside flowsync's hold on it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from simulator import Simulator
from tests.running import env_for, flowsync, warehouse
from tests.worlds import small_config

KINDS = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
# the analysts' model: runs per provider and account, kept in place (delete+insert) so that
# a BI view on it survives every build
MODEL = """{{ config(materialized='incremental', incremental_strategy='delete+insert',
                     unique_key=['provider', 'account']) }}
select provider, account, count(*) as runs
from {{ source('flowsync', 'flow_runs') }}
group by provider, account
"""


def project(folder: Path, sources_yml: str, model: str = MODEL) -> Path:
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(yaml.safe_dump(
        {"name": "team", "version": "1.0", "profile": "team", "config-version": 2}))
    (folder / "models" / "flowsync_sources.yml").write_text(sources_yml)
    (folder / "models" / "runs_per_account.sql").write_text(model)
    return folder


def test_dbt_sources_prints_every_table_with_its_meaning_and_key_tests(tmp_path: Path) -> None:
    from transforms.contracts import contracts

    result = flowsync(["dbt-sources"], env_for(None, tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    source = yaml.safe_load(result.stdout)["sources"][0]
    assert (source["name"], source["schema"]) == ("flowsync", "analytics")
    tables = {t["name"]: t for t in source["tables"]}
    assert sorted(tables) == sorted(contracts())
    runs = tables["flow_runs"]
    assert [c["name"] for c in runs["columns"]] == list(contracts()["flow_runs"].columns)
    assert runs["description"] == contracts()["flow_runs"].description
    tested = {c["name"] for c in runs["columns"] if c.get("data_tests") == ["not_null"]}
    assert tested == {"provider", "account", "run_id", "started_at"}
    assert runs["data_tests"] == [{"unique": {
        "column_name": "cast(provider as varchar) || '|' || cast(run_id as varchar)"}}]


@pytest.mark.parametrize("kind", KINDS)
def test_flowsync_run_builds_the_team_s_dbt_project_on_the_same_warehouse(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if kind == "postgres":
        request.getfixturevalue("postgres_dsn")
    sources_yml = flowsync(["dbt-sources"], env_for(None, tmp_path), tmp_path).stdout
    team = project(tmp_path / "team", sources_yml)
    with Simulator(small_config(twilio_executions=200, hilos_contact_runs=240)) as sim, \
            warehouse(kind, tmp_path) as (dest, read):
        env = env_for(sim, tmp_path, **dest, TRANSFORM__DBT_PROJECT=str(team))
        args = ["run", "--destination", kind]
        first = flowsync(args, env, tmp_path)
        assert first.returncode == 0, first.stderr
        assert "dbt: build ok in " in first.stdout
        # the source's own tests ran too (not_null, unique on every table)
        before = read("select provider, account, count(*) from analytics.flow_runs "
                      "group by 1, 2 order by 1, 2")
        assert read("select * from analytics_dbt.runs_per_account order by 1, 2") == before
        view = "main.bi_runs" if kind == "duckdb" else "public.bi_runs"
        read_write(kind, dest, f"create view {view} as select * from analytics_dbt.runs_per_account")
        sim.advance(86_400, new_twilio=30, new_hilos=40, finish_fraction=0.5)
        second = flowsync(args, env, tmp_path)
        assert second.returncode == 0, second.stderr
        expected = read("select provider, account, count(*) from analytics.flow_runs "
                        "group by 1, 2 order by 1, 2")
        assert read(f"select * from {view} order by 1, 2") == expected
        assert expected != before  # new runs arrived, and the view shows them
        # a broken model: exit 1 naming it; flowsync's own tables rebuilt all the same
        (team / "models" / "runs_per_account.sql").write_text(
            "select no_such_column from {{ source('flowsync', 'flow_runs') }}")
        sim.advance(3_600, new_hilos=5)
        broken = flowsync(args, env, tmp_path)
        assert broken.returncode == 1
        assert "flowsync: dbt: model.team.runs_per_account error: " in broken.stderr
        assert "analytics tables are rebuilt all the same" in broken.stderr
        assert read("select count(*) from analytics.flow_runs where provider = 'hilos'") == [
            (len(sim.world.hilos_runs),)]
        # no secret in the profile flowsync wrote
        profile = (tmp_path / "flowsync-postgres.state" if kind == "postgres"
                   else tmp_path / "w.duckdb.state") / "dbt" / "profiles.yml"
        output = yaml.safe_load(profile.read_text())["team"]["outputs"]["flowsync"]
        assert output.get("password", "{{ env_var('FLOWSYNC_DBT_PASSWORD', '') }}") == (
            "{{ env_var('FLOWSYNC_DBT_PASSWORD', '') }}")


def read_write(kind: str, dest: dict[str, str], sql: str) -> None:
    if kind == "duckdb":
        import duckdb

        with duckdb.connect(dest["DESTINATION__DUCKDB__CREDENTIALS"]) as con:
            con.execute(sql)
        return
    import psycopg2

    con = psycopg2.connect(dest["DESTINATION__POSTGRES__CREDENTIALS"])
    con.autocommit = True
    con.cursor().execute(sql)
    con.close()


def test_a_dbt_project_setting_is_checked_before_anything_runs(tmp_path: Path) -> None:
    env = env_for(None, tmp_path, TRANSFORM__DBT_PROJECT=str(tmp_path / "nowhere"),
                  SOURCES__HILOS__API_TOKEN="x")
    result = flowsync(["run"], env, tmp_path)
    assert result.returncode == 2
    assert "transform.dbt_project must be a dbt project folder (one holding dbt_project.yml)" \
        in result.stderr
    assert not (tmp_path / "w.duckdb").exists()
