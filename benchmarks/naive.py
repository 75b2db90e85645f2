"""The naive sequential client: what a person writes in an afternoon. One request at a
time with urllib (a new connection each); the rows appended to JSON-lines files as they
come, loaded into DuckDB at the end with `read_json` (DuckDB's fast path: row-by-row
`executemany` made this client 5x slower, which would flatter flowsync). For Twilio only:
flows, their executions, the steps of each ended execution.

The yardstick of issue 16: flowsync must beat it on wall time and match it on CPU.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from pathlib import Path


def naive_twilio(cfg: dict, workdir: Path) -> int:
    import duckdb

    t = cfg["twilio"]
    token = base64.b64encode(f"{t['account_sid']}:{t['auth_token']}".encode()).decode()

    def get(url: str) -> dict:
        request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def listing(url: str, key: str):
        while url:
            body = get(url)
            yield body[key]
            url = body["meta"]["next_page_url"]

    base = t["base_url"].rstrip("/")
    rows = 0
    flows = [f for page in listing(f"{base}/v2/Flows?PageSize=1000", "flows") for f in page]
    rows += len(flows)
    files = {name: workdir / f"{name}.jsonl" for name in ("executions", "steps")}
    with open(files["executions"], "w") as executions, open(files["steps"], "w") as steps:
        for flow in flows:
            ended = []
            for page in listing(f"{base}/v2/Flows/{flow['sid']}/Executions?PageSize=1000",
                                "executions"):
                executions.writelines(json.dumps(e) + "\n" for e in page)
                rows += len(page)
                ended += [e["sid"] for e in page if e["status"] == "ended"]
            for sid in ended:
                for page in listing(f"{base}/v2/Flows/{flow['sid']}/Executions/{sid}/Steps"
                                    "?PageSize=1000", "steps"):
                    steps.writelines(json.dumps(s) + "\n" for s in page)
                    rows += len(page)
    con = duckdb.connect(str(workdir / "naive.duckdb"))
    for name, path in files.items():
        con.execute(f"create table {name} as select * from read_json('{path}', "
                    "format = 'newline_delimited')")
    con.close()
    return rows
