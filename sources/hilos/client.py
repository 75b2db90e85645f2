"""Hilos paging and the flow-execution detail, as plain generators.

The API lists rows with page numbers, no date filter and no documented order; where a
sync stops reading is `cursor.Window`'s decision, not the pages'.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx

from ..errors import NotFoundError, PagingError
from ..http import HttpClient, an_object, page_of
from .settings import CONTACTS_PATH, DETAIL_ONLY_FIELDS, EXECUTIONS_PATH

log = logging.getLogger("flowsync.hilos")

MAX_PAGES = 1_000_000  # a billion runs at the largest page: no real list is longer


def make_http(api_token: str, base_url: str, transport: httpx.BaseTransport | None = None,
              **options: Any) -> HttpClient:
    """The HTTP client for Hilos: `Authorization: Token <api_token>`."""
    return HttpClient(base_url, service="Hilos",
                      auth_hint="sources.hilos.api_token (SOURCES__HILOS__API_TOKEN)",
                      headers={"Authorization": f"Token {api_token}"}, transport=transport,
                      **options)


class Page(list):
    """One page's rows, with its number and the list's total `count` at the time (None if
    not given)."""

    def __init__(self, rows: list, count: int | None, number: int = 1,
                 has_next: bool = False) -> None:
        super().__init__(rows)
        self.count = count
        self.number = number
        self.has_next = has_next


class HilosClient:
    """Reads Hilos list pages and flow-execution details through an `HttpClient`."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def pages(self, path: str, params: dict[str, Any] | None = None,
              first: int = 1) -> Iterator[Page]:
        """Pages of `results`, from page `first` on, until `next` is null.

        Page numbers are ours rather than the `next` links', so a link naming another
        scheme or host (a proxy's) never receives the token. A page whose rows are those of
        the page before while the list did not change (an API that ignores `page`), and a
        listing past MAX_PAGES, end with a `PagingError`: a listing always ends.
        """
        page = first
        previous: tuple | None = None
        while True:
            if page - first >= MAX_PAGES:
                raise PagingError(f"Hilos: GET {path}: more than {MAX_PAGES:,} pages; the "
                                  "listing is stopped", endpoint=path)
            query = dict(params or {})
            if page > 1:
                query["page"] = page
            try:
                body = self.http.get_json(path, query, endpoint=path, expect=page_of("results"))
            except NotFoundError:
                if page == 1:
                    raise
                # the list shrank between two pages: drf answers "Invalid page."
                log.info("Hilos %s: page %d is gone; the list ended early", path, page)
                return
            count = body.get("count")
            ids = tuple(r.get("id") for r in body["results"] if isinstance(r, dict))
            if ids and previous == (ids, count):
                raise PagingError(f"Hilos: GET {path}: page {page} repeats page {page - 1} "
                                  "(the API ignores the page number?); the listing is stopped",
                                  endpoint=path)
            previous = (ids, count)
            yield Page(body["results"], count if isinstance(count, int) else None, page,
                       bool(body.get("next")))
            if not body.get("next"):
                return
            page += 1

    def contact_pages(self, page_size: int, first: int = 1) -> Iterator[Page]:
        return self.pages(CONTACTS_PATH, {"page_size": page_size}, first)

    def execution_pages(self, first: int = 1) -> Iterator[Page]:
        return self.pages(EXECUTIONS_PATH, first=first)

    def execution_detail(self, execution_id: str) -> dict | None:
        """A flow execution from the detail endpoint, in the list's shape; None if gone."""
        path = f"{EXECUTIONS_PATH}/{execution_id}"
        try:
            detail = self.http.get_json(path, endpoint=f"{EXECUTIONS_PATH}/{{id}}", expect=an_object)
        except NotFoundError:
            return None
        return detail_as_list_row(detail)


def detail_as_list_row(detail: dict) -> dict:
    """Maps a detail response onto the list's row shape, so a refreshed row looks the same.

    The detail nests `flow_version` and `status_triggered_by` as objects where the list
    has their ids, and adds fields the list does not have.
    """
    row = {k: v for k, v in detail.items() if k not in DETAIL_ONLY_FIELDS}
    if isinstance(row.get("flow_version"), dict):
        row["flow_version"] = row["flow_version"].get("id")
    if isinstance(row.get("status_triggered_by"), dict):
        row["status_triggered_by"] = row["status_triggered_by"].get("id")
    return row
