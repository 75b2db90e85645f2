"""Settings are checked before anything is touched, and a DSN is never printed.

Issue 22: `postgresql://` passed the connect check (libpq's defaults) and dlt loaded into
the OS user's database before the run failed; `md:my_db` and `:memory:` became local
files; `checkpoint.*`, `page_size` and `max_workers` were checked after the warehouse and
state folder were created, and `SOURCES__HILOS__PAGE_SIZE=big` ended in a 71-line
traceback; a `base_url` without a scheme was retried six times as an API failure; and a
malformed DSN (SQLAlchemy's `postgresql+psycopg2://`, a bare `user:pass@host/db`,
`mysql://`) printed its password inside libpq's parse error.
"""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from pipelines.warehouse.postgres import libpq_credentials, postgres_parts
from simulator import Simulator
from sources.errors import redact
from tests.running import env_for, flowsync
from tests.worlds import small_config

PASSWORD = "S3cret-pw-77"
BAD_SETTINGS = [
    ({"SOURCES__HILOS__PAGE_SIZE": "big"},
     "flowsync: sources.hilos.page_size must be a whole number, not 'big'"),
    ({"SOURCES__HILOS__LOOKBACK_DAYS": "-1"},
     "flowsync: sources.hilos.lookback_days must be at least 0, not -1"),
    ({"CHECKPOINT__REQUESTS": "5"}, "flowsync: checkpoint.requests must be at least 20, not 5"),
    ({"CHECKPOINT__ROWS": "50"}, "flowsync: checkpoint.rows must be at least 100, not 50"),
    ({"CHECKPOINT__SECONDS": "soon"},
     "flowsync: checkpoint.seconds must be a whole number, not 'soon'"),
    ({"SOURCES__TWILIO_STUDIO__MAX_WORKERS": "0"},
     "flowsync: sources.twilio_studio.max_workers must be at least 1, not 0"),
    ({"SOURCES__TWILIO_STUDIO__API_VERSION": "v3"},
     "flowsync: sources.twilio_studio.api_version must be v1 or v2, not 'v3'"),
    ({"SOURCES__TWILIO_STUDIO__FLOW_SIDS": '["FWbad"]'},
     "flowsync: sources.twilio_studio.flow_sids must be a list of flow SIDs (FW + 32 hex), "
     "not '[\"FWbad\"]'"),
    ({"SOURCES__HILOS__INITIAL_DATE": "yesterday"},
     "flowsync: sources.hilos.initial_date must be an ISO 8601 date, not 'yesterday'"),
    ({"SOURCES__HILOS__BASE_URL": "api.hilos.io"},
     "flowsync: sources.hilos.base_url must be an http:// or https:// URL, not 'api.hilos.io'"),
    ({"SOURCES__TWILIO_STUDIO__BASE_URL": "ftp://studio.example"},
     "flowsync: sources.twilio_studio.base_url must be an http:// or https:// URL, "
     "not 'ftp://studio.example'"),
    ({"LOCK__WAIT_SECONDS": "forever"},
     "flowsync: lock.wait_seconds must be a whole number, not 'forever'"),
    ({"DESTINATION__POSTGRES__HANG_TIMEOUT": "-5"},
     "flowsync: destination.postgres.hang_timeout must be at least 0, not -5"),
    ({"PRIVACY__REWRITE": "maybe"}, "flowsync: privacy.rewrite must be true or false, not 'maybe'"),
    ({"DESTINATION__DUCKDB__CREDENTIALS": "md:my_db"},
     "flowsync: duckdb: destination.duckdb.credentials must be a local DuckDB file path"),
    ({"DESTINATION__DUCKDB__CREDENTIALS": ":memory:"},
     "flowsync: duckdb: destination.duckdb.credentials must be a local DuckDB file path"),
]


@pytest.mark.parametrize("settings,line", BAD_SETTINGS, ids=[next(iter(s)) + "=" + v
                         for s, _ in BAD_SETTINGS for v in s.values()])
def test_a_bad_setting_exits_2_before_anything_is_touched(tmp_path: Path, settings: dict,
                                                          line: str) -> None:
    with Simulator(small_config()) as sim:
        work = tmp_path / "work"
        work.mkdir()
        env = env_for(sim, tmp_path, **settings)
        result = flowsync(["run"], env, work)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [result.stderr.strip()]  # one line
        assert result.stderr.startswith(line), result.stderr
        assert sim.stats()["total"] == 0  # no request
    # no warehouse, no state folder, no file anywhere
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["work"]


