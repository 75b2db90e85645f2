"""Every setting flowsync reads: its key, default, whether it is secret, its type, and
what to set when something is missing. dlt's providers resolve them (`.dlt/config.toml`,
`.dlt/secrets.toml`, env vars such as `SOURCES__HILOS__API_TOKEN`).

The general settings are listed here; each source declares its own (`sources.spec`), read
here under `sources.<source>.` and handed to each account typed (`accounts`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dlt

from sources import checkpoint, registry
from sources.errors import ConfigError
from sources.privacy import Privacy
from sources.spec import Setting, as_list, iana_zone, memory_size, one_of

GENERAL = (
    # a long run commits what it fetched at least this often (seconds, requests, rows)
    Setting("checkpoint.seconds", int(checkpoint.DEFAULT_SECONDS), whole=True, minimum=1),
    # (a read goes on one page early, a cheap guard: a budget of a few requests would
    # spend itself on that page)
    Setting("checkpoint.requests", checkpoint.DEFAULT_REQUESTS, whole=True, minimum=20),
    # ... and at least every this many rows fetched: what a load holds in memory grows
    # with its rows
    Setting("checkpoint.rows", checkpoint.DEFAULT_ROWS, whole=True, minimum=100),
    # the deployment's working state (dlt's pipelines: cursors, load packages) and locks;
    # by default beside the DuckDB file (<file>.state) or, for Postgres,
    # ./flowsync-postgres.state
    Setting("flowsync.state_dir"),
    # the warehouse where no --destination says (Dagster: `pipelines.dagster_defs`)
    Setting("flowsync.destination", "duckdb", check=one_of("duckdb", "postgres")),
    # when Dagster's schedule materializes everything (cron)
    Setting("flowsync.schedule", "*/15 * * * *"),
    # accounts loaded at once by one command (each within its own API's limits)
    Setting("accounts.workers", 4, whole=True, minimum=1),
    # seconds a run or transform waits for the warehouse (another run, a DuckDB reader)
    # before it gives up with exit 3
    Setting("lock.wait_seconds", 900, whole=True),
    # what is stored of contact addresses: keep, hash (HMAC with hash_key) or drop
    Setting("privacy.contact_address", "keep"),
    Setting("privacy.hash_key", secret=True),
    # true for one run: a change of mode or key that cannot convert the stored addresses
    # erases them (null) instead of refusing
    Setting("privacy.rewrite", False),
    # the IANA zone in which every `day` of the analytics and the report is cut
    Setting("analytics.timezone", "UTC", check=iana_zone),
    # a dbt project folder: `dbt build` on it after every analytics rebuild (README: dbt)
    Setting("transform.dbt_project", check=lambda value: _dbt_problem(value)),
    Setting("destination.duckdb.credentials", "flowsync.duckdb"),
    # DuckDB's own default is 80% of RAM, and it caches what a load writes up to that: a
    # 1M-row first load peaked at 1.3 GB. Bounded, it writes out instead (no slower here).
    # The limit when DuckDB opens the file, checkpoints it and rebuilds the analytics
    Setting("destination.duckdb.memory_limit", "256MB", check=memory_size),
    # ... and while dlt loads rows into it (its cache of the tables merged into), when
    # lower: a first load's memory then stays that of one load. A checkpoint pins a
    # block per column written: the file is checkpointed after each of dlt's jobs, so
    # that one holds a table's, not a load's (`warehouse.duckdb_jobs`; README: memory)
    Setting("destination.duckdb.load_memory_limit", "32MB", check=memory_size),
    Setting("destination.postgres.credentials", secret=True),
    # seconds: a statement the server runs longer than this is cancelled (by the server)
    Setting("destination.postgres.statement_timeout", 3600, whole=True),
    # seconds the server may not answer, or a backend of the run not move, before the run
    # gives up (exit 1)
    Setting("destination.postgres.hang_timeout", 120, whole=True),
)
GENERAL_SETTINGS = {s.name: s for s in GENERAL}


def _dbt_problem(value: Any) -> str | None:
    """What is wrong with `transform.dbt_project`, or None."""
    import importlib.util
    from pathlib import Path

    if not (Path(str(value)).expanduser() / "dbt_project.yml").is_file():
        return "must be a dbt project folder (one holding dbt_project.yml)"
    if importlib.util.find_spec("dbt") is None or importlib.util.find_spec("dbt.cli") is None:
        return 'needs dbt: pip install -e ".[dbt]" (dbt-core and the DuckDB and Postgres adapters)'
    return None


def setting(key: str) -> Setting:
    """The declared setting of this key: a general one, or a registered source's."""
    if key in GENERAL_SETTINGS:
        return GENERAL_SETTINGS[key]
    for source in registry.SOURCES:
        for s in source.settings:
            if source.key(s.name) == key:
                return s
    return Setting(key)


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """These environment variables (settings among them) set for a while, then restored."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def env_name(key: str) -> str:
    return key.upper().replace(".", "__")


def nothing_configured() -> str:
    return ("no source is configured: set " + "; or ".join(s.hint for s in registry.SOURCES)
            + " (.dlt/secrets.toml or SOURCES__... env vars; see .dlt/example.secrets.toml)")


def get(key: str) -> Any:
    """The setting's value: its env var, then dlt's config or secrets, then the default."""
    declared = setting(key)
    value = os.environ.get(env_name(key))
    if value is None:
        value = (dlt.secrets if declared.secret else dlt.config).get(key)
    return declared.default if value is None or value == "" else value


def get_int(key: str) -> int:
    """A whole-number setting, checked against its declared minimum."""
    return int(typed(key))


def typed(key: str) -> Any:
    """The setting's value, typed and checked as declared; ConfigError naming it."""
    return setting(key).value(key, get(key))


