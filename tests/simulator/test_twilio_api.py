"""The simulated Twilio Studio API over real HTTP: paging, filters, auth, retention, steps."""

from __future__ import annotations

import itertools

import httpx
import pytest

from simulator import Simulator
from simulator.world import DAY, TWILIO_RETENTION_SECONDS, twilio_time
from tests.worlds import twilio_client


def all_pages(client: httpx.Client, url: str, key: str, **params) -> tuple[list[dict], int]:
    """Every row of a list, following meta.next_page_url; also the number of requests."""
    rows, requests = [], 0
    next_url: str | None = url
    while next_url:
        resp = client.get(next_url, params=params or None) if requests == 0 else client.get(next_url)
        resp.raise_for_status()
        requests += 1
        body = resp.json()
        rows.extend(body[key])
        next_url = body["meta"]["next_page_url"]
    return rows, requests


def retained_truth(sim: Simulator, flow_sid: str) -> list[str]:
    flow = sim.world.twilio_flow(flow_sid)
    return [e.sid for e in sim.world.twilio_retained(flow)]


def test_flows_list_shows_every_flow(sim: Simulator, twilio: httpx.Client) -> None:
    flows, _ = all_pages(twilio, "/v2/Flows", "flows", PageSize=2)
    assert sorted(f["sid"] for f in flows) == sorted(f.sid for f in sim.world.twilio_flows)
    assert all(f["definition"] is None for f in flows)


def test_flow_fetch_has_the_widget_graph(sim: Simulator, twilio: httpx.Client) -> None:
    flow = sim.world.twilio_flows[0]
    body = twilio.get(f"/v2/Flows/{flow.sid}").json()
    states = {s["name"] for s in body["definition"]["states"]}
    assert states == set(flow.graph)
    assert body["definition"]["initial_state"] == "Trigger"


