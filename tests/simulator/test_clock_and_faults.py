"""The simulator's clock, determinism, fault injection and request counting, over HTTP."""

from __future__ import annotations

import json

import httpx
import pytest

from simulator import FAULT_KINDS, Simulator
from tests.worlds import hilos_client, small_config, twilio_client

CONTACTS = "/channel/whatsapp/flow-execution-contact"


def snapshot(sim: Simulator) -> tuple:
    w = sim.world
    return (
        [(f.sid, f.friendly_name) for f in w.twilio_flows],
        [(e.sid, e.date_created, e.duration, e.address) for f in w.twilio_flows
         for e in f.executions],
        [(r.id, r.created_on, r.end, r.final, r.contact.phone) for r in w.hilos_runs],
    )


def test_same_seed_same_world_and_other_seed_other_world() -> None:
    with Simulator(small_config()) as a, Simulator(small_config()) as b, \
            Simulator(small_config(seed=8)) as c:
        assert snapshot(a) == snapshot(b)
        assert snapshot(a) != snapshot(c)
        a.advance(7200)
        b.advance(7200)
        assert snapshot(a) == snapshot(b)


def test_advance_finishes_runs_and_brings_new_ones(sim: Simulator) -> None:
    w = sim.world
    open_twilio = {e.sid for f in w.twilio_flows for e in f.executions if e.ended_at > w.now}
    open_hilos = {r.id for r in w.hilos_runs if r.end > w.now_us}
    n_twilio = sum(len(f.executions) for f in w.twilio_flows)
    n_hilos = len(w.hilos_runs)
    summary = sim.advance(6 * 3600, new_twilio=40, new_hilos=30)
    assert summary["new_twilio_executions"] == 40
    assert summary["new_hilos_contact_runs"] == 30
    assert sum(len(f.executions) for f in w.twilio_flows) == n_twilio + 40
    assert len(w.hilos_runs) == n_hilos + 30
    still_twilio = {e.sid for f in w.twilio_flows for e in f.executions
                    if e.sid in open_twilio and e.ended_at > w.now}
    assert summary["finished_twilio_executions"] == len(open_twilio) - len(still_twilio) > 0
    assert summary["finished_hilos_contact_runs"] > 0
    assert len(open_hilos) > summary["finished_hilos_contact_runs"]


def test_finish_fraction_ends_that_share_of_open_runs(sim: Simulator) -> None:
    w = sim.world
    open_hilos = [r for r in w.hilos_runs if r.end > w.now_us]
    summary = sim.advance(1, new_twilio=0, new_hilos=0, finish_fraction=0.5)
    assert summary["finished_hilos_contact_runs"] >= round(len(open_hilos) * 0.5)


def test_advance_over_http_moves_the_clock_seen_by_the_apis(sim: Simulator) -> None:
    with hilos_client(sim) as h:
        active_before = h.get(CONTACTS, params={"is_active": "true"}).json()["count"]
        resp = httpx.post(f"{sim.base_url}/_sim/advance",
                          json={"seconds": 2 * 86_400, "new_twilio": 0, "new_hilos": 0})
        assert resp.status_code == 200
        assert resp.json()["now"] == "2026-11-03T12:00:00Z"
        assert httpx.get(f"{sim.base_url}/_sim/clock").json() == {"now": "2026-11-03T12:00:00Z"}
        active_after = h.get(CONTACTS, params={"is_active": "true"}).json()["count"]
        assert active_after < active_before
    assert httpx.post(f"{sim.base_url}/_sim/advance", json={"seconds": -1}).status_code == 400


def test_clock_never_moves_back(sim: Simulator) -> None:
    with pytest.raises(ValueError):
        sim.advance(-5)


def _queue(sim: Simulator, *kinds: str, **settings) -> None:
    resp = httpx.post(f"{sim.base_url}/_sim/faults",
                      json={"queue": [{"kind": k} for k in kinds], **settings})
    resp.raise_for_status()


def test_429_carries_retry_after_and_the_next_request_succeeds(sim: Simulator) -> None:
    _queue(sim, "429", retry_after=3)
    with twilio_client(sim) as t, hilos_client(sim) as h:
        resp = t.get("/v2/Flows")
        assert resp.status_code == 429
        assert resp.headers["Retry-After"] == "3"
        assert resp.json()["code"] == 20429
        assert t.get("/v2/Flows").status_code == 200
        _queue(sim, "429")
        resp = h.get(CONTACTS)
        assert resp.status_code == 429 and "throttled" in resp.json()["detail"]


@pytest.mark.parametrize("status", ["500", "502", "503"])
def test_server_errors(sim: Simulator, status: str) -> None:
    _queue(sim, status)
    with twilio_client(sim) as t:
        resp = t.get("/v2/Flows")
        assert resp.status_code == int(status)
        assert t.get("/v2/Flows").status_code == 200


def test_dropped_connection_sends_no_response(sim: Simulator) -> None:
    _queue(sim, "drop")
    with twilio_client(sim) as t:
        with pytest.raises(httpx.RemoteProtocolError):
            t.get("/v2/Flows")
        assert t.get("/v2/Flows").status_code == 200


