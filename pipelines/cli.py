"""The `flowsync` command line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Sequence
from datetime import datetime

from simulator import FAULT_KINDS, SimConfig, Simulator

from .runner import (
    SOURCES,
    ConfigError,
    Destination,
    SourceResult,
    build_analytics,
    configured_sources,
    make_destination,
    run_source,
)

log = logging.getLogger("flowsync")

# exit codes: 0 success; 1 a load or an API failed; 2 usage or configuration error (nothing
# configured, credentials rejected, destination unreachable); 3 another run holds a pipeline
EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_BUSY = 0, 1, 2, 3


def _fault_rate(text: str) -> tuple[str, float]:
    kind, sep, rate = text.partition("=")
    if not sep or kind not in FAULT_KINDS:
        raise argparse.ArgumentTypeError(
            f"expected KIND=RATE with KIND one of {', '.join(FAULT_KINDS)}, got {text!r}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowsync",
        description="Sync Hilos and Twilio Studio flow runs into DuckDB or Postgres and build "
                    "funnel analytics.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="incremental extract and load, then rebuild analytics")
    run.add_argument("--source", choices=["hilos", "twilio_studio", "all"], default="all")
    run.add_argument("--destination", choices=["duckdb", "postgres"], default="duckdb")
    run.add_argument("--no-transform", action="store_true", help="skip the analytics rebuild")

    tr = sub.add_parser("transform", help="rebuild the analytics tables only")
    tr.add_argument("--destination", choices=["duckdb", "postgres"], default="duckdb")

    demo = sub.add_parser("demo", help="simulator -> pipeline -> DuckDB -> analytics, offline")
    demo.add_argument("--duckdb", metavar="PATH", default="flowsync_demo.duckdb")
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
                     metavar="KIND=RATE", help=f"inject faults; KIND in {', '.join(FAULT_KINDS)}")
    sim.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds on 429")
    sim.add_argument("--latency-ms", type=float, default=0.0, help="added to every API request")
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.duckdb, small=args.scale == "small")


def cmd_simulate(args: argparse.Namespace) -> int:
    config = SimConfig(
        seed=args.seed, start=args.start, twilio_flows=args.twilio_flows,
        twilio_executions=args.twilio_executions, hilos_flows=args.hilos_flows,
        hilos_contact_runs=args.hilos_contact_runs, history_days=args.history_days,
        hilos_order=args.hilos_order,
    )
    try:
        sim = Simulator(config, host=args.host, port=args.port)
    except OSError as exc:
        print(f"flowsync simulate: cannot listen on {args.host}:{args.port}: {exc.strerror}",
              file=sys.stderr)
        return EXIT_CONFIG
    sim.faults.configure(rates=dict(args.fault), retry_after=args.retry_after,
                         latency_ms=args.latency_ms)
    info = sim.info()
    t, h = info["twilio"], info["hilos"]
    print(f"flowsync simulator on {sim.base_url} (seed {config.seed}, clock {info['now']})")
    print(f"  twilio studio: {t['flows']} flows, {t['executions']} executions in retention")
    print(f"  hilos: {h['flows']} flows, {h['flow_executions']} flow executions, "
          f"{h['contact_runs']} contact runs")
    print("point a pipeline at it (these credentials are the simulator's own):")
    print(f"  export SOURCES__HILOS__BASE_URL={sim.base_url}")
    print(f"  export SOURCES__HILOS__API_TOKEN={h['api_token']}")
    print(f"  export SOURCES__TWILIO_STUDIO__BASE_URL={sim.base_url}")
    print(f"  export SOURCES__TWILIO_STUDIO__ACCOUNT_SID={t['account_sid']}")
    print(f"  export SOURCES__TWILIO_STUDIO__AUTH_TOKEN={t['auth_token']}")
    print("admin: GET /_sim/info | POST /_sim/advance {\"seconds\": 3600} | "
          "POST /_sim/faults {\"rates\": {\"429\": 0.1}} | GET /_sim/stats")
    print("Ctrl-C stops it.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sim.serve_forever()
    return EXIT_OK


class Progress:
    """A status line per source on a terminal; a log line every 10 s otherwise."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last_log = 0.0

    def __call__(self, source: str, http, rows, elapsed: float) -> None:
        retries = sum(http.retries.values())
        text = (f"{source}: {rows.snapshot()}; {http.request_count:,} requests"
                + (f", {retries} retried" if retries else "") + f"; {elapsed:.0f} s")
        if self.tty:
            self.stream.write(f"\r\033[K  {text}")
            self.stream.flush()
        elif elapsed - self._last_log >= 10:
            self._last_log = elapsed
            log.info("progress: %s", text)

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()
        self._last_log = 0.0


