"""Hilos paging, the re-read window and record checks, with httpx.MockTransport."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest

from sources.hilos import make_http
from sources.hilos.client import HilosClient, detail_as_list_row
from sources.hilos.settings import CONTACT_STATUSES, CONTACTS_PATH
from sources.hilos.window import Order, Window
from sources.records import Quarantine, check_records

TOKEN = "unit-test-token"


def ts(hour: int, minute: int = 0) -> str:
    return f"2026-11-01T{hour:02d}:{minute:02d}:00.000000Z"


def fake_api(rows: list[dict], seen: list[httpx.Request]):
    """Serves `rows` in the given order, page-number paged, as DRF does."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.headers["Authorization"] == f"Token {TOKEN}"
        size = int(request.url.params.get("page_size", 20))
        page = int(request.url.params.get("page", 1))
        chunk = rows[(page - 1) * size: page * size]
        more = page * size < len(rows)
        return httpx.Response(200, json={
            "count": len(rows), "previous": None, "results": chunk,
            "next": f"http://proxy.internal{CONTACTS_PATH}?page={page + 1}" if more else None})

    return handler


def client_for(rows: list[dict]) -> tuple[HilosClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    http = make_http(TOKEN, "https://api.hilos.io", transport=httpx.MockTransport(fake_api(rows, seen)),
                     sleep=lambda s: None)
    return HilosClient(http), seen


def row(i: int, created: str, status: str = "COMPLETED") -> dict:
    return {"id": f"00000000-0000-4000-8000-{i:012d}", "created_on": created, "status": status}


def read(client: HilosClient, window: Window, page_size: int) -> list[str]:
    ids = []
    for raw in client.contact_pages(page_size):
        rows, bad = check_records(raw, Quarantine("Hilos", "t"), key="id", cursor="created_on",
                                  statuses=CONTACT_STATUSES)
        assert not bad
        kept, done = window.pass_page(rows)
        ids.extend(r["id"] for r in kept)
        if done:
            break
    return ids


NEWEST_FIRST = [row(i, ts(20 - i)) for i in range(20)]  # 20:00 down to 01:00


def test_pages_are_requested_by_number_on_the_base_url_never_the_next_link() -> None:
    client, seen = client_for(NEWEST_FIRST)
    pages = list(client.contact_pages(7))
    assert [len(p) for p in pages] == [7, 7, 6]
    assert [str(r.url) for r in seen] == [
        f"https://api.hilos.io{CONTACTS_PATH}?page_size=7",
        f"https://api.hilos.io{CONTACTS_PATH}?page_size=7&page=2",
        f"https://api.hilos.io{CONTACTS_PATH}?page_size=7&page=3",
    ]


def test_verified_newest_first_stops_at_the_window_start() -> None:
    client, seen = client_for(NEWEST_FIRST)
    order = Order(verified=True)
    window = Window(datetime(2026, 11, 1, 14, tzinfo=UTC), order, "contacts")
    ids = read(client, window, page_size=5)
    # rows from 20:00 down to 14:00 inclusive; the page holding 14:00..11:00 ends it
    assert ids == [r["id"] for r in NEWEST_FIRST[:7]]
    assert [r.url.params.get("page", "1") for r in seen] == ["1", "2"]


def test_without_evidence_of_order_nothing_stops_early_until_the_pages_show_it() -> None:
    client, seen = client_for(NEWEST_FIRST)
    order = Order()
    window = Window(datetime(2026, 11, 1, 14, tzinfo=UTC), order, "contacts")
    read(client, window, page_size=5)
    # page 1 already shows strictly decreasing times, which is enough evidence
    assert order.verified is True
    assert len(seen) == 2


def test_oldest_first_pages_are_read_to_the_end_with_one_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    client, seen = client_for(NEWEST_FIRST[::-1])
    order = Order(verified=True)
    window = Window(datetime(2026, 11, 1, 14, tzinfo=UTC), order, "contacts")
    with caplog.at_level(logging.WARNING, logger="flowsync.hilos"):
        ids = read(client, window, page_size=5)
        window.finish(read_all=True)
    assert len(seen) == 4
    assert sorted(ids) == sorted(r["id"] for r in NEWEST_FIRST[:7])
    assert order.unordered is True
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["Hilos contacts: rows are not newest-first; reading every page instead "
                        "of stopping early"]


def test_a_later_ordered_full_read_clears_the_unordered_verdict() -> None:
    client, _ = client_for(NEWEST_FIRST)
    order = Order(verified=True, unordered=True)
    window = Window(datetime(2026, 11, 1, 14, tzinfo=UTC), order, "contacts")
    read(client, window, page_size=5)
    window.finish(read_all=True)
    assert order.unordered is False


def test_ties_at_the_window_start_and_across_a_page_boundary_are_all_kept() -> None:
    # five runs of one batch share 12:00 and straddle the boundary of 4-row pages
    rows = [row(1, ts(14)), row(2, ts(13))] + [row(10 + i, ts(12)) for i in range(5)] + \
        [row(20, ts(11)), row(21, ts(10))]
    client, seen = client_for(rows)
    window = Window(datetime(2026, 11, 1, 12, tzinfo=UTC), Order(verified=True), "contacts")
    ids = read(client, window, page_size=4)
    assert ids == [r["id"] for r in rows[:7]]
    assert len(seen) == 2


def test_rows_repeated_by_a_shift_between_pages_are_dropped_once() -> None:
    rows = NEWEST_FIRST[:10]
    pages = [rows[0:4], rows[2:6], rows[6:10]]  # two new rows arrived after page 1
    window = Window(None, Order(), "contacts")
    kept: list[str] = []
    for page in pages:
        parsed, _ = check_records(page, Quarantine("Hilos", "t"), key="id", cursor="created_on",
                                   statuses=CONTACT_STATUSES)
        out, _ = window.pass_page(parsed)
        kept.extend(r["id"] for r in out)
    assert kept == [r["id"] for r in rows]
    assert window.duplicates == 2


def test_rows_pushed_more_than_a_page_down_are_dropped_once_using_the_list_count() -> None:
    rows = NEWEST_FIRST[:16]
    # page 1 read while the list held rows[6:16]; then six runs arrived on top
    pages = [(rows[6:10], 10), (rows[4:8], 16), (rows[8:12], 16), (rows[12:16], 16)]
    window = Window(None, Order(), "contacts")
    kept: list[str] = []
    for page, count in pages:
        parsed, _ = check_records(page, Quarantine("Hilos", "t"), key="id", cursor="created_on",
                                  statuses=CONTACT_STATUSES)
        out, _ = window.pass_page(parsed, count)
        kept.extend(r["id"] for r in out)
    # rows[0:4] are for the next sync, which starts from the top
    assert kept == [r["id"] for r in rows[6:10] + rows[4:6] + rows[10:16]]
    assert window.duplicates == 4


def test_pages_carry_the_list_count() -> None:
    client, _ = client_for(NEWEST_FIRST[:10])
    assert [(len(p), p.count) for p in client.contact_pages(4)] == [(4, 10), (4, 10), (2, 10)]


def test_check_records_quarantines_what_cannot_be_placed_and_flags_unknown_statuses() -> None:
    q = Quarantine("Hilos", "flow_execution_contacts")
    records = [
        row(1, ts(1)),
        {"id": "a", "created_on": "yesterday", "status": "COMPLETED"},
        {"id": "b", "status": "COMPLETED"},
        {"created_on": ts(2), "status": "COMPLETED"},
        row(2, ts(3), status="PAUSED"),
        "garbage",
    ]
    rows, bad = check_records(records, q, key="id", cursor="created_on", statuses=CONTACT_STATUSES)
    assert [r["id"] for r in rows] == [records[0]["id"], records[4]["id"]]
    assert rows[0]["created_on"] == datetime(2026, 11, 1, 1, tzinfo=UTC)
    assert [(b["record_key"], b["reason"]) for b in bad] == [
        ("a", "invalid created_on"),
        ("b", "missing created_on"),
        (bad[2]["record_key"], "missing id"),
        (records[4]["id"], "unknown status 'PAUSED' (row loaded)"),
        (bad[4]["record_key"], "not an object"),
    ]
    assert len(bad[2]["record_key"]) == 40  # a hash of the raw record stands in for the id
    assert q.counts["invalid created_on"] == 1


def test_detail_rows_take_the_list_shape() -> None:
    detail = {"id": "x", "status": "RUNNING", "created_on": ts(1),
              "flow_version": {"id": "fv", "flow": {"id": "f"}},
              "status_triggered_by": {"id": 101, "email": "a@b.c"},
              "flow": {"id": "f", "name": "F"}, "contact_filters": [], "contact_import": None,
              "last_run_on": ts(2), "num_contacts": 3}
    assert detail_as_list_row(detail) == {
        "id": "x", "status": "RUNNING", "created_on": ts(1), "flow_version": "fv",
        "status_triggered_by": 101, "num_contacts": 3}
