"""Checking API records before loading, and keeping the ones that cannot be loaded.

Both sources use this: a record without its key or with a missing or invalid timestamp
cannot be merged or placed in time, so it goes to the dataset's `quarantine` table with
the reason and the raw record; a record with an unknown status is loaded as it is and
noted in quarantine too, so a new status from the API is seen, not lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import dlt

log = logging.getLogger("flowsync.records")

QUARANTINE_TABLE = "quarantine"
# the write disposition of tables whose source yields each key once per sync: the merge
# may then skip deduplicating the staged rows, a window over all of them that was most of
# a first load's peak memory on DuckDB (1.4 GB of 1M rows)
MERGE_DEDUPLICATED = {"disposition": "merge", "strategy": "delete-insert", "deduplicated": True}
QUARANTINE_HINTS = dlt.mark.make_hints(
    table_name=QUARANTINE_TABLE, write_disposition="merge", primary_key=("resource", "record_key"),
    # a table named in with_hints inherits the resource's declared columns, where the
    # cursor is required: here a rejected record may lack it
    columns={"created_on": {"data_type": "timestamp", "nullable": True},
             "date_created": {"data_type": "timestamp", "nullable": True}},
)


class OncePerLoad:
    """The keys a resource has handed to dlt in this load: a row whose key came before (a
    page read twice, a record listed and refreshed) is dropped and counted, so a merge
    declared deduplicated (`MERGE_DEDUPLICATED`) never receives two copies. One per
    resource per load: a checkpoint starts a new load, which bounds the memory."""

    def __init__(self, key: str, what: str) -> None:
        self.key = key
        self.what = what
        self.seen: set[str] = set()
        self.repeated = 0

    def __call__(self, rows: list[dict]) -> list[dict]:
        fresh = []
        for row in rows:
            value = row[self.key]
            if value in self.seen:
                self.repeated += 1
                continue
            self.seen.add(value)
            fresh.append(row)
        return fresh

    def report(self) -> None:
        if self.repeated:
            log.warning("%s: %d row(s) came twice in one load; loaded once", self.what,
                        self.repeated)


def quarantined(entries: list[dict]) -> Any:
    """Quarantine entries, marked for the `quarantine` table. Only these: hints given
    without a table variant would send every later item of the resource there too."""
    return dlt.mark.with_hints(entries, QUARANTINE_HINTS, create_table_variant=True)


def parse_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string, or None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def pack_times(times: dict[str, datetime]) -> str | dict[str, str]:
    """Ids with their timestamps as kept in state: one string, "id time id time ...".

    A source's state holds its open executions (100,000 at a 1M-execution account), and
    dlt copies and serialises the whole state at every load: a dict of that many strings
    is ~25 MB of objects per copy, one string is shared by every copy. Where an id holds
    whitespace (no id the APIs document does), the {id: time} form of earlier releases."""
    if any(len(key.split()) != 1 for key in times):
        return {key: ts.isoformat() for key, ts in times.items()}
    return " ".join(f"{key} {ts.isoformat()}" for key, ts in times.items())


def unpack_times(raw: Any) -> dict[str, datetime]:
    """`pack_times`' ids and timestamps back, in order, from either form; a timestamp
    that does not parse drops its id (as it always has: state written by hand)."""
    if isinstance(raw, str):
        parts = raw.split()
        pairs = zip(parts[::2], parts[1::2], strict=False)
    else:
        pairs = (raw or {}).items()
    return {key: ts for key, value in pairs if (ts := parse_timestamp(value)) is not None}


class Quarantine:
    """Counts and formats the records of one resource that go to quarantine."""

    def __init__(self, service: str, resource: str) -> None:
        self.service = service
        self.resource = resource
        self.counts: Counter[str] = Counter()

    def entry(self, record: Any, reason: str, key: str = "id") -> dict:
        self.counts[reason] += 1
        raw = json.dumps(record, sort_keys=True, default=str)
        record_id = record.get(key) if isinstance(record, dict) else None
        return {
            "resource": self.resource,
            "record_key": str(record_id) if record_id else hashlib.sha1(raw.encode()).hexdigest(),
            "reason": reason,
            "raw_record": raw,
            "seen_at": datetime.now(UTC),
        }

    def report(self) -> None:
        for reason, n in sorted(self.counts.items()):
            log.warning("%s %s: %d record(s) quarantined (%s); see table `%s`", self.service,
                        self.resource, n, reason, QUARANTINE_TABLE)


def check_records(records: Iterable[Any], quarantine: Quarantine, *, key: str, cursor: str,
                  statuses: frozenset[str] | None = None,
                  also_timestamps: tuple[str, ...] = (),
                  as_json: tuple[str, ...] = (),
                  scrub: Callable[[Any], Any] | None = None) -> tuple[list[dict], list[dict]]:
    """Splits raw records into loadable rows (timestamps parsed) and quarantine entries.

    Args:
        records: what the API returned.
        quarantine: where the rejects are counted.
        key: the record's key field (id, sid).
        cursor: the timestamp that places the record in time; required.
        statuses: the known statuses, or None when the records have none.
        also_timestamps: optional timestamp fields to parse when present.
        as_json: fields kept whole as one JSON text (`context`, `contact.meta`): free-form
            objects whose keys are data, never flattened into a column per key.
        scrub: what may be stored of a record (`privacy.Privacy.scrubber`), applied first,
            so the quarantine too holds only that.
    """
    rows: list[dict] = []
    bad: list[dict] = []
    for record in records:
        if scrub is not None:
            record = scrub(record)
        if not isinstance(record, dict):
            bad.append(quarantine.entry(record, "not an object", key))
            continue
        if not record.get(key):
            bad.append(quarantine.entry(record, f"missing {key}", key))
            continue
        if not isinstance(record[key], str):
            bad.append(quarantine.entry(record, f"invalid {key} (not a string)", key))
            continue
        ts = parse_timestamp(record.get(cursor))
        if ts is None:
            reason = f"missing {cursor}" if record.get(cursor) is None else f"invalid {cursor}"
            bad.append(quarantine.entry(record, reason, key))
            continue
        if statuses is not None and record.get("status") not in statuses:
            bad.append(quarantine.entry(
                record, f"unknown status {record.get('status')!r} (row loaded)", key))
        row = {**record, cursor: ts}
        for path in as_json:
            _to_json_text(row, path.split("."))
        for name in also_timestamps:
            if row.get(name) is not None:
                row[name] = parse_timestamp(row[name]) or row[name]
        rows.append(row)
    return rows, bad


# json.dumps with any option builds an encoder per call: half its time on a small object
_JSON_TEXT = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)


def _to_json_text(row: dict, path: list[str]) -> None:
    """Replaces the value at `path` (a.b.c) with its JSON text, copying the dicts on the way."""
    head, *rest = path
    value = row.get(head)
    if value is None:
        return
    if rest:
        if isinstance(value, dict):
            row[head] = dict(value)
            _to_json_text(row[head], rest)
        return
    row[head] = _JSON_TEXT.encode(value)
