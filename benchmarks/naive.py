"""The naive sequential client: what a person writes in an afternoon. One request at a
time with urllib (a new connection each), rows inserted into DuckDB page by page. For
Twilio only: flows, their executions, the steps of each ended execution.

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
    con = duckdb.connect(str(workdir / "naive.duckdb"))
    con.execute("create table executions (sid text, flow_sid text, status text, "
                "date_created text, date_updated text, contact_channel_address text)")
    con.execute("create table steps (sid text, execution_sid text, flow_sid text, name text, "
                "transitioned_from text, transitioned_to text, date_created text)")
    rows = 0
    flows = [f for page in listing(f"{base}/v2/Flows?PageSize=1000", "flows") for f in page]
    rows += len(flows)
    for flow in flows:
        ended = []
        for page in listing(f"{base}/v2/Flows/{flow['sid']}/Executions?PageSize=1000",
                            "executions"):
            con.executemany("insert into executions values (?, ?, ?, ?, ?, ?)", [
                (e["sid"], e["flow_sid"], e["status"], e["date_created"], e["date_updated"],
                 e.get("contact_channel_address")) for e in page])
            rows += len(page)
            ended += [e["sid"] for e in page if e["status"] == "ended"]
        for sid in ended:
            for page in listing(f"{base}/v2/Flows/{flow['sid']}/Executions/{sid}/Steps"
                                "?PageSize=1000", "steps"):
                if page:
                    con.executemany("insert into steps values (?, ?, ?, ?, ?, ?, ?)", [
                        (s["sid"], s["execution_sid"], s["flow_sid"], s["name"],
                         s["transitioned_from"], s["transitioned_to"], s["date_created"])
                        for s in page])
                rows += len(page)
    con.close()
    return rows
