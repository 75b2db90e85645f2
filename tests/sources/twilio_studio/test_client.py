"""Twilio paging and credentials, with httpx.MockTransport."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sources.errors import PagingError
from sources.twilio_studio import make_http
from sources.twilio_studio.client import TwilioClient

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
FLOW = "FW" + "a" * 32


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_next_page_url_is_followed_on_our_base_url() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        token = request.url.params.get("PageToken")
        nxt = (None if token else
               f"https://studio.twilio.com/v2/Flows/{FLOW}/Executions?PageSize=1000&Page=1&PageToken=PT1")
        return httpx.Response(200, json={"executions": [{"sid": token or "first"}],
                                         "meta": {"next_page_url": nxt}})

    http = make_http(account_sid="AC1", auth_token="t", base_url="http://127.0.0.1:9",
                     transport=httpx.MockTransport(handler))
    pages = list(TwilioClient(http, "v2").execution_pages(FLOW, at(0)))
    assert pages == [([{"sid": "first"}], True), ([{"sid": "PT1"}], False)]
    assert seen == [
        f"http://127.0.0.1:9/v2/Flows/{FLOW}/Executions?PageSize=1000&DateCreatedFrom=2026-11-01T12%3A00%3A00Z",
        f"http://127.0.0.1:9/v2/Flows/{FLOW}/Executions?PageSize=1000&Page=1&PageToken=PT1",
    ]
    # the rest of a paused read: DateCreatedTo, exclusive, in whole seconds
    seen.clear()
    list(TwilioClient(http, "v2").execution_pages(FLOW, None, at(90)))
    assert seen[0] == (f"http://127.0.0.1:9/v2/Flows/{FLOW}/Executions?PageSize=1000"
                       "&DateCreatedTo=2026-11-01T13%3A30%3A00Z")


@pytest.mark.parametrize("link_host", ["https://studio.twilio.com", "http://proxy.test/twilio"])
def test_a_base_url_with_a_path_prefix_keeps_it_once_on_next_pages(link_host: str) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        token = request.url.params.get("PageToken")
        nxt = None if token else f"{link_host}/v2/Flows?PageSize=50&Page=1&PageToken=PT1"
        return httpx.Response(200, json={"flows": [{"sid": token or "first"}],
                                         "meta": {"next_page_url": nxt}})

    http = make_http(account_sid="AC1", auth_token="t", base_url="http://proxy.test/twilio",
                     transport=httpx.MockTransport(handler))
    list(TwilioClient(http, "v2").pages("/v2/Flows", "flows", {"PageSize": 50}, "/v2/Flows"))
    assert seen == ["http://proxy.test/twilio/v2/Flows?PageSize=50",
                    "http://proxy.test/twilio/v2/Flows?PageSize=50&Page=1&PageToken=PT1"]


def test_api_key_wins_over_the_auth_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"flows": [], "meta": {"next_page_url": None}})

    http = make_http(account_sid="AC1", auth_token="tok", api_key_sid="SK1",
                     api_key_secret="sec", transport=httpx.MockTransport(handler))
    TwilioClient(http, "v2").flows()
    assert seen[0].headers["Authorization"] == httpx.BasicAuth("SK1", "sec")._auth_header


def test_missing_credentials_name_the_settings() -> None:
    with pytest.raises(ValueError, match=r"set sources\.twilio_studio\.account_sid and auth_token"):
        make_http(account_sid="AC1")


@pytest.mark.parametrize("link", [
    "https://studio.twilio.com/v2/Flows/{flow}/Executions/FNx/Steps?PageSize=1000&Page=0",
    "https://studio.twilio.com/v2/Flows/{flow}/Executions/FNx/Steps?Page=0&PageSize=1000",
    "https://studio.twilio.com/v2/Flows/{flow}/Executions/FNx/Steps/?PageSize=1000",
])
def test_a_first_page_that_links_to_itself_in_another_spelling_is_not_read_twice(
        link: str) -> None:
    """Issue 22: a first Steps page whose next link was its own URL spelled as Twilio's
    `meta.url` spells it (`Page=0`) was read again and its steps stored twice."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"steps": [{"sid": "FT1"}, {"sid": "FT2"}],
                                         "meta": {"next_page_url": link.format(flow=FLOW)}})

    http = make_http(account_sid="AC1", auth_token="t", base_url="http://127.0.0.1:9",
                     transport=httpx.MockTransport(handler))
    pages = TwilioClient(http, "v2").pages(f"/v2/Flows/{FLOW}/Executions/FNx/Steps", "steps",
                                           {"PageSize": 1000}, "/Steps")
    assert [s["sid"] for s in next(pages)] == ["FT1", "FT2"]
    with pytest.raises(PagingError, match="the next-page link repeats a page already read"):
        next(pages)
    assert len(seen) == 1


def test_a_page_whose_rows_are_the_page_before_s_stops_the_listing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("Page", "0"))
        return httpx.Response(200, json={"steps": [{"sid": "FT1"}], "meta": {
            "next_page_url": f"https://studio.twilio.com/v2/X?PageSize=1&Page={page + 1}"}})

    http = make_http(account_sid="AC1", auth_token="t", base_url="http://127.0.0.1:9",
                     transport=httpx.MockTransport(handler))
    pages = TwilioClient(http, "v2").pages("/v2/X", "steps", {"PageSize": 1}, "/v2/X")
    assert next(pages) == [{"sid": "FT1"}]
    with pytest.raises(PagingError, match="a page repeats the page before"):
        next(pages)
