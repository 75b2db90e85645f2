"""One measured load, run as its own process so that its peak memory is its own.

    python -m benchmarks.contenders CONTENDER PROVIDER SETTINGS_JSON WORKDIR

CONTENDER is floor, flowsync, peer or naive (Twilio only, `benchmarks.naive`); PROVIDER
hilos or twilio; SETTINGS_JSON the simulator's `/_sim/info` plus `workers`. Prints one
JSON line: {"rows": n}. The caller times the process and reads its rusage.

- floor: the same pages fetched and parsed with a bare httpx loop, nothing stored. For
  Twilio it fetches with the same number of threads as flowsync, so the floor is not
  slower merely for being sequential.
- flowsync: `flowsync run --no-transform` for that source, into DuckDB.
- peer: dlt's generic `rest_api` source configured the way its documentation shows
  (a `json_link` paginator on the API's next-page link, dependent resources for Twilio's
  executions and steps), page sizes set to the APIs' largest like flowsync's, defaults
  otherwise (DuckDB, dlt's default loader file format).
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CONTACTS = "/channel/whatsapp/flow-execution-contact"
EXECUTIONS = "/channel/whatsapp/flow-execution"


def floor_hilos(cfg: dict) -> int:
    import httpx

    rows = 0
    with httpx.Client(base_url=cfg["hilos"]["base_url"], timeout=60,
                      headers={"Authorization": f"Token {cfg['hilos']['api_token']}"}) as client:
        for path, params in ((CONTACTS, {"page_size": 1000}), (EXECUTIONS, {})):
            page = 1
            while True:
                body = client.get(path, params={**params, "page": page}).json()
                rows += len(body["results"])
                if not body["next"]:
                    break
                page += 1
    return rows


def floor_twilio(cfg: dict) -> int:
    import httpx

    t = cfg["twilio"]
    workers = cfg["workers"]
    client = httpx.Client(base_url=t["base_url"], auth=(t["account_sid"], t["auth_token"]),
                          timeout=60, limits=httpx.Limits(max_connections=workers * 2))

    def listing(url: str, key: str, params: dict | None = None) -> list[dict]:
        out: list[dict] = []
        while url:
            body = client.get(url, params=params).json()
            params = None  # the next-page link carries them
            out.extend(body[key])
            url = body["meta"]["next_page_url"]
        return out

    def flow(sid: str) -> tuple[int, list[str]]:
        rows = listing(f"/v2/Flows/{sid}/Executions", "executions", {"PageSize": 1000})
        return len(rows), [r["sid"] for r in rows if r["status"] == "ended"]

    def steps(args: tuple[str, str]) -> int:
        return len(listing(f"/v2/Flows/{args[0]}/Executions/{args[1]}/Steps", "steps",
                           {"PageSize": 1000}))

    with client, ThreadPoolExecutor(workers) as pool:
        flows = listing("/v2/Flows", "flows", {"PageSize": 1000})
        rows = len(flows)
        ended: list[tuple[str, str]] = []
        for f, (n, sids) in zip(flows, pool.map(flow, [f["sid"] for f in flows]), strict=True):
            rows += n
            ended.extend((f["sid"], s) for s in sids)
        rows += sum(pool.map(steps, ended, chunksize=64))
    return rows


def flowsync(provider: str, cfg: dict, workdir: Path) -> int:
    """`flowsync run --source ... --no-transform`, into DuckDB."""
    os.environ["DLT_DATA_DIR"] = str(workdir / "dlt")
    if provider == "hilos":
        os.environ.update(SOURCES__HILOS__BASE_URL=cfg["hilos"]["base_url"],
                          SOURCES__HILOS__API_TOKEN=cfg["hilos"]["api_token"])
        source = "hilos"
    else:
        t = cfg["twilio"]
        os.environ.update(SOURCES__TWILIO_STUDIO__BASE_URL=t["base_url"],
                          SOURCES__TWILIO_STUDIO__ACCOUNT_SID=t["account_sid"],
                          SOURCES__TWILIO_STUDIO__AUTH_TOKEN=t["auth_token"],
                          SOURCES__TWILIO_STUDIO__MAX_WORKERS=str(cfg["workers"]))
        source = "twilio_studio"
    import gc

    gc.disable()  # as the `flowsync` command imports its modules (`pipelines.entry`)
    from pipelines.accounts import accounts
    from pipelines.runner import run_source
    from pipelines.warehouse.duckdb import duckdb_destination
    from sources import registry

    gc.enable()

    (account,) = accounts(registry.get(source))
    # as `flowsync run` does: on the command's held connection (one DuckDB instance for
    # every checkpoint load)
    with duckdb_destination(str(workdir / "flowsync.duckdb")).session() as held:
        result = run_source(account, held)
    if not result.ok:
        raise SystemExit(f"flowsync failed: {result.error}")
    return sum(result.rows.values())


def peer(provider: str, cfg: dict, workdir: Path) -> int:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    if provider == "hilos":
        h = cfg["hilos"]
        config = {
            "client": {"base_url": h["base_url"],
                       "headers": {"Authorization": f"Token {h['api_token']}"},
                       "paginator": {"type": "json_link", "next_url_path": "next"}},
            "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
            "resources": [
                {"name": "flow_execution_contacts",
                 "endpoint": {"path": CONTACTS.lstrip("/"), "params": {"page_size": 1000},
                              "data_selector": "results"}},
                {"name": "flow_executions",
                 "endpoint": {"path": EXECUTIONS.lstrip("/"), "data_selector": "results"}},
            ],
        }
    else:
        t = cfg["twilio"]
        config = {
            "client": {"base_url": t["base_url"],
                       "auth": {"type": "http_basic", "username": t["account_sid"],
                                "password": t["auth_token"]},
                       "paginator": {"type": "json_link",
                                     "next_url_path": "meta.next_page_url"}},
            "resource_defaults": {"primary_key": "sid", "write_disposition": "merge",
                                  "endpoint": {"params": {"PageSize": 1000}}},
            "resources": [
                {"name": "flows", "endpoint": {"path": "v2/Flows", "data_selector": "flows"}},
                {"name": "executions",
                 "endpoint": {"path": "v2/Flows/{resources.flows.sid}/Executions",
                              "data_selector": "executions"}},
                {"name": "execution_steps",
                 "endpoint": {"path": "v2/Flows/{resources.executions.flow_sid}/Executions/"
                                      "{resources.executions.sid}/Steps",
                              "data_selector": "steps"}},
            ],
        }
    pipeline = dlt.pipeline(f"peer_{provider}", pipelines_dir=str(workdir / "dlt"),
                            destination=dlt.destinations.duckdb(str(workdir / "peer.duckdb")),
                            dataset_name=provider)
    pipeline.run(rest_api_source(config)).raise_on_failed_jobs()
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return sum(n for t, n in counts.items() if not t.startswith("_dlt"))


def main() -> None:
    contender, provider, settings, workdir = sys.argv[1:5]
    cfg = json.loads(settings)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    if contender == "floor":
        rows = floor_hilos(cfg) if provider == "hilos" else floor_twilio(cfg)
    elif contender == "flowsync":
        rows = flowsync(provider, cfg, work)
    elif contender == "peer":
        rows = peer(provider, cfg, work)
    elif contender == "naive" and provider == "twilio":
        from benchmarks.naive import naive_twilio

        rows = naive_twilio(cfg, work)
    else:
        raise SystemExit(f"unknown contender {contender!r}")
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
