"""Twilio Studio paging and single resources, as plain code.

Lists follow `meta.next_page_url` on the configured base URL; what to list for a flow is
`cursor.plan`'s decision.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from ..concurrency import START, AdaptiveLimit
from ..errors import ConfigError, NotFoundError, PagingError
from ..http import HttpClient, an_object, page_of
from .settings import DEFAULT_BASE_URL, PAGE_SIZE

log = logging.getLogger("flowsync.twilio_studio")

MAX_PAGES = 100_000  # 100 million rows at the API's largest page: no real list is longer


def make_http(*, account_sid: str | None = None, auth_token: str | None = None,
              api_key_sid: str | None = None, api_key_secret: str | None = None,
              base_url: str = DEFAULT_BASE_URL, transport: httpx.BaseTransport | None = None,
              max_workers: int | None = None, **options: Any) -> HttpClient:
    """The HTTP client for Twilio: basic auth with the API key if set, else the auth token.
    With `max_workers`, requests in flight adapt to the account's concurrency limit, up
    to that many (`sources.concurrency`)."""
    if api_key_sid and api_key_secret:
        auth = (api_key_sid, api_key_secret)
        hint = ("sources.twilio_studio.api_key_sid / api_key_secret "
                "(SOURCES__TWILIO_STUDIO__API_KEY_SID / ..._API_KEY_SECRET)")
    elif account_sid and auth_token:
        auth = (account_sid, auth_token)
        hint = ("sources.twilio_studio.account_sid / auth_token "
                "(SOURCES__TWILIO_STUDIO__ACCOUNT_SID / ..._AUTH_TOKEN)")
    else:
        raise ConfigError(
            "Twilio Studio is not configured: set sources.twilio_studio.account_sid and "
            "auth_token, or api_key_sid and api_key_secret (SOURCES__TWILIO_STUDIO__...)")
    if max_workers:
        options.setdefault("max_connections", max_workers)
        options.setdefault("concurrency", AdaptiveLimit(min(START, max_workers), max_workers))
    return HttpClient(base_url, service="Twilio Studio", auth_hint=hint, auth=auth,
                      transport=transport, **options)


def twilio_date(dt: datetime) -> str:
    """A UTC datetime as Twilio's date-time query parameters take it."""
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def page_key(path: str, params: dict[str, Any]) -> tuple:
    """What names one page of a list: its path and parameters, in any order, the first
    page being `Page=0` whether or not the link says so."""
    named = {k: str(v) for k, v in params.items()}
    named.setdefault("Page", "0")
    return path.rstrip("/"), tuple(sorted(named.items()))