def get_bool(key: str) -> bool:
    value = get(key)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ConfigError(f"{key} must be true or false, not {value!r}")


def privacy() -> Privacy:
    """privacy.contact_address and privacy.hash_key; ConfigError naming what to set."""
    return Privacy.from_settings(get("privacy.contact_address"), get("privacy.hash_key"))


def model_variables() -> dict[str, str | list[str]]:
    """What the analytics models read as `{{ name }}`: the time zone days are cut in, and
    the sources' list settings (Twilio's outcome events) where set (the models' own
    defaults otherwise)."""
    out: dict[str, str | list[str]] = {"timezone": typed("analytics.timezone")}
    for source in registry.SOURCES:
        for s in source.settings:
            if s.model_variable and get(source.key(s.name)) is not None:
                out[s.name] = as_list(typed(source.key(s.name))) or []
    return out


def telemetry_off_unless_asked() -> None:
    """dlt sends usage telemetry by default; flowsync does not, wherever it is run from,
    unless the user sets runtime.dlthub_telemetry (RUNTIME__DLTHUB_TELEMETRY, or in a
    .dlt/config.toml). Call it before anything else of dlt's: dlt starts its telemetry
    with the first configuration it reads."""
    env = "RUNTIME__DLTHUB_TELEMETRY"
    if os.environ.get(env) is not None:
        return
    os.environ[env] = "false"
    dlt.config.get("runtime.dlthub_telemetry")  # dlt's runtime starts now, without telemetry
    del os.environ[env]
    asked = dlt.config.get("runtime.dlthub_telemetry")  # a config.toml's own setting
    if asked is True or str(asked).lower() in ("true", "1"):
        from dlt.common.configuration import resolve_configuration
        from dlt.common.configuration.specs import RuntimeConfiguration
        from dlt.common.runtime.telemetry import start_telemetry, stop_telemetry

        stop_telemetry()  # (started, without the tracker, by the first read above)
        start_telemetry(resolve_configuration(RuntimeConfiguration()))
        return
    os.environ[env] = "false"  # and so it stays, should dlt start its runtime again


def check() -> None:
    """Every general setting a command reads, read, typed and validated before it touches
    a file, folder, connection or API: a ConfigError naming the first bad one (exit 2).
    (The sources' own settings: `accounts`.)"""
    for setting in GENERAL:
        setting.value(setting.name, get(setting.name))
    get_bool("privacy.rewrite")
    privacy()
    model_variables()
