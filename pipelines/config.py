"""Every setting flowsync reads: its key, default, whether it is secret, and what to set
when something is missing. dlt's providers resolve them (`.dlt/config.toml`,
`.dlt/secrets.toml`, env vars such as `SOURCES__HILOS__API_TOKEN`).

The source settings that dlt injects into the source functions (`page_size`,
`lookback_days`, `initial_date`, `api_version`, `flow_sids`, `max_workers`) are listed
here with the defaults the sources declare, so this table is the one place to look.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import dlt

from sources import checkpoint
from sources.errors import ConfigError
from sources.hilos import settings as hilos
from sources.privacy import Privacy
from sources.records import parse_timestamp
from sources.twilio_studio import settings as twilio
from transforms.runner import DEFAULT_FAILURE_EVENTS, DEFAULT_TIMEOUT_EVENTS

SOURCES = ("hilos", "twilio_studio")


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any = None
    secret: bool = False

    @property
    def env(self) -> str:
        return self.key.upper().replace(".", "__")


H, T = "sources.hilos.", "sources.twilio_studio."
SETTINGS = {s.key: s for s in (
    Setting(H + "api_token", secret=True),
    Setting(H + "base_url", hilos.DEFAULT_BASE_URL),
    Setting(H + "page_size", hilos.DEFAULT_PAGE_SIZE),
    Setting(H + "lookback_days", hilos.DEFAULT_LOOKBACK_DAYS),
    Setting(H + "initial_date"),
    Setting(T + "account_sid"),
    Setting(T + "auth_token", secret=True),
    Setting(T + "api_key_sid"),
    Setting(T + "api_key_secret", secret=True),
    Setting(T + "base_url", twilio.DEFAULT_BASE_URL),
    Setting(T + "api_version", "v2"),
    Setting(T + "flow_sids"),
    Setting(T + "initial_date"),
    Setting(T + "max_workers", twilio.DEFAULT_MAX_WORKERS),
    Setting(T + "timeout_events", list(DEFAULT_TIMEOUT_EVENTS)),
    Setting(T + "failure_events", list(DEFAULT_FAILURE_EVENTS)),
    # a long run commits what it fetched at least this often (seconds, requests)
    Setting("checkpoint.seconds", int(checkpoint.DEFAULT_SECONDS)),
    Setting("checkpoint.requests", checkpoint.DEFAULT_REQUESTS),
    # the deployment's working state (dlt's pipelines: cursors, load packages) and locks;
    # by default beside the DuckDB file (<file>.state) or, for Postgres,
    # ./flowsync-postgres.state
    Setting("flowsync.state_dir"),
    # seconds a run or transform waits for the warehouse (another run, a DuckDB reader)
    # before it gives up with exit 3
    Setting("lock.wait_seconds", 900),
    # what is stored of contact addresses: keep, hash (HMAC with hash_key) or drop
    Setting("privacy.contact_address", "keep"),
    Setting("privacy.hash_key", secret=True),
    # true for one run: a change of mode or key that cannot convert the stored addresses
    # erases them (null) instead of refusing
    Setting("privacy.rewrite", False),
    Setting("destination.duckdb.credentials", "flowsync.duckdb"),
    # DuckDB's own default is 80% of RAM, and it caches what a load writes up to that: a
    # 1M-row first load peaked at 1.3 GB. Bounded, it writes out instead (no slower here).
    Setting("destination.duckdb.memory_limit", "256MB"),
    Setting("destination.postgres.credentials", secret=True),
    # seconds: a statement the server runs longer than this is cancelled (by the server)
    Setting("destination.postgres.statement_timeout", 3600),
    # seconds the server may not answer at all before the run gives up (exit 1)
    Setting("destination.postgres.hang_timeout", 120),
)}

# what to set when a source is not configured
SOURCE_HINTS = {
    "hilos": "sources.hilos.api_token",
    "twilio_studio": "sources.twilio_studio.account_sid + auth_token (or api_key_sid + "
                     "api_key_secret)",
}
NOTHING_CONFIGURED = ("no source is configured: set sources.hilos.api_token and/or "
                      "sources.twilio_studio credentials (.dlt/secrets.toml or SOURCES__... env "
                      "vars; see .dlt/example.secrets.toml)")


def get(key: str) -> Any:
    """The setting's value: its env var, then dlt's config or secrets, then the default."""
    setting = SETTINGS[key]
    value = os.environ.get(setting.env)
    if value is None:
        value = (dlt.secrets if setting.secret else dlt.config).get(key)
    return setting.default if value is None or value == "" else value


def get_int(key: str, minimum: int = 0) -> int:
    value = get(key)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{key} must be at least {minimum}, not {number}")
    return number


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


def configured_sources() -> list[str]:
    """The sources whose credentials are set, in run order."""
    out = []
    if get(H + "api_token"):
        out.append("hilos")
    if (get(T + "account_sid") and get(T + "auth_token")) or (
            get(T + "api_key_sid") and get(T + "api_key_secret")):
        out.append("twilio_studio")
    return out


def event_lists() -> tuple[list[str], list[str]]:
    """The Twilio outcome events: sources.twilio_studio.timeout_events / failure_events."""
    lists = []
    for name in ("timeout_events", "failure_events"):
        value = get(T + name)
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip().startswith("[") else [value]
            except json.JSONDecodeError:
                value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"sources.twilio_studio.{name} must be a list of event names")
        lists.append(value)
    return lists[0], lists[1]


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


def check(sources: Sequence[str]) -> None:
    """Every setting a command reads, read, typed and validated before it touches a file,
    folder, connection or API: a ConfigError naming the first bad one (exit 2)."""
    get_int("checkpoint.seconds", minimum=1)
    get_int("checkpoint.requests", minimum=20)
    get_int("lock.wait_seconds", minimum=0)
    get_int("destination.postgres.statement_timeout", minimum=0)
    get_int("destination.postgres.hang_timeout", minimum=0)
    get_bool("privacy.rewrite")
    privacy()
    event_lists()
    if "hilos" in sources:
        get_int(H + "page_size", minimum=1)
        get_int(H + "lookback_days", minimum=0)
        _date(H + "initial_date")
        _http_url(H + "base_url")
    if "twilio_studio" in sources:
        _http_url(T + "base_url")
        get_int(T + "max_workers", minimum=1)
        _date(T + "initial_date")
        if str(get(T + "api_version")) not in twilio.API_VERSIONS:
            raise ConfigError(f"{T}api_version must be v1 or v2, not {get(T + 'api_version')!r}")
        sids = get(T + "flow_sids")
        if isinstance(sids, str):
            try:
                sids = json.loads(sids) if sids.strip().startswith("[") else [sids]
            except json.JSONDecodeError:
                sids = None
        if sids is not None and (not isinstance(sids, list) or not all(
                isinstance(s, str) and re.match(twilio.FLOW_SID_PATTERN, s) for s in sids)):
            raise ConfigError(f"{T}flow_sids must be a list of flow SIDs (FW + 32 hex), "
                              f"not {get(T + 'flow_sids')!r}")


def _date(key: str) -> None:
    value = get(key)
    if value and parse_timestamp(str(value)) is None:
        raise ConfigError(f"{key} is not an ISO 8601 date: {value!r}")


def _http_url(key: str) -> None:
    value = str(get(key))
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{key} must be an http:// or https:// URL, not {value!r}")
