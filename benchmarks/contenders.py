"""One measured load, run as its own process so that its peak memory is its own.

    python -m benchmarks.contenders {floor,flowsync,peer} hilos BASE_URL TOKEN WORKDIR

Prints one JSON line: {"rows": n}. The caller times the process and reads its rusage.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

CONTACTS = "/channel/whatsapp/flow-execution-contact"
EXECUTIONS = "/channel/whatsapp/flow-execution"


def floor_hilos(base_url: str, token: str) -> int:
    """The same pages, fetched and parsed with a bare httpx loop; nothing stored."""
    import httpx

    rows = 0
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Token {token}"},
                      timeout=60) as client:
        for path, params in ((CONTACTS, {"page_size": 1000}), (EXECUTIONS, {})):
            page = 1
            while True:
                body = client.get(path, params={**params, "page": page}).json()
                rows += len(body["results"])
                if not body["next"]:
                    break
                page += 1
    return rows


def flowsync_hilos(base_url: str, token: str, workdir: Path) -> int:
    """`flowsync run --source hilos --no-transform`, into DuckDB."""
    os.environ.update(SOURCES__HILOS__BASE_URL=base_url, SOURCES__HILOS__API_TOKEN=token,
                      DLT_DATA_DIR=str(workdir / "dlt"))
    from pipelines.runner import duckdb_destination, run_source

    result = run_source("hilos", duckdb_destination(str(workdir / "flowsync.duckdb")))
    if not result.ok:
        raise SystemExit(f"flowsync failed: {result.error}")
    return sum(result.rows.values())


def peer_hilos(base_url: str, token: str, workdir: Path) -> int:
    """dlt's generic rest_api source, configured as its docs show, defaults otherwise."""
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source({
        "client": {
            "base_url": base_url,
            "headers": {"Authorization": f"Token {token}"},
            "paginator": {"type": "json_link", "next_url_path": "next"},
        },
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [
            {"name": "flow_execution_contacts",
             "endpoint": {"path": CONTACTS.lstrip("/"), "params": {"page_size": 1000},
                          "data_selector": "results"}},
            {"name": "flow_executions",
             "endpoint": {"path": EXECUTIONS.lstrip("/"), "data_selector": "results"}},
        ],
    })
    pipeline = dlt.pipeline("peer_hilos", pipelines_dir=str(workdir / "dlt"),
                            destination=dlt.destinations.duckdb(str(workdir / "peer.duckdb")),
                            dataset_name="hilos")
    pipeline.run(source).raise_on_failed_jobs()
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return sum(n for t, n in counts.items() if not t.startswith("_dlt"))


def main() -> None:
    contender, provider, base_url, token, workdir = sys.argv[1:6]
    if provider != "hilos":
        raise SystemExit(f"provider {provider} is not benchmarked yet")
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    rows = {"floor": lambda: floor_hilos(base_url, token),
            "flowsync": lambda: flowsync_hilos(base_url, token, work),
            "peer": lambda: peer_hilos(base_url, token, work)}[contender]()
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
