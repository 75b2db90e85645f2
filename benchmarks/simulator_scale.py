"""How fast the simulator builds and serves a large world.

    python -m benchmarks.simulator_scale --runs 1000000

Builds a world of N Twilio executions (20 flows) and N Hilos contact runs, times 200
small keep-alive requests (one execution's steps), pages through every run over loopback
(1000 a page) with a plain httpx client, and moves the clock an hour.
"""

from __future__ import annotations

import argparse
import resource
import time

import httpx

from simulator import SimConfig, Simulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="per provider")
    args = parser.parse_args()
    n = args.runs
    t0 = time.perf_counter()
    sim = Simulator(SimConfig(seed=1, twilio_flows=20, twilio_executions=n, hilos_flows=8,
                              hilos_contact_runs=n, history_days=28)).start()
    built = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cfg = sim.world.config
    print(f"world of {n:,} + {n:,} runs built in {built:.1f} s; peak RSS {rss:,.0f} MiB")
    try:
        with httpx.Client(base_url=sim.base_url, timeout=60,
                          auth=(cfg.twilio_account_sid, cfg.twilio_auth_token)) as c:
            flow = sim.world.twilio_flows[0]
            ex = sim.world.twilio_retained(flow)[0]
            steps = f"/v2/Flows/{flow.sid}/Executions/{ex.sid}/Steps"
            c.get(steps)
            t0 = time.perf_counter()
            for _ in range(200):
                c.get(steps)
            print(f"small request round trip: {(time.perf_counter() - t0) / 200 * 1000:.2f} ms")
            t0, rows, reqs = time.perf_counter(), 0, 0
            for flow in sim.world.twilio_flows:
                url: str | None = f"/v2/Flows/{flow.sid}/Executions?PageSize=1000"
                while url:
                    body = c.get(url).json()
                    reqs, rows = reqs + 1, rows + len(body["executions"])
                    url = body["meta"]["next_page_url"]
            wall = time.perf_counter() - t0
            print(f"twilio executions: {rows:,} rows in {reqs:,} requests, {wall:.1f} s "
                  f"({rows / wall:,.0f} rows/s)")
        with httpx.Client(base_url=sim.base_url, timeout=60,
                          headers={"Authorization": f"Token {cfg.hilos_api_token}"}) as c:
            t0, rows, reqs = time.perf_counter(), 0, 0
            url = "/channel/whatsapp/flow-execution-contact?page_size=1000"
            while url:
                body = c.get(url).json()
                reqs, rows = reqs + 1, rows + len(body["results"])
                url = body["next"]
            wall = time.perf_counter() - t0
            print(f"hilos contact runs: {rows:,} rows in {reqs:,} requests, {wall:.1f} s "
                  f"({rows / wall:,.0f} rows/s)")
        t0 = time.perf_counter()
        sim.advance(3600)
        print(f"clock moved an hour in {time.perf_counter() - t0:.2f} s")
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
