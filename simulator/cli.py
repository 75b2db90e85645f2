"""`flowsync simulate`: the simulator alone, so a pipeline can be tried by hand. The
flowsync command line hands it its arguments (`pipelines/cli.py` imports the simulator
only inside this command)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from datetime import datetime

from .faults import FAULT_KINDS
from .server import Simulator
from .world import SimConfig


def _fault_rate(text: str) -> tuple[str, float]:
    """KIND=RATE; the kind is checked against the simulator's by `simulate` itself."""
    kind, sep, rate = text.partition("=")
    if not sep or not kind:
        raise argparse.ArgumentTypeError(f"expected KIND=RATE, got {text!r}")
    try:
        value = float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(f"rate must be a number, got {rate!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"rate must be in [0, 1], got {value}")
    return kind, value


def _utc(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 date-time, got {text!r}") from None


def parser() -> argparse.ArgumentParser:
    sim = argparse.ArgumentParser(
        prog="flowsync simulate",
        description="Serves both APIs on loopback until interrupted. The admin API under "
                    "/_sim/ moves the clock, injects faults and reports request counts.")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--start", type=_utc, default=None,
                     help="the clock's start (ISO 8601, UTC); default now")
    sim.add_argument("--twilio-flows", type=int, default=5)
    sim.add_argument("--twilio-executions", type=int, default=5_000)
    sim.add_argument("--hilos-flows", type=int, default=4)
    sim.add_argument("--hilos-contact-runs", type=int, default=5_000)
    sim.add_argument("--history-days", type=int, default=35)
    sim.add_argument("--hilos-order", choices=["newest", "oldest", "unordered"],
                     default="newest")
    sim.add_argument("--fault", type=_fault_rate, action="append", default=[],
                     metavar="KIND=RATE",
                     help="inject faults; KIND one of the simulator's (429, 500, 502, 503, drop, "
                          "slow, truncate, maintenance, wrong_shape, self_link)")
    sim.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds on 429")
    sim.add_argument("--latency-ms", type=float, default=0.0, help="added to every API request")
    sim.add_argument("--concurrency-limit", type=int, default=0, metavar="N",
                     help="Twilio answers 429 (error 20429) above N requests at once, as an "
                          "account's concurrency limit; 0: none")
    sim.add_argument("--spec-shapes", action="store_true",
                     help="records in every shape the specs allow (no flow, unknown status, "
                          "filled Twilio contexts, ...), as real accounts hold")
    sim.add_argument("--type-drift", action="store_true",
                     help="Twilio flow_version now and then as a string")
    return sim


def main(argv: Sequence[str] | None = None) -> int:
    """`flowsync simulate`: serves both APIs until interrupted; exit 2 on a bad option."""
    args = parser().parse_args(argv)
    unknown = [kind for kind, _ in args.fault if kind not in FAULT_KINDS]
    if unknown:
        print(f"flowsync simulate: --fault: expected KIND=RATE with KIND one of "
              f"{', '.join(FAULT_KINDS)}, got {unknown[0]!r}", file=sys.stderr)
        return 2
    config = SimConfig(
        seed=args.seed, start=args.start, twilio_flows=args.twilio_flows,
        twilio_executions=args.twilio_executions, hilos_flows=args.hilos_flows,
        hilos_contact_runs=args.hilos_contact_runs, history_days=args.history_days,
        hilos_order=args.hilos_order, spec_shapes=args.spec_shapes, type_drift=args.type_drift,
    )
    try:
        sim = Simulator(config, host=args.host, port=args.port)
    except OSError as exc:
        print(f"flowsync simulate: cannot listen on {args.host}:{args.port}: {exc.strerror}",
              file=sys.stderr)
        return 2
    sim.faults.configure(rates=dict(args.fault), retry_after=args.retry_after,
                         latency_ms=args.latency_ms, concurrency_limit=args.concurrency_limit)
    print(f"flowsync simulator on {sim.base_url} (seed {config.seed}, clock "
          f"{sim.info()['now']}): {sim.describe()}")
    print("point a pipeline at it (these credentials are the simulator's own):")
    for name, value in sim.pipeline_env().items():
        print(f"  export {name}={value}")
    print("admin: GET /_sim/info | POST /_sim/advance {\"seconds\": 3600} | "
          "POST /_sim/faults {\"rates\": {\"429\": 0.1}} | GET /_sim/stats")
    print("Ctrl-C stops it.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sim.serve_forever()
    return 0
