"""The shared HTTP client: retries, backoff, Retry-After, clear errors, no secrets."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from sources.errors import ApiError, AuthError, NotFoundError, Outcome, ShapeError
from sources.http import HttpClient, an_object, page_of

SECRET = "s3cret-token-value"


def make(handler, **options) -> tuple[HttpClient, list[float]]:
    sleeps: list[float] = []
    client = HttpClient("https://api.example.test", service="Example",
                        auth_hint="sources.example.token", headers={"Authorization": SECRET},
                        transport=httpx.MockTransport(handler), sleep=sleeps.append, **options)
    return client, sleeps


def scripted(*steps):
    """A handler answering each request with the next step (a Response or an exception)."""
    seen: list[httpx.Request] = []
    queue = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = queue.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    return handler, seen


def test_retry_after_is_honoured_then_the_request_succeeds() -> None:
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "7"}),
                             httpx.Response(200, json={"ok": True}))
    client, sleeps = make(handler)
    assert client.get_json("/things", {"page": 2}) == {"ok": True}
    assert [str(r.url) for r in seen] == ["https://api.example.test/things?page=2"] * 2
    assert len(sleeps) == 1 and 7 <= sleeps[0] <= 7.5
    assert client.requests == {"/things": 2} and client.retries == {"/things": 1}


def test_backoff_doubles_with_jitter_on_5xx_timeouts_drops_and_truncated_json() -> None:
    handler, seen = scripted(
        httpx.Response(503), httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.Response(200, content=b'{"results": [1, 2'),
        httpx.Response(200, json={"results": [1, 2, 3]}))
    client, sleeps = make(handler, backoff_base=1.0, backoff_max=100)
    assert client.get_json("/list") == {"results": [1, 2, 3]}
    assert len(seen) == 5
    # equal jitter: each wait lies in [ceiling/2, ceiling] with the ceiling doubling
    for attempt, delay in enumerate(sleeps, start=1):
        ceiling = 2 ** (attempt - 1)
        assert ceiling / 2 <= delay <= ceiling


def test_attempts_are_bounded_and_the_error_names_endpoint_and_status() -> None:
    handler, seen = scripted(*[httpx.Response(502)] * 4)
    client, _ = make(handler, max_attempts=4)
    with pytest.raises(ApiError) as err:
        client.get_json("/v2/Flows/FW1/Executions", endpoint="/v2/Flows/{FlowSid}/Executions")
    assert len(seen) == 4
    assert err.value.status == 502
    assert str(err.value) == ("Example: GET /v2/Flows/{FlowSid}/Executions failed after 4 "
                              "attempts; last: HTTP 502")


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_immediate_names_the_setting_and_hides_the_secret(status: int) -> None:
    handler, seen = scripted(httpx.Response(status, json={"detail": "Invalid token."}))
    client, sleeps = make(handler)
    with pytest.raises(AuthError) as err:
        client.get_json("/things")
    assert len(seen) == 1 and sleeps == []
    assert "check sources.example.token" in str(err.value)
    assert f"HTTP {status}" in str(err.value)
    assert SECRET not in repr(err.value) and SECRET not in str(err.value)


def test_other_client_errors_fail_at_once_with_the_body() -> None:
    handler, seen = scripted(httpx.Response(400, json={"code": 20001, "message": "Invalid PageSize"}))
    client, _ = make(handler)
    with pytest.raises(ApiError, match=r"GET /things answered HTTP 400: .*Invalid PageSize"):
        client.get_json("/things")
    assert len(seen) == 1


def test_404_is_its_own_error() -> None:
    handler, _ = scripted(httpx.Response(404, json={"detail": "Not found."}))
    client, _ = make(handler)
    with pytest.raises(NotFoundError):
        client.get_json("/things/1")


def test_connection_refused_is_retried_then_reported_without_secrets() -> None:
    handler, seen = scripted(*[httpx.ConnectError("[Errno 111] Connection refused")] * 3)
    client, _ = make(handler, max_attempts=3)
    with pytest.raises(ApiError) as err:
        client.get_json("/things")
    assert len(seen) == 3
    assert "connection failed (ConnectError: [Errno 111] Connection refused)" in str(err.value)
    assert SECRET not in str(err.value)


def test_long_retry_after_is_capped_and_http_dates_are_understood() -> None:
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": "86400"}),
                          httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
                          httpx.Response(200, json=[]))
    client, sleeps = make(handler, retry_after_max=60)
    assert client.get_json("/x") == []
    assert 60 <= sleeps[0] <= 60.5
    assert 0 <= sleeps[1] <= 0.5  # a date in the past: retry at once


def test_params_do_not_erase_the_query_of_an_absolute_url() -> None:
    handler, seen = scripted(httpx.Response(200, json={}), httpx.Response(200, json={}))
    client, _ = make(handler)
    client.get_json("https://api.example.test/list?PageToken=PT1&Page=1")
    client.get_json("https://api.example.test/list?PageToken=PT1&Page=1", {})
    assert [r.url.query for r in seen] == [b"PageToken=PT1&Page=1"] * 2


def test_integers_beyond_64_bits_keep_their_value() -> None:
    body = b'{"n": 123456789012345678901234567890, "s": "caf\xc3\xa9"}'
    handler, seen = scripted(httpx.Response(200, content=body))
    client, sleeps = make(handler)
    assert client.get_json("/big") == {"n": 123456789012345678901234567890, "s": "café"}
    assert len(seen) == 1 and sleeps == []


MAINTENANCE = httpx.Response(200, html="<html><body><h1>Down for maintenance</h1></body></html>")
OTHER_JSON = httpx.Response(200, json={"status": "maintenance", "message": "back soon"})


def test_a_200_that_is_not_the_apis_shape_is_retried_like_a_503() -> None:
    handler, seen = scripted(MAINTENANCE, OTHER_JSON, httpx.Response(200, json=[1]),
                             httpx.Response(200, json={"results": [1, 2]}))
    client, sleeps = make(handler)
    assert client.get_json("/list", expect=page_of("results")) == {"results": [1, 2]}
    assert len(seen) == 4 and len(sleeps) == 3
    assert client.retries == {"/list": 3}


@pytest.mark.parametrize("answer,last", [
    (MAINTENANCE, "HTTP 200 with a text/html body, not the API's JSON"),
    (OTHER_JSON, "HTTP 200 not in the API's shape: expected a page with the list `results`, "
                 "got an object without the list `results`"),
])
def test_a_wrong_shape_that_persists_is_a_shape_error_naming_the_endpoint(
        answer: httpx.Response, last: str) -> None:
    handler, seen = scripted(*[answer] * 3)
    client, _ = make(handler, max_attempts=3)
    with pytest.raises(ShapeError) as err:
        client.get_json("/v2/Flows/FW1/Executions", endpoint="/v2/Flows/{FlowSid}/Executions",
                        expect=page_of("results"))
    assert len(seen) == 3
    assert str(err.value) == (f"Example: GET /v2/Flows/{{FlowSid}}/Executions failed after 3 "
                              f"attempts; last: {last}")
    assert err.value.endpoint == "/v2/Flows/{FlowSid}/Executions"
    assert err.value.outcome is Outcome.FAILED  # the API's fault: exit 1, not configuration


def test_a_single_resource_must_be_an_object() -> None:
    handler, _ = scripted(*[httpx.Response(200, json=["x"])] * 2)
    client, _ = make(handler, max_attempts=2)
    with pytest.raises(ShapeError, match="expected an object, got a JSON list"):
        client.get_json("/thing", expect=an_object)


def test_redirects_are_followed_with_credentials_only_on_the_apis_host() -> None:
    handler, seen = scripted(
        httpx.Response(301, headers={"Location": "/v2/moved?page=2"}),
        httpx.Response(302, headers={"Location": "https://api.example.test/v2/final"}),
        httpx.Response(200, json={"results": [1]}))
    client, sleeps = make(handler)
    assert client.get_json("/v2/things", expect=page_of("results")) == {"results": [1]}
    assert [str(r.url) for r in seen] == ["https://api.example.test/v2/things",
                                          "https://api.example.test/v2/moved?page=2",
                                          "https://api.example.test/v2/final"]
    assert all(r.headers["Authorization"] == SECRET for r in seen)
    assert sleeps == [] and client.requests == {"/v2/things": 1}


def test_a_redirect_to_another_host_carries_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    handler, _ = scripted(httpx.Response(307, headers={"Location": "https://cdn.other.test/x"}))
    client, _ = make(handler)
    elsewhere: list[httpx.Request] = []

    def bare_get(url: str, **options) -> httpx.Response:
        request = httpx.Request("GET", url)
        elsewhere.append(request)
        return httpx.Response(200, json={"results": []}, request=request)

    monkeypatch.setattr(httpx, "get", bare_get)
    assert client.get_json("/v2/things") == {"results": []}
    assert [str(r.url) for r in elsewhere] == ["https://cdn.other.test/x"]
    assert "Authorization" not in elsewhere[0].headers


def test_a_redirect_without_a_location_is_an_api_error() -> None:
    handler, seen = scripted(httpx.Response(302))
    client, sleeps = make(handler)
    with pytest.raises(ApiError, match="answered HTTP 302 without a Location"):
        client.get_json("/v2/things")
    assert len(seen) == 1 and sleeps == []


def test_the_apis_clock_comes_from_its_date_header() -> None:
    handler, _ = scripted(httpx.Response(200, json={}, headers={
        "Date": "Sun, 01 Nov 2026 12:00:00 GMT"}))
    client, _ = make(handler)
    assert client.server_time is None
    client.get_json("/x")
    assert client.server_time == datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_a_retry_that_starts_sleeping_after_the_stop_does_not_sleep() -> None:
    """dlt's `signals.sleep` clears its wake-up event: a worker thread whose retry began
    after SIGTERM slept the whole Retry-After before it saw the stop."""
    import signal
    import threading
    import time

    from dlt.common.runtime import signals

    from sources.http import stoppable_sleep

    t0 = time.monotonic()
    stoppable_sleep(0.2)
    assert 0.2 <= time.monotonic() - t0 < 1
    signals.set_received_signal(signal.SIGTERM)
    try:
        t0 = time.monotonic()
        stoppable_sleep(30)  # the signal came before this sleep began
        assert time.monotonic() - t0 < 0.5
    finally:
        signals._clear_signals()
    # and a sleep under way wakes within a slice when the signal comes
    woke: list[float] = []
    sleeper = threading.Thread(target=lambda: (stoppable_sleep(30), woke.append(time.monotonic())))
    sleeper.start()
    time.sleep(0.2)
    signals.set_received_signal(signal.SIGINT)
    try:
        sent = time.monotonic()
        sleeper.join(timeout=5)
        assert woke and woke[0] - sent < 0.5
    finally:
        signals._clear_signals()


def test_a_body_that_is_not_its_content_coding_is_retried() -> None:
    # httpx raises DecodingError on reading it, which is not a TransportError: it crashed
    handler, seen = scripted(
        httpx.Response(200, headers={"Content-Encoding": "gzip"},
                       stream=httpx.ByteStream(b'{"a": 1}')),
        httpx.Response(200, json={"a": 2}))
    client, sleeps = make(handler)
    assert client.get_json("/x") == {"a": 2}
    assert len(seen) == 2 and len(sleeps) == 1