def test_slow_response_outlasts_a_short_timeout(sim: Simulator) -> None:
    _queue(sim, "slow", slow_seconds=1.0)
    with twilio_client(sim) as t, pytest.raises(httpx.ReadTimeout):
        t.get("/v2/Flows", timeout=0.2)


def test_truncated_response_is_a_200_with_broken_json(sim: Simulator) -> None:
    _queue(sim, "truncate")
    with hilos_client(sim) as h:
        resp = h.get(CONTACTS)
        assert resp.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            resp.json()
        assert h.get(CONTACTS).json()["count"] == len(sim.world.hilos_runs)


def test_maintenance_and_wrong_shape_are_200s_that_are_not_the_api(sim: Simulator) -> None:
    _queue(sim, "maintenance", "wrong_shape")
    with hilos_client(sim) as h:
        page = h.get(CONTACTS)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "maintenance" in page.text
        other = h.get(CONTACTS)
        assert other.status_code == 200
        assert other.json() == {"status": "maintenance", "message": "back soon"}
        assert h.get(CONTACTS).json()["count"] == len(sim.world.hilos_runs)


def test_queued_fault_can_target_a_path(sim: Simulator) -> None:
    httpx.post(f"{sim.base_url}/_sim/faults",
               json={"queue": [{"kind": "500", "path_contains": "/Steps"}]}).raise_for_status()
    flow = sim.world.twilio_flows[0]
    ex = sim.world.twilio_retained(flow)[0]
    with twilio_client(sim) as t:
        assert t.get("/v2/Flows").status_code == 200
        assert t.get(f"/v2/Flows/{flow.sid}/Executions/{ex.sid}/Steps").status_code == 500


def test_fault_rates_are_deterministic_from_the_seed() -> None:
    def outcomes() -> list[str]:
        with Simulator(small_config()) as sim, twilio_client(sim) as t:
            sim.faults.configure(rates={"500": 0.2, "503": 0.1, "429": 0.1}, retry_after=0)
            return [str(t.get("/v2/Flows").status_code) for _ in range(60)]

    first, second = outcomes(), outcomes()
    assert first == second
    assert {"200", "500", "503", "429"} <= set(first)


def test_fault_settings_are_validated(sim: Simulator) -> None:
    for bad in ({"rates": {"teapot": 0.1}}, {"rates": {"500": 1.5}},
                {"rates": {"500": 0.6, "503": 0.6}}, {"queue": [{"kind": "418"}]}):
        assert httpx.post(f"{sim.base_url}/_sim/faults", json=bad).status_code == 400
    assert set(FAULT_KINDS) == {"429", "500", "502", "503", "drop", "slow", "truncate",
                                "maintenance", "wrong_shape", "self_link"}


def test_latency_applies_to_every_api_request(sim: Simulator) -> None:
    sim.faults.configure(latency_ms=300)
    with twilio_client(sim) as t, pytest.raises(httpx.ReadTimeout):
        t.get("/v2/Flows", timeout=0.1)


def test_requests_are_counted_per_operation(sim: Simulator) -> None:
    flow = sim.world.twilio_flows[0]
    ex = sim.world.twilio_retained(flow)[0]
    _queue(sim, "503")
    with twilio_client(sim) as t, hilos_client(sim) as h:
        t.get("/v2/Flows")
        t.get("/v2/Flows")
        t.get(f"/v1/Flows/{flow.sid}/Executions")
        t.get(f"/v2/Flows/{flow.sid}/Executions/{ex.sid}")
        t.get(f"/v2/Flows/{flow.sid}/Executions/{ex.sid}/Steps")
        h.get(CONTACTS)
        h.get("/channel/whatsapp/flow-execution")
        httpx.get(f"{sim.base_url}{CONTACTS}")  # no token: counted, answered 401
    stats = httpx.get(f"{sim.base_url}/_sim/stats").json()
    assert stats["requests"] == {
        "twilio.flows.list": 2, "twilio.executions.list": 1, "twilio.executions.fetch": 1,
        "twilio.steps.list": 1, "hilos.flow_execution_contacts.list": 2,
        "hilos.flow_executions.list": 1,
    }
    assert stats["total"] == 8
    assert stats["responses"] == {"503": 1, "200": 6, "401": 1}
    assert stats["faults"] == {"503": 1}
    httpx.post(f"{sim.base_url}/_sim/stats/reset").raise_for_status()
    assert httpx.get(f"{sim.base_url}/_sim/stats").json()["total"] == 0


def test_info_names_credentials_and_sizes(sim: Simulator) -> None:
    info = httpx.get(f"{sim.base_url}/_sim/info").json()
    assert info["twilio"]["account_sid"].startswith("AC")
    assert info["twilio"]["executions"] == sum(len(sim.world.twilio_retained(f))
                                               for f in sim.world.twilio_flows)
    assert info["hilos"]["contact_runs"] == 800
    assert info["now"] == "2026-11-01T12:00:00Z"


def test_a_handler_bug_is_a_loud_500_not_a_dropped_connection(
        sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(sim.twilio, "flows_list", broken)
    with twilio_client(sim) as t:
        resp = t.get("/v2/Flows")
    assert resp.status_code == 500
    assert resp.headers["X-Simulator-Error"] == "1"
    assert sim.stats()["requests"] == {"error": 1}
