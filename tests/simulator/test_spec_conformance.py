"""Every simulator response validates against the official spec of its operation.

The validator is openapi-core; because Twilio's specs declare `nullable` without `type`
in places (which makes some validators skip whole schemas), the first tests prove that
invalid responses really are rejected.
"""

from __future__ import annotations

import httpx
import pytest
from openapi_core.exceptions import OpenAPIError

from simulator import Simulator
from tests.openapi import validate_request, validate_response
from tests.worlds import hilos_client, small_config, twilio_client

FN = "FN" + "a" * 32


@pytest.mark.parametrize("body", [
    {"sid": "XX1", "status": "ended"},
    {"sid": FN, "status": "finished"},
    {"sid": FN, "status": "ended", "date_created": "yesterday"},
    {"sid": FN, "status": "ended", "flow_sid": "FWnothex"},
], ids=["bad-sid", "bad-status", "bad-date", "bad-flow-sid"])
def test_validator_rejects_an_invalid_twilio_execution(body: dict) -> None:
    request = httpx.Request("GET", f"https://studio.twilio.com/v2/Flows/FW{'a' * 32}/Executions/{FN}")
    with pytest.raises(OpenAPIError):
        validate_response(httpx.Response(200, json=body, request=request))


def test_validator_rejects_an_invalid_hilos_contact_page() -> None:
    request = httpx.Request("GET", "https://api.hilos.io/channel/whatsapp/flow-execution-contact")
    body = {"count": 1, "next": None, "previous": None,
            "results": [{"id": "x", "status": "DONE", "contact": {}, "flow_name": "f",
                         "status_reason": None}]}
    with pytest.raises(OpenAPIError):
        validate_response(httpx.Response(200, json=body, request=request))


def test_validator_rejects_an_out_of_range_page_size() -> None:
    with pytest.raises(OpenAPIError):
        validate_request(httpx.Request(
            "GET", f"https://studio.twilio.com/v2/Flows/FW{'a' * 32}/Executions?PageSize=1001"))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_every_twilio_operation_matches_the_spec(sim: Simulator, version: str) -> None:
    world = sim.world
    flow = world.twilio_flows[0]
    retained = world.twilio_retained(flow)
    ended = next(e for e in retained if e.ended_at <= world.now)
    active = next(e for e in retained if e.ended_at > world.now)
    with twilio_client(sim) as t:
        responses = [
            t.get(f"/{version}/Flows", params={"PageSize": 2}),
            t.get(f"/{version}/Flows/{flow.sid}"),
            t.get(f"/{version}/Flows/{flow.sid}/Executions", params={"PageSize": 1000}),
            t.get(f"/{version}/Flows/{flow.sid}/Executions",
                  params={"PageSize": 5, "DateCreatedFrom": "2026-10-20T00:00:00Z",
                          "DateCreatedTo": "2026-10-25T00:00:00+02:00"}),
            t.get(f"/{version}/Flows/{flow.sid}/Executions/{ended.sid}"),
            t.get(f"/{version}/Flows/{flow.sid}/Executions/{active.sid}"),
            t.get(f"/{version}/Flows/{flow.sid}/Executions/{ended.sid}/Steps"),
            t.get(f"/{version}/Flows/{flow.sid}/Executions/{active.sid}/Steps",
                  params={"PageSize": 1}),
        ]
        page = t.get(f"/{version}/Flows/{flow.sid}/Executions", params={"PageSize": 3}).json()
        responses.append(t.get(page["meta"]["next_page_url"]))
        flows = t.get(f"/{version}/Flows", params={"PageSize": 1}).json()
        responses.append(t.get(flows["meta"]["next_page_url"]))
    for resp in responses:
        assert resp.status_code == 200, resp.request.url
        validate_request(resp.request)
        validate_response(resp)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_filled_contexts_and_the_context_and_step_endpoints_match_the_spec(version: str) -> None:
    with Simulator(small_config(spec_shapes=True)) as sim, twilio_client(sim) as t:
        flow = sim.world.twilio_flows[0]
        ended = next(e for e in sim.world.twilio_retained(flow) if e.ended_at <= sim.world.now)
        base = f"/{version}/Flows/{flow.sid}/Executions/{ended.sid}"
        execution = t.get(base)
        steps = t.get(f"{base}/Steps")
        step_sid = steps.json()["steps"][0]["sid"]
        responses = [execution, steps, t.get(f"{base}/Context"),
                     t.get(f"{base}/Steps/{step_sid}"), t.get(f"{base}/Steps/{step_sid}/Context")]
        for resp in responses:
            assert resp.status_code == 200, resp.request.url
            validate_request(resp.request)
            validate_response(resp)
        context = execution.json()["context"]
        assert set(context) == {"flow", "trigger", "widgets"} and context["flow"]["variables"]
        assert responses[2].json()["context"] == context
        assert responses[3].json() == steps.json()["steps"][0]
        assert t.get(f"{base}/Steps/ST{'0' * 32}").status_code == 404


def test_every_hilos_operation_matches_the_spec(sim: Simulator) -> None:
    world = sim.world
    batch = world.hilos_batches[0]
    with hilos_client(sim) as h:
        responses = [
            h.get("/channel/whatsapp/flow-execution"),
            h.get("/channel/whatsapp/flow-execution", params={"flow": world.hilos_flows[0].id}),
            h.get(f"/channel/whatsapp/flow-execution/{batch.id}"),
            h.get("/channel/whatsapp/flow-execution-contact", params={"page_size": 500}),
            h.get("/channel/whatsapp/flow-execution-contact",
                  params={"flow_execution": batch.id, "is_active": "false"}),
            h.post(f"/channel/whatsapp/flow/{world.hilos_flows[0].id}/run",
                   json={"execute_for": "LIST", "contact_list": [{"phone": "+5215511112222"}]}),
        ]
        first = h.get("/channel/whatsapp/flow-execution-contact", params={"page_size": 100})
        responses.append(h.get(first.json()["next"]))
        # a canceled batch renders status_triggered_by as an int in the list
        sim.advance(3 * 86_400, new_twilio=0, new_hilos=200)
        responses.extend(h.get("/channel/whatsapp/flow-execution", params={"page": p})
                         for p in (1, 2))
    for resp in responses:
        assert resp.status_code in (200, 201), resp.request.url
        validate_request(resp.request)
        validate_response(resp)
