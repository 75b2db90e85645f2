"""A provider is its own package and one registry line (issue 23: the sources' names were
spelled out in 19 places of `pipelines/`). A third source from the test tree, registered
here and nowhere else, runs end to end through the application into DuckDB."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from pipelines import events
from pipelines.app import Exit, run_sources, select_sources
from sources import registry
from tests.third_source import SOURCE, TICKETS, AcmeApi

TOKEN = "acme-token-9c1f"


@pytest.fixture
def acme(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AcmeApi]:
    api = AcmeApi(TOKEN)
    monkeypatch.setattr(registry, "SOURCES", [*registry.SOURCES, SOURCE])
    for name in [n for n in os.environ if n.startswith("SOURCES__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SOURCES__ACME__API_TOKEN", TOKEN)
    monkeypatch.setenv("SOURCES__ACME__BASE_URL", api.base_url)
    monkeypatch.setenv("FLOWSYNC__STATE_DIR", str(tmp_path / "state"))
    yield api
    api.close()


def test_a_third_source_runs_end_to_end_without_a_change_outside_its_package(
        acme: AcmeApi, tmp_path: Path) -> None:
    selection = select_sources("all")
    assert selection.sources == ["acme"]
    db = tmp_path / "w.duckdb"
    said: list[events.Event] = []
    with events.listening(said.append):
        code, results = run_sources(selection.sources, "duckdb", str(db), analytics=True)
    out = "\n".join(e.text for e in said if e.kind == events.RESULT)
    assert code == Exit.OK, said
    assert [r.source for r in results] == ["acme"] and acme.requests == 3
    assert re.search(r"^acme: ok in \d+\.\d s, 3 requests; rows fetched: tickets 7$", out,
                     re.MULTILINE), out
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select id, subject, email from acme.tickets order by id").fetchall()
        status = con.execute("select source, last_outcome, last_error, runs "
                             "from analytics.sync_status").fetchall()
    assert rows == sorted((t["id"], t["subject"], t["email"]) for t in TICKETS)
    assert status == [("acme", "ok", None, 0)]


def test_a_third_source_s_settings_are_checked_and_its_privacy_applied(
        acme: AcmeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__ACME__BASE_URL", "ftp://acme")
    said: list[events.Event] = []
    with events.listening(said.append):
        code, _ = run_sources(["acme"], "duckdb", str(tmp_path / "w.duckdb"))
    assert code == Exit.CONFIG
    assert [e.text for e in said] == [
        "sources.acme.base_url must be an http:// or https:// URL, not 'ftp://acme'"]
    assert not (tmp_path / "w.duckdb").exists()
    monkeypatch.setenv("SOURCES__ACME__BASE_URL", acme.base_url)
    monkeypatch.setenv("PRIVACY__CONTACT_ADDRESS", "drop")
    code, _ = run_sources(["acme"], "duckdb", str(tmp_path / "w.duckdb"))
    assert code == Exit.OK
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from acme.tickets").fetchall() == [(7,)]
        columns = {r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_name = 'tickets'"
        ).fetchall()}
    assert "email" not in columns and {"id", "subject", "created_on"} <= columns
