"""`/_sim/minimum` against what a client can see through the APIs before and after a move."""

from __future__ import annotations

import math

import httpx

from simulator import Simulator
from tests.worlds import small_config, twilio_client


def hilos_list(sim: Simulator, path: str, page_size: int | None = None) -> list[dict]:
    """Every row of a Hilos list, newest first, as the API shows them now."""
    token = sim.world.config.hilos_api_token
    rows, page = [], 1
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Token {token}"}) as c:
        while True:
            params = {"page": page, **({"page_size": page_size} if page_size else {})}
            body = c.get(path, params=params).raise_for_status().json()
            rows += body["results"]
            if not body["next"]:
                return rows
            page += 1


def twilio_executions(sim: Simulator) -> dict[str, list[dict]]:
    """Every execution of every flow, newest first."""
    out = {}
    with twilio_client(sim) as c:
        for flow in c.get("/v2/Flows").json()["flows"]:
            rows, url = [], f"/v2/Flows/{flow['sid']}/Executions?PageSize=1000"
            while url:
                body = c.get(url).raise_for_status().json()
                rows += body["executions"]
                url = body["meta"]["next_page_url"]
            out[flow["sid"]] = rows
    return out


def pages_down_to(rows_now: list[dict], before: dict[str, dict], key: str, size: int,
                  same: callable) -> tuple[int, int, list[int]]:
    """(pages down to the oldest new-or-changed row, new rows, positions of changed old)."""
    changed_at = [i for i, r in enumerate(rows_now)
                  if r[key] not in before or not same(before[r[key]], r)]
    new = sum(1 for r in rows_now if r[key] not in before)
    changed_old = [i for i in changed_at if rows_now[i][key] in before]
    pages = max(1, math.ceil((max(changed_at) + 1) / size)) if changed_at else 1
    return pages, new, changed_old


def test_the_minimum_matches_what_the_apis_show_before_and_after_a_move() -> None:
    with Simulator(small_config(hilos_contact_runs=2500, history_days=2)) as sim:
        contacts0 = {r["id"]: r for r in hilos_list(sim, "/channel/whatsapp/flow-execution-contact",
                                                     1000)}
        batches0 = {r["id"]: r for r in hilos_list(sim, "/channel/whatsapp/flow-execution")}
        twilio0 = {f: {e["sid"]: e for e in rows} for f, rows in twilio_executions(sim).items()}
        full = httpx.get(f"{sim.base_url}/_sim/minimum").json()
        pages_b = math.ceil(len(batches0) / 20)
        assert full["hilos"] == {"contacts": 3, "flow_executions": pages_b,
                                 "total": 3 + pages_b, "new_or_changed_runs": 2500,
                                 "checking_open": {"contacts": 3, "flow_executions": pages_b,
                                                   "total": 3 + pages_b}}
        ended0 = sum(1 for rows in twilio0.values() for e in rows.values()
                     if e["status"] == "ended")
        assert full["twilio"]["steps"] == ended0
        assert full["twilio"]["executions"] == sum(max(1, math.ceil(len(r) / 1000))
                                                   for r in twilio0.values())

        since = httpx.get(f"{sim.base_url}/_sim/clock").json()["now"]
        sim.advance(60, new_twilio=9, new_hilos=25, finish_fraction=0.3)
        got = httpx.get(f"{sim.base_url}/_sim/minimum", params={"since": since}).json()

        contacts1 = hilos_list(sim, "/channel/whatsapp/flow-execution-contact", 1000)
        pages, _, _ = pages_down_to(contacts1, contacts0, "id", 1000,
                                    lambda a, b: a["status"] == b["status"])
        batches1 = hilos_list(sim, "/channel/whatsapp/flow-execution")
        by_list, new, changed_old = pages_down_to(batches1, batches0, "id", 20,
                                                  lambda a, b: a == b)
        executions = min(by_list, max(1, math.ceil(new / 20)) + len(changed_old))
        assert got["hilos"]["contacts"] == pages
        assert got["hilos"]["flow_executions"] == executions
        assert pages > 1 and changed_old  # the move reached below the first page
        # a sync without an oracle must also look at every run that was open
        open_contacts, _, _ = pages_down_to(
            contacts1, contacts0, "id", 1000,
            lambda a, b: a["status"] not in ("READY", "RUNNING"))
        by_list, new, open_old = pages_down_to(
            batches1, batches0, "id", 20,
            lambda a, b: a["status"] in ("COMPLETED", "CANCELED"))
        assert got["hilos"]["checking_open"] == {
            "contacts": open_contacts,
            "flow_executions": min(by_list, max(1, math.ceil(new / 20)) + len(open_old)),
            "total": open_contacts + min(by_list, max(1, math.ceil(new / 20)) + len(open_old))}

        lists = lists_open = steps = 0
        for flow, rows in twilio_executions(sim).items():
            before = twilio0[flow]
            by_list, new, changed_old = pages_down_to(
                rows, before, "sid", 1000, lambda a, b: a["status"] == b["status"])
            lists += min(by_list, max(1, math.ceil(new / 1000)) + len(changed_old))
            by_list, new, open_old = pages_down_to(
                rows, before, "sid", 1000, lambda a, b: a["status"] == "ended")
            lists_open += min(by_list, max(1, math.ceil(new / 1000)) + len(open_old))
            steps += sum(1 for e in rows if e["status"] == "ended"
                         and (e["sid"] not in before or before[e["sid"]]["status"] != "ended"))
        assert got["twilio"]["executions"] == lists
        assert got["twilio"]["steps"] == steps > 0
        assert got["twilio"]["total"] == 1 + lists + steps
        assert got["twilio"]["checking_open"] == {"flows": 1, "executions": lists_open,
                                                  "steps": steps,
                                                  "total": 1 + lists_open + steps}
