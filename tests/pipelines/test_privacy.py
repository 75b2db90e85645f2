"""`privacy.contact_address`: no clear address anywhere flowsync writes.

Real runs (`flowsync` subprocesses against the simulator, every record shape the specs
allow) into a real DuckDB file and the real Postgres server; then every string in the
warehouse, every file in the state folder and the run's output are searched for the
simulator's addresses (their digits too), names and emails.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simulator import Simulator
from tests.running import env_for, flowsync, killpoint, read, warehouse
from tests.worlds import small_config

KEY = "flowsync-test-key-5d1e9b7c"
TEXT_TYPES = ("VARCHAR", "text", "character varying", "JSON", "json", "jsonb")
Reader = Callable[[str], list[tuple]]


@pytest.fixture
def psim() -> Iterator[Simulator]:
    with Simulator(small_config(spec_shapes=True, twilio_executions=500,
                                hilos_contact_runs=600)) as s:
        yield s


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.getfixturevalue("postgres_dsn")
    return request.param


def hmac_hex(key: str, value: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def addresses(sim: Simulator) -> set[str]:
    """Every contact address the simulator holds, both providers."""
    found = {run.contact.phone for run in sim.world.hilos_runs}
    return found | {e.address for f in sim.world.twilio_flows for e in f.executions}


def personal(sim: Simulator) -> set[str]:
    """Names and emails of the Hilos contacts (long enough not to occur by chance)."""
    return {v for run in sim.world.hilos_runs
            for v in (run.contact.email, run.contact.first_name, run.contact.last_name)
            if v and len(v) >= 6}


def stored_strings(rows: Reader, kind: str) -> Iterator[tuple[str, str]]:
    """(schema.table.column, value) for every text value in the warehouse."""
    columns = rows("select table_schema, table_name, column_name from "
                   "information_schema.columns where data_type in "
                   f"({', '.join(repr(t) for t in TEXT_TYPES)}) and table_schema not in "
                   "('information_schema', 'pg_catalog', 'main')")
    assert len(columns) > 20  # the scan sees the warehouse
    for schema, table, column in columns:
        for (value,) in rows(f'select cast("{column}" as text) from {schema}."{table}" '
                             f'where "{column}" is not null'):
            yield f"{schema}.{table}.{column}", value


def leaks(texts: Iterator[tuple[str, str]], sim: Simulator) -> list[tuple[str, str]]:
    """The texts holding an address (or its digits), a name or an email of the simulator."""
    digits = {re.sub(r"\D", "", a) for a in addresses(sim)}
    words = personal(sim) | addresses(sim)
    out = []
    for where, text in texts:
        runs = re.findall(r"\d{8,}", text)
        if any(d in r for r in runs for d in digits) or any(w in text for w in words):
            out.append((where, text[:80]))
    return out


def files_under(folder: Path) -> Iterator[tuple[str, str]]:
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.endswith((".duckdb", ".duckdb.wal")):
            yield str(path), path.read_bytes().decode("latin-1")


def test_hash_stores_only_the_hmac_of_each_address(psim: Simulator, tmp_path: Path,
                                                    kind: str) -> None:
    with warehouse(kind, tmp_path) as (dest, rows):
        env = env_for(psim, tmp_path, **dest, PRIVACY__CONTACT_ADDRESS="hash",
                      PRIVACY__HASH_KEY=KEY)
        result = flowsync(["run", "--destination", kind], env, tmp_path)
        assert result.returncode == 0, result.stderr
        assert "contact addresses: hash" in result.stdout
        # every stored address is the HMAC of the simulator's, run by run
        want = {}
        for run in psim.world.hilos_runs:
            contact = psim.hilos.contact_run_json(run).get("contact")
            if isinstance(contact, dict):
                want[run.id] = tuple(None if contact.get(f) is None else hmac_hex(KEY, contact[f])
                                     for f in ("phone", "canonical_phone"))
        got = rows("select id, contact__phone, contact__canonical_phone "
                   "from hilos.flow_execution_contacts")
        assert {r[0]: (r[1], r[2]) for r in got} == want
        executions = {e.sid: hmac_hex(KEY, e.address) for f in psim.world.twilio_flows
                      for e in f.executions}
        got_tw = rows("select sid, contact_channel_address from twilio_studio.executions")
        assert got_tw and all(address == executions[sid] for sid, address in got_tw)
        # one address, one hash, across providers: flow_runs counts contacts as before
        assert rows("select count(distinct contact_address) from analytics.flow_runs") == [
            (len({v[0] for v in want.values() if v[0]} | {executions[s] for s, _ in got_tw}),)]
        # names, emails, meta and context are not stored (declared columns stay, empty)
        for table, gone in (("hilos.flow_execution_contacts", "contact__first_name"),
                            ("hilos.flow_execution_contacts", "contact__email"),
                            ("hilos.flow_execution_contacts", "contact__meta"),
                            ("twilio_studio.executions", "context"),
                            ("twilio_studio.execution_steps", "context")):
            assert rows(f"select count({gone}) from {table}") == [(0,)], gone
        assert leaks(stored_strings(rows, kind), psim) == []
        assert leaks(files_under(tmp_path), psim) == []
        assert leaks(iter([("stdout", result.stdout), ("stderr", result.stderr)]), psim) == []
        everything = [*stored_strings(rows, kind), *files_under(tmp_path),
                      ("output", result.stdout + result.stderr)]
        assert [where for where, text in everything if KEY in text] == []


def test_drop_stores_no_address(psim: Simulator, tmp_path: Path, kind: str) -> None:
    with warehouse(kind, tmp_path) as (dest, rows):
        env = env_for(psim, tmp_path, **dest, PRIVACY__CONTACT_ADDRESS="drop")
        result = flowsync(["run", "--destination", kind], env, tmp_path)
        assert result.returncode == 0, result.stderr
        assert rows("select count(*), count(contact_address) from analytics.flow_runs") == [
            (len(psim.world.hilos_runs) + sum(len(psim.world.twilio_retained(f))
                                              for f in psim.world.twilio_flows), 0)]
        assert leaks(stored_strings(rows, kind), psim) == []
        assert leaks(files_under(tmp_path), psim) == []


def test_keep_then_hash_rewrites_what_the_warehouse_holds(psim: Simulator, tmp_path: Path,
                                                           kind: str) -> None:
    with warehouse(kind, tmp_path) as (dest, rows):
        keep = env_for(psim, tmp_path, **dest)
        assert flowsync(["run", "--destination", kind], keep, tmp_path).returncode == 0
        assert leaks(stored_strings(rows, kind), psim) != []  # clear, as asked
        psim.advance(86_400, new_twilio=50, new_hilos=50, finish_fraction=0.5)
        hashed = env_for(psim, tmp_path, **dest, PRIVACY__CONTACT_ADDRESS="hash",
                         PRIVACY__HASH_KEY=KEY)
        result = flowsync(["run", "--destination", kind], hashed, tmp_path)
        assert result.returncode == 0, result.stderr
        assert "flowsync: stored contact data rewritten for privacy: " in result.stderr
        assert leaks(stored_strings(rows, kind), psim) == []
        assert leaks(files_under(tmp_path), psim) == []
        everyone = {hmac_hex(KEY, a) for a in addresses(psim)}
        stored = {v for (v,) in rows("select contact_address from analytics.flow_runs "
                                     "where contact_address is not null")}
        assert stored and stored <= everyone
        # the next run finds nothing left to rewrite
        again = flowsync(["run", "--destination", kind], hashed, tmp_path)
        assert again.returncode == 0, again.stderr
        assert "rewritten" not in again.stderr


def test_a_new_key_is_refused_unless_the_rewrite_is_asked_for(psim: Simulator,
                                                              tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"

    def run(**extra: str):
        return flowsync(["run"], env_for(psim, tmp_path, PRIVACY__CONTACT_ADDRESS="hash",
                                         **extra), tmp_path)

    assert run(PRIVACY__HASH_KEY=KEY).returncode == 0
    psim.reset_stats()
    refused = run(PRIVACY__HASH_KEY="another-key-0042")
    assert refused.returncode == 2
    assert refused.stderr.startswith("flowsync: privacy.hash_key changed, but the warehouse "
                                     "holds addresses stored as hash")
    assert "PRIVACY__REWRITE=true" in refused.stderr
    assert "another-key-0042" not in refused.stdout + refused.stderr
    assert sum(psim.stats()["requests"].values()) == 0  # nothing was loaded
    erased = run(PRIVACY__HASH_KEY="another-key-0042", PRIVACY__REWRITE="true")
    assert erased.returncode == 0, erased.stderr
    # no hash of the old key is left: what was stored before is erased (null)
    new = {hmac_hex("another-key-0042", a) for a in addresses(psim)}
    stored = {v for (v,) in read(db, "select contact__phone from hilos.flow_execution_contacts "
                                     "where contact__phone is not null")}
    assert stored <= new
    assert run(PRIVACY__HASH_KEY="another-key-0042").returncode == 0  # settled


@pytest.mark.parametrize(("extra", "message"), [
    ({"PRIVACY__CONTACT_ADDRESS": "hash"}, "flowsync: privacy.contact_address is hash but "
     "privacy.hash_key is not set: set PRIVACY__HASH_KEY"),
    ({"PRIVACY__CONTACT_ADDRESS": "blur"}, "flowsync: privacy.contact_address must be keep, "
     "hash or drop, not 'blur'"),
])
def test_privacy_misconfigured_exits_2_before_anything(psim: Simulator, tmp_path: Path,
                                                       extra: dict, message: str) -> None:
    result = flowsync(["run"], env_for(psim, tmp_path, **extra), tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert not (tmp_path / "w.duckdb").exists()
    assert sum(psim.stats()["requests"].values()) == 0


def test_enforce_empties_contact_filters_and_scrubs_the_quarantine(tmp_path: Path) -> None:
    """On a real DuckDB file: what a keep-mode warehouse holds beyond the main columns."""
    import duckdb

    from pipelines.privacy import enforce
    from pipelines.warehouse.duckdb import DuckDBWarehouse
    from sources.privacy import Privacy

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema hilos")
    con.execute("create table hilos.flow_executions__contact_filters (field text, value text)")
    con.execute("insert into hilos.flow_executions__contact_filters values "
                "('phone', '+5215512345678')")
    con.execute("create table hilos.quarantine (resource text, record_key text, "
                "raw_record text)")
    con.execute("""insert into hilos.quarantine values ('flow_execution_contacts', 'r1',
        '{"id": "r1", "contact": {"phone": "+5215512345678", "email": "a@b.mx"}}')""")
    wh = DuckDBWarehouse(con)
    changed = enforce(wh, Privacy.from_settings("hash", KEY))
    assert changed == {"hilos.flow_executions__contact_filters (rows)": 1,
                       "hilos.quarantine.raw_record": 1}
    assert con.execute("select count(*) from hilos.flow_executions__contact_filters"
                       ).fetchall() == [(0,)]
    assert con.execute("select raw_record from hilos.quarantine").fetchall() == [
        (f'{{"contact": {{"email": null, "phone": "{hmac_hex(KEY, "+5215512345678")}"}}, '
         '"id": "r1"}',)]
    assert enforce(wh, Privacy.from_settings("hash", KEY)) == {}  # nothing left to do
    wh.close()


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_rewrite_hashes_every_clear_value_in_batches(tmp_path: Path, kind: str,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         request: pytest.FixtureRequest) -> None:
    """Many batches (of 7 distinct values), repeated addresses, values already hashed."""
    import pipelines.privacy as stored
    from pipelines.warehouse import connect
    from sources.privacy import Privacy

    if kind == "postgres":
        request.getfixturevalue("postgres_dsn")
    monkeypatch.setattr(stored, "BATCH", 7)
    phones = [f"+52155{i % 40:08d}" for i in range(100)] + [hmac_hex(KEY, "+1999")]
    with warehouse(kind, tmp_path) as (dest, rows):
        target = dest.get("DESTINATION__POSTGRES__CREDENTIALS") or dest[
            "DESTINATION__DUCKDB__CREDENTIALS"]
        wh = connect(kind, target)
        wh.execute("create schema hilos")
        wh.execute("create table hilos.flow_execution_contacts (id text, contact__phone text, "
                   "contact__email text)")
        wh.execute("insert into hilos.flow_execution_contacts values " + ", ".join(
            f"('r{i}', '{p}', 'x{i}@example.com')" for i, p in enumerate(phones)))
        changed = stored.enforce(wh, Privacy.from_settings("hash", KEY))
        wh.close()
        assert changed == {"hilos.flow_execution_contacts.contact__phone": 100,
                           "hilos.flow_execution_contacts.contact__email": 101}
        got = rows("select id, contact__phone, contact__email from "
                   "hilos.flow_execution_contacts")
        assert sorted(got) == sorted(
            (f"r{i}", p if i == 100 else hmac_hex(KEY, p), None) for i, p in enumerate(phones))


def test_a_load_left_pending_in_clear_is_hashed_when_it_completes(psim: Simulator,
                                                                  tmp_path: Path) -> None:
    """A keep-mode run killed after normalizing (its package, in clear, pending), then the
    switch to hash: the next run completes that load, then hashes what it wrote."""
    db = tmp_path / "w.duckdb"
    killed = killpoint("normalized", 1, ["run", "--source", "hilos"], env_for(psim, tmp_path),
                       tmp_path)
    assert killed.returncode == -9, killed.stderr
    hashed = env_for(psim, tmp_path, PRIVACY__CONTACT_ADDRESS="hash", PRIVACY__HASH_KEY=KEY)
    result = flowsync(["run", "--source", "hilos"], hashed, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "completing the load an interrupted run left pending" in result.stderr
    assert "flowsync: stored contact data rewritten for privacy: " in result.stderr
    assert leaks(stored_strings(lambda sql: read(db, sql), "duckdb"), psim) == []
    phones = read(db, "select contact__phone from hilos.flow_execution_contacts "
                      "where contact__phone is not null")
    assert phones and {p for (p,) in phones} <= {hmac_hex(KEY, a) for a in addresses(psim)}


def test_no_clear_address_survives_a_kill_after_the_last_hash(psim: Simulator, tmp_path: Path,
                                                               kind: str) -> None:
    """Issue 22: killed right after the last hash update of a keep -> hash switch,
    `analytics_internal.privacy_map` (clear addresses beside their hashes) was never
    dropped: the next run found nothing left to hash and returned before the drop."""
    from pipelines.privacy import _tables
    from pipelines.warehouse import connect

    with warehouse(kind, tmp_path) as (dest, rows):
        keep = env_for(psim, tmp_path, **dest)
        assert flowsync(["run", "--destination", kind], keep, tmp_path).returncode == 0
        target = (dest.get("DESTINATION__DUCKDB__CREDENTIALS")
                  or dest["DESTINATION__POSTGRES__CREDENTIALS"])
        with connect(kind, target) as wh:
            passes = sum(1 for table, columns, _ in _tables(wh) for column in columns
                         if wh.scalar(f"select count({column}) from {table}"))
        assert passes >= 3
        hashed = env_for(psim, tmp_path, **dest, PRIVACY__CONTACT_ADDRESS="hash",
                         PRIVACY__HASH_KEY=KEY)
        args = ["run", "--destination", kind]
        killed = killpoint("hashed", passes, args, hashed, tmp_path)
        assert killed.returncode == -9, killed.stderr
        # the state the defect left: every address hashed, the mapping still there
        assert rows("select count(*) from information_schema.tables where table_name = "
                    "'privacy_map'") == [(1,)]
        result = flowsync(args, hashed, tmp_path)
        assert result.returncode == 0, result.stderr
        assert rows("select count(*) from information_schema.tables where table_name = "
                    "'privacy_map'") == [(0,)]
        assert leaks(stored_strings(rows, kind), psim) == []
