"""The HTTP layer both sources share: GETs with retries and clear errors, on httpx's types.

Retries with exponential backoff and jitter on 429, 5xx, timeouts, dropped connections,
truncated JSON bodies and 200 answers that are not the API's shape (a proxy's HTML
maintenance page, JSON without the list key), honouring `Retry-After`; a bounded number
of attempts, then an `ApiError` (`ShapeError` for the wrong shape) naming the endpoint and
the last status. 401/403 fail at once with an `AuthError` naming the setting to fix.
Redirects are followed (credentials only to the API's own host); a redirect without a
Location is an `ApiError`. Credentials travel only in headers, and no message this module
writes includes a header.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
from dlt.common.runtime import signals

from .bodies import Answer, Shape, an_object, answer_of, page_of, parse, snippet
from .concurrency import AdaptiveLimit
from .errors import ApiError, AuthError, NotFoundError, ShapeError
from .transport import StdlibTransport, default_transport

__all__ = ["HttpClient", "Shape", "an_object", "page_of"]

log = logging.getLogger("flowsync.http")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
try:
    USER_AGENT = f"flowsync/{version('flowsync')}"
except PackageNotFoundError:  # run from a checkout that was not installed
    USER_AGENT = "flowsync"


_NAP = threading.Event()  # never set: waited on in slices


def stoppable_sleep(seconds: float) -> None:
    """Sleeps, or less once SIGINT/SIGTERM was received (whenever it came, before this
    sleep too). dlt's `signals.sleep` clears its wake-up event first: a thread that goes
    to sleep after the signal, as a retry does in any of many worker threads, slept the
    whole delay (up to Retry-After) before it saw the stop."""
    deadline = time.monotonic() + seconds
    while not signals.was_signal_received():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        _NAP.wait(min(left, 0.1))


class HttpClient:
    """GETs with retries for one API, through an httpx transport (`sources.transport`).

    Args:
        base_url: the API's root, e.g. https://api.hilos.io.
        service: the API's name in messages ("Hilos", "Twilio Studio").
        auth_hint: what to fix on 401/403, e.g. "sources.hilos.api_token".
        auth: (user, password) for basic auth (Twilio), if any.
        headers: extra headers (Hilos' token header), if any.
        timeout: seconds for each read; connecting gets at most 10.
        max_attempts: tries per request, the first included.
        backoff_base: seconds before the second try; doubles each time.
        backoff_max: the longest wait between tries without a Retry-After.
        retry_after_max: the longest Retry-After honoured; longer ones are capped.
        max_connections: the pool size where httpx's own transport is used (a proxy from
            the environment); the default transport keeps a connection per thread.
        transport: an httpx transport, for tests (httpx.MockTransport); by default
            `sources.transport.StdlibTransport` (a keep-alive connection per thread).
        concurrency: an adaptive limit on requests in flight (`sources.concurrency`), fed
            with every answer; None: the callers' threads are the limit.
        sleep: the waiting function, for tests; by default a wait that SIGINT or SIGTERM
            cuts short.

    Once the process has received SIGINT or SIGTERM (flowsync intercepts them for the
    whole run), no new attempt starts: dlt's `SignalReceivedException` is raised instead.
    """

    def __init__(self, base_url: str, *, service: str, auth_hint: str,
                 auth: tuple[str, str] | None = None,
                 headers: Mapping[str, str] | None = None, timeout: float = 30.0,
                 max_attempts: int = 6, backoff_base: float = 0.5, backoff_max: float = 30.0,
                 retry_after_max: float = 300.0, max_connections: int = 10,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] | None = None,
                 concurrency: AdaptiveLimit | None = None) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")  # a programming error
        self.service = service
        self.auth_hint = auth_hint
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self._sleep = sleep or stoppable_sleep
        self.concurrency = concurrency
        self._rng = random.Random()
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self._last_date: str | None = None  # the `Date` header of the API's last answer
        self._base_text = base_url.rstrip("/")
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0)).as_dict()
        self._headers = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate",
                         "User-Agent": USER_AGENT, **dict(headers or {})}
        if auth is not None:
            user, password = auth
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {token}"
        self._transport = transport or default_transport(self._base_text, max_connections)
        self._lean = self._transport if isinstance(self._transport, StdlibTransport) else None
        self._origin = _origin(self._base_text)

    @property
    def base_path(self) -> str:
        """The base URL's path prefix ("" for none), e.g. /twilio behind a proxy."""
        return urlsplit(self._base_text).path.rstrip("/")

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def request_count(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def get_json(self, url: str, params: Mapping[str, Any] | None = None,
                 *, endpoint: str | None = None, expect: Shape | None = None) -> Any:
        """GETs a URL (a path under base_url, or an absolute next-page URL) and parses JSON.

        Args:
            url: path or absolute URL.
            params: query parameters (added to any the URL already has).
            endpoint: the name counted and used in messages; default the URL's path.
            expect: the body's shape; a 200 of another shape is retried like a 503.

        Raises:
            AuthError: on 401/403.
            NotFoundError: on 404.
            ShapeError: when the answers kept coming in another shape, after retries.
            ApiError: on any other failure, after retries where they make sense.
        """
        name = endpoint or urlsplit(url).path
        last_problem = ""
        last_status: int | None = None
        for attempt in range(1, self.max_attempts + 1):
            signals.raise_if_signalled()
            with self._lock:
                self.requests[name] += 1
            retry_after: float | None = None
            wrong_shape = False
            try:
                # httpx replaces the url's own query when given params={}: pass None then
                resp = self._limited(url, dict(params) if params else None, name)
            except httpx.TimeoutException as exc:
                last_problem, last_status = f"timed out ({type(exc).__name__})", None
            except (httpx.TransportError, httpx.DecodingError) as exc:
                last_problem, last_status = f"connection failed ({type(exc).__name__}: {exc})", None
            else:
                last_status = resp.status_code
                if resp.status_code in (401, 403):
                    raise AuthError(
                        f"{self.service} rejected the credentials (HTTP {resp.status_code}) on "
                        f"GET {name}: check {self.auth_hint}", endpoint=name,
                        status=resp.status_code)
                if resp.status_code == 404:
                    raise NotFoundError(f"{self.service}: GET {name} answered 404 Not Found",
                                        endpoint=name, status=404)
                if resp.status_code in RETRY_STATUSES:
                    last_problem = f"HTTP {resp.status_code}"
                    retry_after = self._retry_after(resp)
                elif resp.status_code >= 400:
                    raise ApiError(
                        f"{self.service}: GET {name} answered HTTP {resp.status_code}: "
                        f"{snippet(resp)}", endpoint=name, status=resp.status_code)
                else:
                    body, last_problem, wrong_shape = parse(resp, expect)
                    if not last_problem:
                        self._last_date = resp.headers.get("date")
                        return body
            if attempt == self.max_attempts:
                break
            delay = self._delay(attempt, retry_after)
            with self._lock:
                self.retries[name] += 1
            log.info("%s: GET %s %s; retry %d/%d in %.1fs", self.service, name, last_problem,
                     attempt, self.max_attempts - 1, delay)
            self._sleep(delay)
        error = ShapeError if wrong_shape else ApiError
        raise error(f"{self.service}: GET {name} failed after {self.max_attempts} attempts; "
                    f"last: {last_problem}", endpoint=name, status=last_status)

    def _limited(self, url: str, params: dict | None, name: str) -> Answer:
        """One attempt, inside a slot of the adaptive limit when there is one; the answer
        moves the limit (a 429 down, a fast answer up)."""
        if self.concurrency is None:
            return self._follow(url, params, name)
        with self.concurrency.slot() as started:
            resp = self._follow(url, params, name)
        if resp.status_code == 429:
            self.concurrency.throttled(started)
        else:
            self.concurrency.answered(started)
        return resp

    def _follow(self, url: str, params: dict | None, name: str) -> Answer:
        """GET, following redirects (up to MAX_REDIRECTS): the credentials go only to the
        API's own host; another host gets a request without them."""
        resp = self._get(self._url(url, params))
        for _ in range(MAX_REDIRECTS):
            if resp.status_code not in REDIRECTS:
                return resp
            location = resp.headers.get("location")
            if not location:
                raise ApiError(f"{self.service}: GET {name} answered HTTP {resp.status_code} "
                               "without a Location to follow", endpoint=name,
                               status=resp.status_code)
            if _origin(target := urljoin(resp.url, location)) == self._origin:
                resp = self._get(target)
            else:
                log.info("%s: GET %s redirected to another host; followed without credentials",
                         self.service, name)
                resp = answer_of(httpx.get(target, timeout=httpx.Timeout(**self._timeout),
                                           follow_redirects=False))
        raise ApiError(f"{self.service}: GET {name}: more than {MAX_REDIRECTS} redirects",
                       endpoint=name, status=resp.status_code)

    def _url(self, url: str, params: dict | None) -> str:
        """An absolute URL as it is; a path under the base URL; params added to its query."""
        target = url if url.startswith(("http://", "https://")) else f"{self._base_text}{url}"
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        return target

    def _get(self, url: str) -> Answer:
        """One GET: the standard-library transport's lean path, else httpx's request and
        response types (without httpx.Client's per-request merging: a third of its CPU)."""
        if self._lean is not None:
            return self._lean.get(url, self._headers, self._timeout)
        request = httpx.Request("GET", url, headers=self._headers,
                                extensions={"timeout": self._timeout})
        resp = self._transport.handle_request(request)
        resp.request = request
        resp.read()
        return answer_of(resp)

    @property
    def server_time(self) -> datetime | None:
        """The API's clock, from the `Date` header of its last answer (None until one came
        or when it had none); parsed only when asked, not on every request."""
        try:
            when = email.utils.parsedate_to_datetime(self._last_date) if self._last_date else None
        except (TypeError, ValueError):
            return None
        return when if when is None or when.tzinfo else when.replace(tzinfo=UTC)

    def _retry_after(self, resp: Answer) -> float | None:
        raw = resp.headers.get("retry-after")
        if raw is None:
            return None
        try:
            seconds = float(raw)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(raw) if raw else None
            if parsed is None:
                return None
            seconds = parsed.timestamp() - time.time()
        return min(max(0.0, seconds), self.retry_after_max)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            # a little jitter so concurrent workers do not return in lockstep
            return retry_after + self._rng.uniform(0, min(1.0, self.backoff_base))
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(ceiling / 2, ceiling)


def _origin(url: str) -> tuple[str, str, int]:
    """Where a URL points: scheme, host and port (the scheme's own when none is given)."""
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
