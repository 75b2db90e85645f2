"""The accounts of each source: `sources.<source>.accounts`, a table keyed by account name
whose entries hold that source's own keys (TOML `[sources.hilos.accounts.acme]`, or a JSON
object in `SOURCES__HILOS__ACCOUNTS`), or the single-account keys, which name the account
`default`. A key set beside the table (`sources.hilos.page_size`) is every account's
default; credentials in both places are refused (exit 2).

Each account is loaded by its own dlt pipeline (`pipeline_name`), with its own cursors,
working folder, lock and staging tables, into the source's dataset; its rows carry its name
in column `account`. The account `default` keeps the pipeline name of the releases before
accounts, so their state and warehouses carry on.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dlt

from sources import registry
from sources.errors import ConfigError
from sources.spec import Source

from . import config

DEFAULT = "default"
NAME = re.compile(r"^[a-z0-9_]{1,40}$")  # a schema name's part: <dataset>_staging_<name>


@dataclass(frozen=True)
class Account:
    """One account of one source, with its settings typed and checked."""

    source: str
    name: str
    settings: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def label(self) -> str:
        """How output names it: `hilos`, or `hilos/acme` for a named account."""
        return self.source if self.name == DEFAULT else f"{self.source}/{self.name}"

    @property
    def pipeline_name(self) -> str:
        return f"flowsync_{self.source}" + ("" if self.name == DEFAULT else f"__{self.name}")


def table(source: Source) -> dict[str, dict[str, Any]] | None:
    """`sources.<source>.accounts` as given (config and secrets merged), or None."""
    key = source.key("accounts")
    found: dict[str, dict[str, Any]] = {}
    env = os.environ.get(config.env_name(key))
    for raw in ([env] if env is not None else [dlt.config.get(key), dlt.secrets.get(key)]):
        if raw is None or raw == "":
            continue
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                raise ConfigError(f"{key} must be a table of accounts (a JSON object in "
                                  f"{config.env_name(key)}), not text that is no JSON") from None
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{key} must be a table keyed by account name")
        for name, entry in raw.items():
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{key}.{name} must be a table of that account's keys")
            found.setdefault(str(name), {}).update(entry)
    return found or None


def accounts(source: Source) -> list[Account]:
    """The source's configured accounts, settings checked (ConfigError naming one); none
    when its credentials are not set anywhere."""
    declared = {s.name: s for s in source.settings}
    credential_keys = {k for group in source.credentials for k in group}
    shared = {name: config.get(source.key(name)) for name in declared}
    given = table(source)
    if given is None:
        if not _has_credentials(source, shared):
            return []
        return [Account(source.name, DEFAULT, _typed(source, shared, source.key))]
    both = sorted(k for k in credential_keys if shared.get(k))
    if both:
        raise ConfigError(f"{source.key('accounts')} and {source.key(both[0])} are both set: "
                          f"use one form (the single-account keys are account {DEFAULT!r})")
    out = []
    for name, entry in sorted(given.items()):
        where = f"{source.key('accounts')}.{name}"
        if not NAME.match(name):
            raise ConfigError(f"{where}: an account name is lowercase letters, digits and _")
        own = {k for k, s in declared.items() if not s.model_variable}  # the models': per source
        unknown = sorted(set(entry) - own)
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]} is not a setting of one {source.name} "
                              f"account (those are: {', '.join(sorted(own))})")
        values = {k: (entry[k] if entry.get(k) not in (None, "") else
                      None if k in credential_keys else shared[k]) for k in declared}
        if not _has_credentials(source, values):
            raise ConfigError(f"{where} has no credentials: set " + " or ".join(
                " + ".join(group) for group in source.credentials))
        out.append(Account(source.name, name,
                           _typed(source, values, lambda k, w=where: f"{w}.{k}")))
    return out


def _has_credentials(source: Source, values: Mapping[str, Any]) -> bool:
    return any(all(values.get(k) for k in group) for group in source.credentials)


def _typed(source: Source, values: Mapping[str, Any], key: Any) -> dict[str, Any]:
    return {s.name: s.value(key(s.name), values.get(s.name)) for s in source.settings}


def configured(sources: Sequence[str] | None = None) -> list[Account]:
    """Every configured account of these sources (all registered ones by default)."""
    names = registry.names() if sources is None else sources
    return [a for name in names for a in accounts(registry.get(name))]


@dataclass
class Selection:
    """The sources and accounts a run was asked for, or why there are none."""

    sources: list[str]
    accounts: list[Account] = field(default_factory=list)
    problem: str | None = None


def select(wanted: str, names: Sequence[str] = ()) -> Selection:
    """`all` (every configured source) or one source, which must be configured; of their
    accounts, only `names` when given (each must be an account of them)."""
    try:
        every = {s: accounts(registry.get(s)) for s in registry.names()}
    except ConfigError as exc:
        return Selection([], [], str(exc))
    configured_ = [s for s, found in every.items() if found]
    if wanted == "all":
        if not configured_:
            return Selection([], [], config.nothing_configured())
        chosen = configured_
    elif wanted not in configured_:
        return Selection([], [], f"{wanted} is not configured: set {registry.get(wanted).hint}")
    else:
        chosen = [wanted]
    found = [a for s in chosen for a in every[s]]
    if names:
        unknown = sorted(set(names) - {a.name for a in found})
        if unknown:
            known = ", ".join(sorted({a.name for a in found}))
            return Selection([], [], f"no account {unknown[0]!r} in {', '.join(chosen)} "
                                     f"(configured: {known})")
        found = [a for a in found if a.name in names]
        chosen = [s for s in chosen if any(a.source == s for a in found)]
    return Selection(chosen, found)
