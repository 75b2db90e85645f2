"""Validation of real HTTP exchanges against the official OpenAPI specs in ../shared/specs.

openapi-core has no httpx adapter; the two small classes here give it what its request
and response protocols ask for. Requests are matched against the spec's own servers
(Twilio: https://studio.twilio.com; Hilos: https://api.hilos.io, as the Hilos docs say:
the merged spec's server entry is a leftover from another product).
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"
HILOS_SERVER = "https://api.hilos.io"
TWILIO_SERVER = "https://studio.twilio.com"


def specs_at_hand() -> None:
    """The official specs live beside the repository (../shared/specs), which a clone of it
    alone does not have: there the conformance tests skip, saying so; in CI, which has
    them, they must run."""
    if SPECS.is_dir():
        return
    problem = f"the official OpenAPI specs are not at {SPECS} (they live beside the repository)"
    if os.environ.get("CI"):
        pytest.fail(f"spec conformance is required in CI: {problem}")
    pytest.skip(f"{problem}: spec conformance not checked")


@cache
def spec(name: str) -> OpenAPI:
    """The named spec (twilio_studio_v1, twilio_studio_v2, hilos), loaded once."""
    specs_at_hand()
    if name == "hilos":
        doc = json.loads((SPECS / "hilos_flows_openapi.json").read_text())
        doc["servers"] = [{"url": HILOS_SERVER}]
        # the spec names the header "Token"; the api (and its own description) uses
        # "Authorization: Token <token>"
        doc["components"]["securitySchemes"]["tokenAuth"]["name"] = "Authorization"
        return OpenAPI.from_dict(doc)
    return OpenAPI.from_file_path(str(SPECS / f"{name}.json"))


def spec_for(path: str) -> tuple[OpenAPI, str]:
    if path.startswith("/v1/"):
        return spec("twilio_studio_v1"), TWILIO_SERVER
    if path.startswith("/v2/"):
        return spec("twilio_studio_v2"), TWILIO_SERVER
    return spec("hilos"), HILOS_SERVER


class OpenAPIRequest:
    """An httpx request as openapi-core sees it, on the spec's server."""

    def __init__(self, request: httpx.Request, host_url: str) -> None:
        self._request = request
        self.host_url = host_url
        self.path = request.url.path
        self.method = request.method.lower()
        self.full_url_pattern = host_url + self.path
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(request.url.query.decode(), keep_blank_values=True)),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "application/json").lower()


class OpenAPIResponse:
    """An httpx response as openapi-core sees it."""

    def __init__(self, response: httpx.Response) -> None:
        self.data = response.content
        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "").lower()
        self.headers = Headers(dict(response.headers))


def validate_response(response: httpx.Response) -> None:
    """Raises if the response does not match its operation's response schema."""
    api, host = spec_for(response.request.url.path)
    api.validate_response(OpenAPIRequest(response.request, host), OpenAPIResponse(response))


def validate_request(request: httpx.Request) -> None:
    """Raises if the request's path and parameters do not match the spec."""
    api, host = spec_for(request.url.path)
    api.validate_request(OpenAPIRequest(request, host))