@pytest.mark.parametrize("page_size", [1000, 7])
def test_executions_pages_cover_retention_exactly_once_newest_first(
        sim: Simulator, twilio: httpx.Client, page_size: int) -> None:
    flow = sim.world.twilio_flows[0]
    rows, requests = all_pages(twilio, f"/v2/Flows/{flow.sid}/Executions", "executions",
                               PageSize=page_size)
    truth = retained_truth(sim, flow.sid)
    assert sorted(r["sid"] for r in rows) == sorted(truth)
    assert len(rows) == len({r["sid"] for r in rows})
    assert requests == max(1, -(-len(truth) // page_size))
    keys = [(r["date_created"], r["sid"]) for r in rows]
    assert keys == sorted(keys, reverse=True)


def test_page_token_is_stable_when_executions_arrive_between_pages(
        sim: Simulator, twilio: httpx.Client) -> None:
    flow = sim.world.twilio_flows[0]
    first = twilio.get(f"/v2/Flows/{flow.sid}/Executions", params={"PageSize": 50}).json()
    before = retained_truth(sim, flow.sid)
    sim.advance(60, new_twilio=30, new_hilos=0)
    rest, _ = all_pages(twilio, first["meta"]["next_page_url"], "executions")
    seen = [r["sid"] for r in first["executions"] + rest]
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(before)


@pytest.mark.parametrize("page_size", ["0", "1001", "abc"])
def test_page_size_out_of_range_is_a_400_with_twilio_error_body(
        sim: Simulator, twilio: httpx.Client, page_size: str) -> None:
    flow = sim.world.twilio_flows[0]
    resp = twilio.get(f"/v2/Flows/{flow.sid}/Executions", params={"PageSize": page_size})
    assert resp.status_code == 400
    body = resp.json()
    assert body["status"] == 400 and body["code"] == 20001
    assert body["more_info"] == "https://www.twilio.com/docs/errors/20001"
    assert "PageSize" in body["message"]


def test_date_created_from_is_inclusive_and_to_is_exclusive(
        sim: Simulator, twilio: httpx.Client) -> None:
    flow = sim.world.twilio_flows[0]
    execs = sim.world.twilio_retained(flow)
    lo, hi = execs[10].date_created, execs[60].date_created
    rows, _ = all_pages(twilio, f"/v2/Flows/{flow.sid}/Executions", "executions",
                        PageSize=1000, DateCreatedFrom=twilio_time(lo),
                        DateCreatedTo=twilio_time(hi))
    expected = sorted(e.sid for e in execs if lo <= e.date_created < hi)
    assert sorted(r["sid"] for r in rows) == expected
    assert execs[10].sid in expected


def test_date_created_from_accepts_offsets(sim: Simulator, twilio: httpx.Client) -> None:
    flow = sim.world.twilio_flows[0]
    execs = sim.world.twilio_retained(flow)
    lo = execs[-20].date_created
    as_utc, _ = all_pages(twilio, f"/v2/Flows/{flow.sid}/Executions", "executions",
                          DateCreatedFrom=twilio_time(lo))
    # the same instant written at -06:00
    from datetime import datetime, timedelta, timezone
    local = datetime.fromtimestamp(lo, timezone(timedelta(hours=-6))).isoformat()
    as_local, _ = all_pages(twilio, f"/v2/Flows/{flow.sid}/Executions", "executions",
                            DateCreatedFrom=local)
    assert [r["sid"] for r in as_local] == [r["sid"] for r in as_utc]
    assert len(as_utc) == sum(1 for e in execs if e.date_created >= lo)


def test_retention_hides_executions_older_than_30_days(
        sim: Simulator, twilio: httpx.Client) -> None:
    flow = sim.world.twilio_flows[0]
    old = [e for e in flow.executions if e.date_created < sim.world.now - TWILIO_RETENTION_SECONDS]
    assert old, "the generated history must reach past retention"
    rows, _ = all_pages(twilio, f"/v2/Flows/{flow.sid}/Executions", "executions",
                        PageSize=1000, DateCreatedFrom="2000-01-01T00:00:00Z")
    assert not {e.sid for e in old} & {r["sid"] for r in rows}
    resp = twilio.get(f"/v2/Flows/{flow.sid}/Executions/{old[0].sid}")
    assert resp.status_code == 404 and resp.json()["code"] == 20404

    # a day later, the oldest retained day falls out too
    retained = sim.world.twilio_retained(flow)
    doomed = [e for e in retained if e.date_created < sim.world.now - TWILIO_RETENTION_SECONDS + DAY]
    assert doomed
    sim.advance(DAY, new_twilio=0, new_hilos=0)
    rows, _ = all_pages(twilio, f"/v2/Flows/{flow.sid}/Executions", "executions", PageSize=1000)
    assert len(rows) == len(retained) - len(doomed)


def test_v1_executions_carry_contact_sid_and_v2_do_not(
        sim: Simulator, twilio: httpx.Client) -> None:
    flow = sim.world.twilio_flows[0]
    v1 = twilio.get(f"/v1/Flows/{flow.sid}/Executions", params={"PageSize": 5}).json()
    v2 = twilio.get(f"/v2/Flows/{flow.sid}/Executions", params={"PageSize": 5}).json()
    assert all(e["contact_sid"].startswith("FC") for e in v1["executions"])
    assert all("contact_sid" not in e for e in v2["executions"])
    assert all("flow_version" in e and "initiated_by" in e for e in v2["executions"])
    assert [e["sid"] for e in v1["executions"]] == [e["sid"] for e in v2["executions"]]


def test_v2_filters_executions_by_status(sim: Simulator, twilio: httpx.Client) -> None:
    flow = sim.world.twilio_flows[0]
    rows, _ = all_pages(twilio, f"/v2/Flows/{flow.sid}/Executions", "executions",
                        PageSize=1000, status="active")
    expected = [e.sid for e in sim.world.twilio_retained(flow) if e.ended_at > sim.world.now]
    assert expected, "a fresh world has runs still active"
    assert sorted(r["sid"] for r in rows) == sorted(expected)


def test_api_key_and_account_sid_both_authenticate(sim: Simulator) -> None:
    for api_key in (False, True):
        with twilio_client(sim, api_key=api_key) as c:
            assert c.get("/v2/Flows").status_code == 200


@pytest.mark.parametrize("auth", [None, ("ACwrong", "nope"), "account_sid_with_key_secret"])
def test_wrong_credentials_get_401_with_twilio_error_body(sim: Simulator, auth) -> None:
    cfg = sim.world.config
    if auth == "account_sid_with_key_secret":
        auth = (cfg.twilio_account_sid, cfg.twilio_api_key_secret)
    resp = httpx.get(f"{sim.base_url}/v2/Flows", auth=auth)
    assert resp.status_code == 401
    assert resp.json() == {"code": 20003, "message": "Authenticate",
                           "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}


def test_unknown_flow_is_404(sim: Simulator, twilio: httpx.Client) -> None:
    resp = twilio.get(f"/v2/Flows/FW{'0' * 32}/Executions")
    assert resp.status_code == 404 and resp.json()["code"] == 20404


def test_deleted_flow_disappears(sim: Simulator, twilio: httpx.Client) -> None:
    flow = sim.world.twilio_flows[1]
    httpx.post(f"{sim.base_url}/_sim/twilio/flows/{flow.sid}/delete").raise_for_status()
    assert twilio.get(f"/v2/Flows/{flow.sid}/Executions").status_code == 404
    flows, _ = all_pages(twilio, "/v2/Flows", "flows")
    assert flow.sid not in {f["sid"] for f in flows}


def test_ended_execution_steps_walk_the_graph_into_ended(
        sim: Simulator, twilio: httpx.Client) -> None:
    flow = sim.world.twilio_flows[0]
    ended = [e for e in sim.world.twilio_retained(flow) if e.ended_at <= sim.world.now]
    for ex in ended[:20]:
        steps, _ = all_pages(twilio, f"/v2/Flows/{flow.sid}/Executions/{ex.sid}/Steps", "steps",
                             PageSize=2)
        steps.sort(key=lambda s: (s["date_created"], s["sid"]))
        assert steps[0]["transitioned_from"] == "Trigger"
        assert steps[-1]["transitioned_to"] == "Ended"
        assert steps[-1]["date_created"] == twilio_time(ex.ended_at)
        for a, b in itertools.pairwise(steps):
            assert a["transitioned_to"] == b["transitioned_from"]
            assert b["name"] in {e for e, _, _ in flow.graph[b["transitioned_from"]][1]}


def test_active_execution_gains_steps_and_ends_as_time_passes(
        sim: Simulator, twilio: httpx.Client) -> None:
    flow = sim.world.twilio_flows[0]
    active = next(e for e in sim.world.twilio_retained(flow) if e.ended_at > sim.world.now)
    url = f"/v2/Flows/{flow.sid}/Executions/{active.sid}"
    assert twilio.get(url).json()["status"] == "active"
    before = twilio.get(f"{url}/Steps").json()["steps"]
    assert all(s["transitioned_to"] != "Ended" for s in before)
    sim.advance(active.ended_at - sim.world.now, new_twilio=0, new_hilos=0)
    body = twilio.get(url).json()
    assert body["status"] == "ended"
    after = twilio.get(f"{url}/Steps").json()["steps"]
    assert len(after) > len(before)
    assert {s["sid"] for s in before} < {s["sid"] for s in after}
    assert any(s["transitioned_to"] == "Ended" for s in after)
