"""The simulated Hilos API over real HTTP: page-number paging, filters, auth, starting flows."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from simulator import SimConfig, Simulator
from tests.worlds import hilos_client, small_config

CONTACTS = "/channel/whatsapp/flow-execution-contact"
EXECUTIONS = "/channel/whatsapp/flow-execution"


def all_pages(client: httpx.Client, url: str, **params) -> tuple[list[dict], int]:
    """Every row of a list, following `next`; also the number of requests."""
    rows, requests = [], 0
    resp = client.get(url, params=params or None)
    while True:
        resp.raise_for_status()
        requests += 1
        body = resp.json()
        rows.extend(body["results"])
        if not body["next"]:
            return rows, requests
        resp = client.get(body["next"])


def test_contact_pages_cover_every_run_once_newest_first(
        sim: Simulator, hilos: httpx.Client) -> None:
    rows, requests = all_pages(hilos, CONTACTS, page_size=150)
    assert sorted(r["id"] for r in rows) == sorted(r.id for r in sim.world.hilos_runs)
    assert requests == -(-len(sim.world.hilos_runs) // 150)
    keys = [(r["created_on"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)


def test_runs_of_one_batch_share_created_on(sim: Simulator, hilos: httpx.Client) -> None:
    rows, _ = all_pages(hilos, CONTACTS, page_size=1000)
    per_ts = Counter(r["created_on"] for r in rows)
    assert max(per_ts.values()) > 1
    assert len(per_ts) == len(sim.world.hilos_batches)


def test_count_next_previous_follow_drf(sim: Simulator, hilos: httpx.Client) -> None:
    n = len(sim.world.hilos_runs)
    first = hilos.get(CONTACTS, params={"page_size": 100}).json()
    assert first["count"] == n and first["previous"] is None
    assert first["next"] == f"{sim.base_url}{CONTACTS}?page_size=100&page=2"
    second = hilos.get(first["next"]).json()
    assert second["previous"] == f"{sim.base_url}{CONTACTS}?page_size=100"
    last_page = -(-n // 100)
    last = hilos.get(CONTACTS, params={"page_size": 100, "page": last_page}).json()
    assert last["next"] is None and len(last["results"]) == n - 100 * (last_page - 1)


@pytest.mark.parametrize("page", ["0", "999", "x"])
def test_page_out_of_range_is_404_invalid_page(hilos: httpx.Client, page: str) -> None:
    resp = hilos.get(CONTACTS, params={"page": page})
    assert resp.status_code == 404
    assert resp.json() == {"detail": "Invalid page."}


def test_default_and_clamped_page_sizes() -> None:
    with Simulator(small_config(hilos_max_page_size=300, hilos_batch_size=10)) as sim, \
            hilos_client(sim) as h:
        assert len(sim.world.hilos_batches) > 20
        assert len(h.get(CONTACTS).json()["results"]) == 20
        assert len(h.get(CONTACTS, params={"page_size": 5000}).json()["results"]) == 300
        assert len(h.get(EXECUTIONS, params={"page_size": 500}).json()["results"]) == 20


def test_flow_executions_list_and_detail(sim: Simulator, hilos: httpx.Client) -> None:
    rows, _ = all_pages(hilos, EXECUTIONS)
    assert sorted(r["id"] for r in rows) == sorted(b.id for b in sim.world.hilos_batches)
    now = sim.world.now_us
    for row in rows:
        b = sim.world.hilos_batch_by_id[row["id"]]
        statuses = Counter(r.status(now) for r in b.runs)
        assert row["num_contacts"] == len(b.runs)
        assert row["completed"] == statuses["COMPLETED"]
        assert row["failed"] == statuses["FAILED"]
        assert row["running"] == statuses["READY"] + statuses["RUNNING"]
        assert isinstance(row["status_triggered_by"], int | None)
    detail = hilos.get(f"{EXECUTIONS}/{rows[0]['id']}").json()
    assert detail["flow"]["id"] == sim.world.hilos_batch_by_id[rows[0]["id"]].flow.id
    assert isinstance(detail["status_triggered_by"], dict)
    assert hilos.get(f"{EXECUTIONS}/{'0' * 8}-0000-4000-8000-{'0' * 12}").status_code == 404


def test_contact_filters(sim: Simulator, hilos: httpx.Client) -> None:
    world = sim.world
    now = world.now_us
    flow = world.hilos_flows[0]
    batch = world.hilos_batches[-1]
    run = world.hilos_runs[5]
    cases = {
        "flow": (flow.id, {r.id for r in world.hilos_runs if r.batch.flow is flow}),
        "flow_version": (flow.version_id, {r.id for r in world.hilos_runs if r.batch.flow is flow}),
        "flow_execution": (batch.id, {r.id for r in batch.runs}),
        "id": (run.id, {run.id}),
        "contact": (run.contact.id, {r.id for r in world.hilos_runs if r.contact is run.contact}),
        "is_active": ("true", {r.id for r in world.hilos_runs
                               if r.status(now) in ("READY", "RUNNING")}),
        "search": (run.contact.phone[-6:], {r.id for r in world.hilos_runs
                                            if run.contact.phone[-6:] in r.contact.phone}),
    }
    for name, (value, expected) in cases.items():
        rows, _ = all_pages(hilos, CONTACTS, page_size=1000, **{name: value})
        assert {r["id"] for r in rows} == expected, name
        assert expected, name
    inactive, _ = all_pages(hilos, CONTACTS, page_size=1000, is_active="false")
    assert len(inactive) == len(world.hilos_runs) - len(cases["is_active"][1])


def test_flow_execution_filters(sim: Simulator, hilos: httpx.Client) -> None:
    flow = sim.world.hilos_flows[1]
    rows, _ = all_pages(hilos, EXECUTIONS, flow=flow.id)
    assert {r["id"] for r in rows} == {b.id for b in sim.world.hilos_batches if b.flow is flow}
    rows, _ = all_pages(hilos, EXECUTIONS, search="Completed")
    assert rows and all(r["status"] == "COMPLETED" for r in rows)


def test_invalid_uuid_filter_is_400(hilos: httpx.Client) -> None:
    resp = hilos.get(CONTACTS, params={"flow": "not-a-uuid"})
    assert resp.status_code == 400
    assert resp.json() == {"flow": ["“not-a-uuid” is not a valid UUID."]}


@pytest.mark.parametrize("header,detail", [
    (None, "Authentication credentials were not provided."),
    ("Token wrong", "Invalid token."),
    ("Bearer sim-hilos-api-token", "Invalid token."),
])
def test_wrong_token_is_401(sim: Simulator, header: str | None, detail: str) -> None:
    headers = {"Authorization": header} if header else {}
    resp = httpx.get(f"{sim.base_url}{CONTACTS}", headers=headers)
    assert resp.status_code == 401
    assert resp.json() == {"detail": detail}


def test_run_flow_creates_a_flow_execution_with_ready_contacts(
        sim: Simulator, hilos: httpx.Client) -> None:
    flow = sim.world.hilos_flows[2]
    before = len(sim.world.hilos_runs)
    resp = hilos.post(f"/channel/whatsapp/flow/{flow.id}/run", json={
        "execute_for": "LIST",
        "contact_list": [{"phone": "+5215500000001"}, {"phone": "+5215500000002",
                                                      "first_name": "Nueva"}]})
    assert resp.status_code == 201
    body = resp.json()
    assert body["num_contacts"] == 2
    runs, _ = all_pages(hilos, CONTACTS, flow_execution=body["id"])
    assert len(runs) == 2 and len(sim.world.hilos_runs) == before + 2
    assert {r["contact"]["phone"] for r in runs} == {"+5215500000001", "+5215500000002"}
    # the newest runs come first
    newest = hilos.get(CONTACTS, params={"page_size": 2}).json()["results"]
    assert {r["id"] for r in newest} == {r["id"] for r in runs}


def test_run_flow_validates_its_body(sim: Simulator, hilos: httpx.Client) -> None:
    flow = sim.world.hilos_flows[0]
    resp = hilos.post(f"/channel/whatsapp/flow/{flow.id}/run", json={"execute_for": "LIST"})
    assert resp.status_code == 400
    assert resp.json() == {"contact_list": ["This field is required."]}
    missing = f"/channel/whatsapp/flow/{'1' * 8}-1111-4111-8111-{'1' * 12}/run"
    resp = hilos.post(missing, json={"execute_for": "LIST", "contact_list": [{"phone": "+1"}]})
    assert resp.status_code == 404


@pytest.mark.parametrize("order", ["oldest", "unordered"])
def test_other_orders_are_not_newest_first(order: str) -> None:
    cfg = small_config(hilos_order=order)
    with Simulator(cfg) as sim, hilos_client(sim) as h:
        rows, _ = all_pages(h, CONTACTS, page_size=1000)
        keys = [(r["created_on"], r["id"]) for r in rows]
        assert keys != sorted(keys, reverse=True)
        assert sorted(r["id"] for r in rows) == sorted(r.id for r in sim.world.hilos_runs)
        if order == "oldest":
            assert keys == sorted(keys)


def test_a_new_run_shifts_later_pages_like_the_real_api(
        sim: Simulator, hilos: httpx.Client) -> None:
    first = hilos.get(CONTACTS, params={"page_size": 50}).json()
    sim.advance(1, new_twilio=0, new_hilos=3)
    second = hilos.get(first["next"]).json()
    overlap = {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}
    assert len(overlap) == 3


def test_config_rejects_unknown_order() -> None:
    with pytest.raises(ValueError, match="hilos_order"):
        SimConfig(hilos_order="sideways")
