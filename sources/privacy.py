"""Contact addresses hashed or dropped before a record leaves the source.

`privacy.contact_address`:
- `keep` (default): records as the APIs give them.
- `hash`: each contact address becomes HMAC-SHA256(`privacy.hash_key`, address) in
  lowercase hex, over the address exactly as the API gives it, so the same address hashes
  the same in every run and in both providers; contact names, emails, `meta` and Twilio's
  `context` (message bodies, addresses) are removed.
- `drop`: as `hash`, but the addresses are removed too.

Applied by `records.check_records` to every record before anything else sees it, the
quarantine included, so no clear address reaches dlt, its working folders, the warehouse
or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from .errors import ConfigError

# what may be stored of one record, or None: all of it
Scrub = Callable[[Any], Any] | None

MEMO_SIZE = 100_000
HASHED = re.compile(r"^[0-9a-f]{64}$")  # what `hash` stores: a value already hashed


class Mode(StrEnum):
    KEEP = "keep"
    HASH = "hash"
    DROP = "drop"


@dataclass(frozen=True)
class Fields:
    """Where a resource's records carry personal data (paths into the record: `name` or
    `object.name`)."""

    addresses: tuple[str, ...] = ()
    personal: tuple[str, ...] = ()  # names, emails, free-form objects: nulled

    @cached_property
    def plan(self) -> dict[str | None, tuple[tuple[str, ...], tuple[str, ...]]]:
        """{object (None: the record itself): (address names, personal names)}."""
        out: dict[str | None, tuple[list[str], list[str]]] = {}
        for paths, slot in ((self.addresses, 0), (self.personal, 1)):
            for path in paths:
                head, _, name = path.rpartition(".")
                out.setdefault(head or None, ([], []))[slot].append(name)
        return {head: (tuple(a), tuple(p)) for head, (a, p) in out.items()}


NOTHING = Fields()


@dataclass(frozen=True)
class Privacy:
    """The mode and its key (secret: never in repr, messages or the warehouse)."""

    mode: Mode = Mode.KEEP
    key: bytes = field(default=b"", repr=False)
    # address -> hash, bounded: a contact runs many flows, one HMAC serves them all
    _memo: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_settings(cls, mode: Any, key: Any) -> Privacy:
        """From privacy.contact_address and privacy.hash_key; ConfigError naming the
        setting when they do not make a mode."""
        text = str(mode or "keep").strip().lower()
        try:
            chosen = Mode(text)
        except ValueError:
            raise ConfigError(f"privacy.contact_address must be keep, hash or drop, not "
                              f"{text!r}") from None
        if chosen is Mode.HASH and not key:
            raise ConfigError("privacy.contact_address is hash but privacy.hash_key is not "
                              "set: set PRIVACY__HASH_KEY (or privacy.hash_key in "
                              ".dlt/secrets.toml) to a long random secret, and keep it")
        return cls(chosen, str(key).encode() if chosen is Mode.HASH else b"")

    @property
    def keeps(self) -> bool:
        return self.mode is Mode.KEEP

    @property
    def key_id(self) -> str:
        """Names the key without revealing it (recorded with the warehouse, so a change of
        key is noticed): the HMAC of a fixed text, shortened."""
        if self.mode is not Mode.HASH:
            return ""
        return hmac.new(self.key, b"flowsync privacy key id", hashlib.sha256).hexdigest()[:16]

    def address(self, value: Any) -> Any:
        """What is stored for one address."""
        if value is None or self.mode is Mode.KEEP:
            return value
        if self.mode is Mode.DROP:
            return None
        text = str(value)
        known = self._memo.get(text)
        if known is not None:
            return known
        if HASHED.match(text):
            return text  # hashed already (no phone number or channel address looks so)
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        digest = self._memo[text] = hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()
        return digest

    def scrubber(self, fields: Fields) -> Scrub:
        """`scrub` for one resource's records; None when nothing is to change."""
        if self.keeps or not (fields.addresses or fields.personal):
            return None
        return lambda record: self.scrub(record, fields)

    def scrub(self, record: Any, fields: Fields) -> Any:
        """The record as it may be stored (a copy; the input is not changed). A record of
        an unexpected shape (not an object, a `contact` that is not one) keeps none of the
        parts that could hold an address."""
        if self.keeps or not (fields.addresses or fields.personal):
            return record
        if not isinstance(record, dict):
            return None
        out = dict(record)
        for head, (addresses, personal) in fields.plan.items():
            if head is None:
                target = out
            elif head not in out:
                continue
            elif isinstance(out[head], dict):
                target = out[head] = dict(out[head])  # (copied once per record)
            else:  # a part of another shape where an object was expected: not kept
                if out[head] is not None:
                    del out[head]
                continue
            for name in addresses:
                if name in target:
                    value = target[name]
                    if value is None or isinstance(value, (str, int)):
                        target[name] = self.address(value)
                    else:  # an address that is a list or an object: nothing of it is kept
                        del target[name]
            for name in personal:
                if name in target:  # null, not removed: the columns stay as they are
                    target[name] = None
        return out