DSNS = [
    (f"postgresql+psycopg2://app:{PASSWORD}@127.0.0.1/db",
     "is not a PostgreSQL DSN (postgresql+psycopg2://; SQLAlchemy names the driver there"),
    (f"app:{PASSWORD}@127.0.0.1/db", "is not a DSN libpq can read"),
    (f"mysql://app:{PASSWORD}@127.0.0.1/db", "is not a PostgreSQL DSN (mysql://)"),
    (f"host=127.0.0.1 password={PASSWORD} dbname", "is not a DSN libpq can read"),
    (f"postgresql://app:{PASSWORD}@127.0.0.1:5432/db?sslmode=bogus",
     'Postgres is unreachable: invalid sslmode value: "bogus"'),
    (f"postgresql://app:{PASSWORD}@127.0.0.1:1/db", "Postgres is unreachable: "),
    ("postgresql://", "names no host and no database"),
    (f"postgresql://app:{PASSWORD}@/db", "names no host"),
]


@pytest.mark.parametrize("dsn,said", DSNS, ids=[str(i) for i in range(len(DSNS))])
def test_a_dsn_is_never_printed(tmp_path: Path, dsn: str, said: str) -> None:
    env = env_for(None, tmp_path, SOURCES__HILOS__API_TOKEN="x",
                  DESTINATION__POSTGRES__CREDENTIALS=dsn)
    result = flowsync(["run", "--destination", "postgres"], env, tmp_path)
    assert result.returncode == 2
    assert said in result.stderr, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", [
    f'invalid dsn: missing "=" after "postgresql+psycopg2://app:{PASSWORD}@h/db" in connection',
    f'missing "=" after "app:{PASSWORD}@h/db" in connection info string',
    f"host=h password={PASSWORD} dbname=d",
    f"host=h password='{PASSWORD} x' dbname=d",
    f"could not connect: postgresql://u:{PASSWORD}@h:5432/d?sslmode=require",
])
def test_redaction_takes_the_password_out_of_any_shape(text: str) -> None:
    assert PASSWORD not in redact(text)
    assert "***" in redact(text)


def test_every_postgres_connection_has_client_side_bounds(postgres_dsn: str) -> None:
    """Keepalives and a TCP user timeout on dlt's connections and flowsync's own (a
    half-open connection after a failover ends instead of hanging)."""
    parts = postgres_parts(postgres_dsn)
    dlt_dsn = libpq_credentials(parts).to_native_representation()
    for option in ("keepalives=1", "keepalives_idle=30", "tcp_user_timeout=60000",
                   "connect_timeout=15"):
        assert option in dlt_dsn
    ours = postgres_parts(postgres_dsn + "?keepalives_idle=5")
    conn = psycopg2.connect(**ours)
    try:
        found = conn.get_dsn_parameters()
    finally:
        conn.close()
    assert (found["keepalives"], found["keepalives_idle"], found["tcp_user_timeout"]) == (
        "1", "5", "60000")  # the DSN's own value wins


def test_the_shipped_config_documents_the_defaults_and_changes_none() -> None:
    """Issue 26: the shipped .dlt/config.toml set max_workers = 4 (the code's default is
    64), turning off, for whoever runs flowsync from the repository folder, the
    concurrency the README measures."""
    import tomllib

    from pipelines import config

    text = (Path(__file__).resolve().parents[2] / ".dlt" / "config.toml").read_text()
    def leaves(table: dict) -> list:
        return [x for v in table.values() for x in (leaves(v) if isinstance(v, dict) else [v])]

    assert leaves(tomllib.loads(text)) == []  # nothing set
    section, documented = "", 0
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif line.startswith("# ") and " = " in line.split("#")[1]:
            key, value = tomllib.loads(line[2:].split("  #")[0]).popitem()
            default = config.setting(f"{section}.{key}").default
            if default is not None:  # (examples of settings without a default)
                assert value == default, f"{section}.{key}: {value!r} is not {default!r}"
                documented += 1
    assert documented >= 15