class TwilioClient:
    """Reads Twilio Studio lists and resources through an `HttpClient`."""

    def __init__(self, http: HttpClient, api_version: str) -> None:
        self.http = http
        self.v = api_version
        self._flows: list[dict] | None = None
        self._selected: list[dict] | None = None
        self._lock = threading.Lock()

    def pages(self, path: str, key: str, params: dict[str, Any], endpoint: str) -> Iterator[list[dict]]:
        """Pages of `key`, following `meta.next_page_url` on our own base URL."""
        return (rows for rows, _ in self.paged(path, key, params, endpoint))

    def paged(self, path: str, key: str, params: dict[str, Any],
              endpoint: str) -> Iterator[tuple[list[dict], bool]]:
        """Pages of `key` as `pages` reads them, each with whether a next page follows.

        A page is known by its path and parameters whatever their order or spelling (the
        first page is `Page=0`, as Twilio's own `meta.url` names it). A link to a page
        already read (a looping API or proxy), a page whose rows are the page before's,
        and a listing longer than MAX_PAGES end with a `PagingError` naming the endpoint:
        a listing always ends, and no page is read twice.
        """
        url: str | None = path
        query: dict[str, Any] | None = params
        seen = {page_key(path, params)}
        previous: tuple = ()
        while url:
            body = self.http.get_json(url, query, endpoint=endpoint, expect=page_of(key))
            rows = body[key]
            ids = tuple(r.get("sid") for r in rows if isinstance(r, dict))
            if ids and ids == previous:
                raise PagingError(f"Twilio Studio: GET {endpoint}: a page repeats the page "
                                  "before; the listing is stopped", endpoint=endpoint)
            previous = ids
            nxt = (body.get("meta") or {}).get("next_page_url")
            yield rows, bool(nxt)
            if not nxt:
                return
            # the link names studio.twilio.com (or a proxy): its path and query, on our base
            # url, without the base url's own path prefix twice
            parts = urlsplit(nxt)
            relative = self._relative(parts.path)
            link = page_key(relative, dict(parse_qsl(parts.query, keep_blank_values=True)))
            if link in seen:
                raise PagingError(f"Twilio Studio: GET {endpoint}: the next-page link repeats "
                                  "a page already read; the listing is stopped",
                                  endpoint=endpoint)
            if len(seen) > MAX_PAGES:
                raise PagingError(f"Twilio Studio: GET {endpoint}: more than {MAX_PAGES:,} "
                                  "pages; the listing is stopped", endpoint=endpoint)
            seen.add(link)
            url, query = f"{relative}?{parts.query}", None

    def _relative(self, path: str) -> str:
        prefix = self.http.base_path
        return path[len(prefix):] if prefix and path.startswith(prefix + "/") else path

    def flows(self) -> list[dict]:
        """Every flow of the account, listed once per client."""
        with self._lock:
            if self._flows is None:
                self._flows = [f for page in self.pages(f"/{self.v}/Flows", "flows",
                                                        {"PageSize": PAGE_SIZE}, f"/{self.v}/Flows")
                               for f in page]
            return self._flows

    def whole(self, flow: Any) -> Any:
        """A listed flow with its definition: fetched whole unless it came so (or is gone:
        then as listed)."""
        if not isinstance(flow, dict) or flow.get("definition") is not None or not isinstance(
                flow.get("sid"), str):
            return flow
        return self.flow(flow["sid"]) or flow

    def flow(self, sid: str) -> dict | None:
        try:
            return self.http.get_json(f"/{self.v}/Flows/{sid}", endpoint=f"/{self.v}/Flows/{{Sid}}",
                                      expect=an_object)
        except NotFoundError:
            return None

    def selected_flows(self, wanted: list[str] | None) -> list[dict]:
        """The flows to sync: every flow, or the wanted ones that exist; fetched once."""
        if wanted is None:
            return self.flows()
        with self._lock:
            if self._selected is None:
                self._selected = []
                for sid in wanted:
                    flow = self.flow(sid)
                    if flow is None:
                        log.warning("Twilio Studio flow %s not found (deleted?); skipped", sid)
                    else:
                        self._selected.append(flow)
            return self._selected

    def execution_pages(self, flow_sid: str, date_from: datetime | None,
                        date_to: datetime | None = None) -> Iterator[tuple[list[dict], bool]]:
        """A flow's executions created from `date_from` (inclusive) to `date_to`
        (exclusive), page by page, each with whether a next page follows."""
        params: dict[str, Any] = {"PageSize": PAGE_SIZE}
        if date_from is not None:
            params["DateCreatedFrom"] = twilio_date(date_from)
        if date_to is not None:
            params["DateCreatedTo"] = twilio_date(date_to)
        return self.paged(f"/{self.v}/Flows/{flow_sid}/Executions", "executions", params,
                          f"/{self.v}/Flows/{{FlowSid}}/Executions")

    def execution(self, flow_sid: str, sid: str) -> dict | None:
        try:
            return self.http.get_json(f"/{self.v}/Flows/{flow_sid}/Executions/{sid}",
                                      endpoint=f"/{self.v}/Flows/{{FlowSid}}/Executions/{{Sid}}",
                                      expect=an_object)
        except NotFoundError:
            return None

    def steps(self, flow_sid: str, sid: str) -> list[dict] | None:
        """Every step of an execution; None when the execution is gone."""
        path = f"/{self.v}/Flows/{flow_sid}/Executions/{sid}/Steps"
        try:
            return [s for page in self.pages(path, "steps", {"PageSize": PAGE_SIZE},
                                             f"/{self.v}/Flows/{{FlowSid}}/Executions/{{ExecutionSid}}/Steps")
                    for s in page]
        except NotFoundError:
            return None
