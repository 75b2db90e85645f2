"""The `flowsync` command line: arguments in, the application's answers printed.

The simulator is imported only by the commands that run it (`simulate`; `demo`, through
`pipelines.demo`), so `run` and `transform` never load it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sources import registry
from sources.errors import redact

from . import events
from .app import (
    Exit,
    destination_or_exit,
    holding,
    run_sources,
    select_sources,
    stoppable,
    transform_watched,
)
from .config import telemetry_off_unless_asked
from .progress import Progress
from .warehouse import Destination


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


class Redacted(logging.Filter):
    """Log records with every secret removed (`sources.errors.redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowsync",
        description="Sync Hilos and Twilio Studio flow runs into DuckDB or Postgres and build "
                    "funnel analytics.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="incremental extract and load, then rebuild analytics")
    run.add_argument("--source", choices=[*registry.names(), "all"], default="all")
    run.add_argument("--destination", choices=["duckdb", "postgres"], default="duckdb")
    run.add_argument("--no-transform", action="store_true", help="skip the analytics rebuild")

    tr = sub.add_parser("transform", help="rebuild the analytics tables only")
    tr.add_argument("--destination", choices=["duckdb", "postgres"], default="duckdb")

    rep = sub.add_parser("report", help="write the analytics as one offline HTML file")
    rep.add_argument("--destination", choices=["duckdb", "postgres"], default="duckdb")
    rep.add_argument("--output", metavar="PATH", default="flowsync-report.html")

    demo = sub.add_parser("demo", help="simulator -> pipeline -> DuckDB -> analytics, offline")
    demo.add_argument("--duckdb", metavar="PATH", default="flowsync_demo.duckdb")
    demo.add_argument("--privacy", choices=["keep", "hash", "drop"], default="keep",
                      help="contact addresses: as the API gives them, HMAC-hashed with a key "
                           "made for this demo, or not stored")
    demo.add_argument("--scale", choices=["full", "small"], default="full",
                      help="small: a few hundred runs, for a quick check")

    sim = sub.add_parser("simulate", help="run the Hilos and Twilio Studio API simulator",
                         description="Serves both APIs on loopback until interrupted. The "
                                     "admin API under /_sim/ moves the clock, injects faults "
                                     "and reports request counts.")
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
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.duckdb, small=args.scale == "small", privacy=args.privacy)


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulator import FAULT_KINDS, SimConfig, Simulator

    unknown = [kind for kind, _ in args.fault if kind not in FAULT_KINDS]
    if unknown:
        print(f"flowsync simulate: --fault: expected KIND=RATE with KIND one of "
              f"{', '.join(FAULT_KINDS)}, got {unknown[0]!r}", file=sys.stderr)
        return Exit.CONFIG
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
        return Exit.CONFIG
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
    return Exit.OK


def cmd_run(args: argparse.Namespace) -> int:
    selection = select_sources(args.source)
    if selection.problem:
        print(f"flowsync: {selection.problem}", file=sys.stderr)
        return Exit.CONFIG
    code, _ = run_sources(selection.sources, args.destination, analytics=not args.no_transform,
                          progress=PROGRESS)
    return code


def cmd_transform(args: argparse.Namespace) -> int:
    destination = destination_or_exit(args.destination)
    if isinstance(destination, Exit):
        return destination
    return transform_watched(destination)


def cmd_report(args: argparse.Namespace) -> int:
    destination = destination_or_exit(args.destination)
    if isinstance(destination, Exit):
        return destination
    missing = destination.missing()
    if missing:  # a report reads: it does not create an empty warehouse where none was
        print(f"flowsync: report: {missing}", file=sys.stderr)
        return Exit.CONFIG
    return holding(destination, lambda bound: write(bound, args.output))


def write(destination: Destination, output: str) -> Exit:
    """The report of the held warehouse, written to `output`; one line says what it holds."""
    from .report import write_report

    t0 = time.perf_counter()
    try:
        with destination.warehouse() as wh:
            written = write_report(wh, destination.label, Path(output))
    except OSError as exc:
        print(f"flowsync: report: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return Exit.CONFIG
    print(f"report: {written.path} ({written.summary}) in {time.perf_counter() - t0:.1f} s")
    return Exit.OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    telemetry_off_unless_asked()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # no message may quote a secret: a DSN in a driver's or dlt's error, a URL's password
    for handler in logging.getLogger().handlers:
        handler.addFilter(Redacted())
    logging.getLogger("dlt").addFilter(Redacted())
    if not args.verbose:
        # progress and summaries are printed; the http layer's retry notes stay in -v
        logging.getLogger("flowsync").setLevel(logging.INFO if not sys.stderr.isatty()
                                               else logging.WARNING)
    handlers = {"simulate": cmd_simulate, "run": cmd_run, "demo": cmd_demo,
                "transform": cmd_transform, "report": cmd_report}
    if args.command == "simulate":  # serves until Ctrl-C, which ends it cleanly
        return int(cmd_simulate(args))
    with events.listening(show), stoppable():
        return int(handlers[args.command](args))


PROGRESS = Progress()  # a status line per source on a terminal (stderr)


def show(event: events.Event) -> None:
    """What the application says: results on stdout, the rest on stderr."""
    PROGRESS.done()  # a status line being drawn is cleared first
    if event.kind == events.RESULT:
        print(event.text, flush=True)
    else:
        print(f"flowsync: {event.text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