def print_result(r: SourceResult) -> None:
    status = "ok" if r.ok else "FAILED"
    tables = ", ".join(f"{t} {n:,}" for t, n in sorted(r.rows.items())) or "none"
    print(f"{r.source}: {status} in {r.seconds:.1f} s, {r.requests:,} requests; "
          f"rows fetched: {tables}")


def transform(destination: Destination) -> int:
    """Rebuilds the analytics tables and prints what they hold; the exit code."""
    from transforms.runner import CheckFailedError

    t0 = time.perf_counter()
    try:
        results = build_analytics(destination)
    except ConfigError as exc:
        print(f"flowsync: transform: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except CheckFailedError as exc:
        print(f"flowsync: transform: {exc}; the previous tables are kept", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # the database's own error, in one line
        print(f"flowsync: transform failed: {type(exc).__name__}: "
              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}", file=sys.stderr)
        return EXIT_FAILED
    marts = ", ".join(f"{r.name} {r.rows:,}" for r in results if not r.name.startswith(
        ("stg_", "twilio_last")))
    print(f"analytics: rebuilt in {time.perf_counter() - t0:.1f} s; rows: {marts}")
    return EXIT_OK


def run_sources(sources: list[str], destination_kind: str, duckdb_path: str | None = None,
                analytics: bool = False) -> tuple[int, list[SourceResult]]:
    """Runs the sources one after another, then (optionally) the analytics.

    Returns the exit code and what each source did.
    """
    try:
        destination = make_destination(destination_kind, duckdb_path)
    except ConfigError as exc:
        print(f"flowsync: {destination_kind}: {exc}", file=sys.stderr)
        return EXIT_CONFIG, []
    print(f"flowsync: loading {', '.join(sources)} into {destination.label}")
    progress = Progress()
    results = []
    for source in sources:
        result = run_source(source, destination, progress)
        progress.done()
        print_result(result)
        if result.error:
            print(f"flowsync: {source}: {result.error}", file=sys.stderr)
        results.append(result)
    failed = [r for r in results if not r.ok]
    # the analytics are rebuilt from whatever loaded, even when a source failed
    if analytics and any(r.loaded for r in results):
        code = transform(destination)
        if code != EXIT_OK:
            return code, results
    if not failed:
        return EXIT_OK, results
    if all(r.error and r.error.startswith("another flowsync run") for r in failed):
        return EXIT_BUSY, results
    if all(r.config_error for r in failed):
        return EXIT_CONFIG, results
    return EXIT_FAILED, results


def cmd_run(args: argparse.Namespace) -> int:
    configured = configured_sources()
    if args.source == "all":
        if not configured:
            print("flowsync: no source is configured: set sources.hilos.api_token and/or "
                  "sources.twilio_studio credentials (.dlt/secrets.toml or SOURCES__... env "
                  "vars; see .dlt/example.secrets.toml)", file=sys.stderr)
            return EXIT_CONFIG
        sources = [s for s in SOURCES if s in configured]
    else:
        if args.source not in configured:
            key = ("sources.hilos.api_token" if args.source == "hilos" else
                   "sources.twilio_studio.account_sid + auth_token (or api_key_sid + api_key_secret)")
            print(f"flowsync: {args.source} is not configured: set {key}", file=sys.stderr)
            return EXIT_CONFIG
        sources = [args.source]
    code, _ = run_sources(sources, args.destination, analytics=not args.no_transform)
    return code


def cmd_transform(args: argparse.Namespace) -> int:
    try:
        destination = make_destination(args.destination)
    except ConfigError as exc:
        print(f"flowsync: {args.destination}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return transform(destination)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # progress and summaries are printed; the http layer's retry notes stay in -v
        logging.getLogger("flowsync").setLevel(logging.INFO if not sys.stderr.isatty()
                                               else logging.WARNING)
    handlers = {"simulate": cmd_simulate, "run": cmd_run, "demo": cmd_demo,
                "transform": cmd_transform}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
