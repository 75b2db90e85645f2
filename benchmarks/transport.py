"""CPU per request of the HTTP paths flowsync could take, side by side on one simulator.

    python -m benchmarks.transport [--requests 3000] [--threads 1 16 64]

The simulator runs in its own process; each contender GETs the same Twilio steps pages
(one per execution, as a first load does) and parses the JSON, in this process: wall time
and this process's CPU (user + system) per request. Contenders: urllib, one connection
per request (the naive client); httpx.Client with its own pool (httpcore); httpx.AsyncClient
on one event loop; flowsync's `HttpClient` (requests straight to `sources.transport`, on
plain sockets: `sources.wire`); and bare `http.client` keep-alive connections, the
standard library's own. Threaded
contenders run with each thread count asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import multiprocessing
import resource
import threading
import time
import urllib.request
from collections.abc import Callable

import httpx

from benchmarks.common import serve_simulator
from sources.http import HttpClient


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def threaded(urls: list[str], threads: int, get: Callable[[str], object]) -> None:
    todo = iter(urls)
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                url = next(todo, None)
            if url is None:
                return
            get(url)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    config = dict(seed=1, history_days=30, hilos_flows=0, hilos_contact_runs=0,
                  twilio_flows=10, twilio_executions=args.requests)
    receive, send = multiprocessing.Pipe(duplex=False)
    sim = multiprocessing.get_context("spawn").Process(target=serve_simulator,
                                                       args=(config, send), daemon=True)
    sim.start()
    base = receive.recv()
    info = httpx.get(f"{base}/_sim/info").json()["twilio"]
    auth = (info["account_sid"], info["auth_token"])
    header = {"Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode()}
    with httpx.Client(base_url=base, auth=auth) as c:
        urls = [f"/v2/Flows/{f['sid']}/Executions/{e['sid']}/Steps?PageSize=1000"
                for f in c.get("/v2/Flows", params={"PageSize": 1000}).json()["flows"]
                for e in c.get(f"/v2/Flows/{f['sid']}/Executions",
                               params={"PageSize": 1000}).json()["executions"]]
    urls = urls[: args.requests]
    host = base.split("//", 1)[1]
    print(f"{len(urls):,} GETs of Twilio steps pages on loopback\n")
    print("| contender | threads | wall | requests/s | CPU-ms per request |")
    print("| --- | ---: | ---: | ---: | ---: |")

    def run(label: str, threads: int, fn: Callable[[], None]) -> None:
        c0, t0 = cpu(), time.perf_counter()
        fn()
        wall, used = time.perf_counter() - t0, cpu() - c0
        print(f"| {label} | {threads} | {wall:.2f} s | {len(urls) / wall:,.0f} | "
              f"{used / len(urls) * 1000:.2f} |", flush=True)

    def naive() -> None:
        for u in urls:
            with urllib.request.urlopen(urllib.request.Request(base + u, headers=header)) as r:
                json.loads(r.read())

    run("urllib, a connection per request (naive)", 1, naive)
    local = threading.local()

    def raw(u: str) -> None:
        conn = getattr(local, "conn", None) or http.client.HTTPConnection(host)
        local.conn = conn
        conn.request("GET", u, headers=header)
        json.loads(conn.getresponse().read())

    for n in args.threads:  # (a fresh `local` per count: `raw` opens new connections)
        with httpx.Client(base_url=base, auth=auth,
                          limits=httpx.Limits(max_connections=n)) as pooled:
            run("httpx.Client (httpcore pool)", n,
                lambda pooled=pooled, n=n: threaded(urls, n, lambda u: pooled.get(u).json()))
        with HttpClient(base, service="bench", auth_hint="-", auth=auth) as mine:
            run("flowsync HttpClient (sources.transport)", n,
                lambda mine=mine, n=n: threaded(urls, n, mine.get_json))
        local = threading.local()
        run("bare http.client keep-alive", n, lambda n=n: threaded(urls, n, raw))
        if n > 1:
            run("httpx.AsyncClient, one event loop", n, lambda n=n: asyncio.run(_async(
                base, auth, urls, n)))
    sim.terminate()


async def _async(base: str, auth: tuple[str, str], urls: list[str], n: int) -> None:
    async with httpx.AsyncClient(base_url=base, auth=auth,
                                 limits=httpx.Limits(max_connections=n)) as client:
        todo = iter(urls)

        async def work() -> None:
            for u in todo:
                (await client.get(u)).json()

        await asyncio.gather(*(work() for _ in range(n)))


if __name__ == "__main__":
    main()
