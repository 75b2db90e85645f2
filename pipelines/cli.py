"""The `flowsync` command line: arguments in, the application's answers printed.

The simulator is imported only by the commands that run it (`simulate`; `demo`, through
`pipelines.demo`), so `run` and `transform` never load it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sources import registry
from sources.errors import redact

from . import __version__, events
from .app import (
    Exit,
    destination_or_exit,
    holding,
    run_sources,
    select_sources,
    stoppable,
    transform_watched,
)
from .config import telemetry_off_unless_asked, typed
from .progress import Progress
from .warehouse import KINDS, Destination


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
    parser.add_argument("--log-format", choices=["text", "json"], default="text",
                        help="json: every event and log record as one JSON object a line "
                             "(for log shippers)")
    parser.add_argument("--version", action="version", version=f"flowsync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # accepted after the command too (`flowsync run -v`); it must not reset the one before
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="debug logging")
    common.add_argument("--log-format", choices=["text", "json"], default=argparse.SUPPRESS,
                        help="json: every event and log record as one JSON object a line")
    warehouse = argparse.ArgumentParser(add_help=False, parents=[common])
    warehouse.add_argument("--destination", choices=KINDS, default="duckdb",
                           help="where the warehouse is (default duckdb)")
    warehouse.add_argument("--duckdb", metavar="PATH",
                           help="this DuckDB file (implies --destination duckdb)")

    run = sub.add_parser("run", parents=[warehouse],
                         help="incremental extract and load, then rebuild analytics")
    run.add_argument("--source", choices=[*registry.names(), "all"], default="all",
                     help="one source, or every configured one (default)")
    run.add_argument("--account", action="append", metavar="NAME", default=[],
                     help="only this account (repeatable; default every configured one)")
    run.add_argument("--no-transform", action="store_true", help="skip the analytics rebuild")

    transform = sub.add_parser("transform", parents=[warehouse],
                               help="rebuild the analytics tables only")
    transform.add_argument("--full", action="store_true",
                           help="rebuild every table from all the raw rows, not only what "
                                "changed since the last rebuild")

    rep = sub.add_parser("report", parents=[warehouse],
                         help="write the analytics as one offline HTML file")
    rep.add_argument("--output", metavar="PATH", default="flowsync-report.html",
                     help="the file to write (default flowsync-report.html)")

    demo = sub.add_parser("demo", parents=[common],
                          help="simulator -> pipeline -> DuckDB -> analytics, offline")
    demo.add_argument("--duckdb", metavar="PATH", default="flowsync_demo.duckdb",
                      help="the demo's DuckDB file (default flowsync_demo.duckdb)")
    demo.add_argument("--privacy", choices=["keep", "hash", "drop"], default="keep",
                      help="contact addresses: as the API gives them, HMAC-hashed with a key "
                           "made for this demo, or not stored")
    demo.add_argument("--scale", choices=["full", "small"], default="full",
                      help="small: a few hundred runs, for a quick check")

    sub.add_parser("dbt-sources", parents=[common],
                   help="print a dbt sources.yml for the analytics tables (source flowsync)")

    # its options are the simulator's own (`simulator.cli`): `main` hands them over
    sub.add_parser("simulate", help="run the Hilos and Twilio Studio API simulator "
                   "(flowsync simulate --help for its options)", add_help=False)
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.duckdb, small=args.scale == "small", privacy=args.privacy)


def cmd_dbt_sources(args: argparse.Namespace) -> int:
    from transforms.contracts import sources_yml

    print(sources_yml(), end="")
    return Exit.OK


def cmd_run(args: argparse.Namespace) -> int:
    selection = select_sources(args.source, args.account)
    if selection.problem:
        print(f"flowsync: {selection.problem}", file=sys.stderr)
        return Exit.CONFIG
    code, _ = run_sources(selection.sources, kind(args), args.duckdb,
                          analytics=not args.no_transform, progress=PROGRESS,
                          accounts=args.account)
    return code


def kind(args: argparse.Namespace) -> str:
    """The warehouse kind asked for: `--duckdb PATH` means DuckDB."""
    return "duckdb" if args.duckdb else args.destination


def cmd_transform(args: argparse.Namespace) -> int:
    destination = destination_or_exit(kind(args), args.duckdb)
    if isinstance(destination, Exit):
        return destination
    return transform_watched(destination, args.full)


def cmd_report(args: argparse.Namespace) -> int:
    destination = destination_or_exit(kind(args), args.duckdb)
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
            written = write_report(wh, destination.label, Path(output),
                                   str(typed("analytics.timezone")))
    except OSError as exc:
        print(f"flowsync: report: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return Exit.CONFIG
    events.result(f"report: {written.path} ({written.summary}) in "
                  f"{time.perf_counter() - t0:.1f} s", figures={"path": str(written.path)})
    return Exit.OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulate"]:  # serves until Ctrl-C, which ends it cleanly
        from simulator.cli import main as simulate

        return simulate(argv[1:])
    args = build_parser().parse_args(argv)
    telemetry_off_unless_asked()
    OUTPUT.json = args.log_format == "json"
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if OUTPUT.json:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonRecords())
    # no message may quote a secret: a DSN in a driver's or dlt's error, a URL's password
    for handler in logging.getLogger().handlers:
        handler.addFilter(Redacted())
    logging.getLogger("dlt").addFilter(Redacted())
    if not args.verbose:
        # progress and summaries are printed; the http layer's retry notes stay in -v
        logging.getLogger("flowsync").setLevel(logging.INFO if not sys.stderr.isatty()
                                               else logging.WARNING)
    handlers = {"run": cmd_run, "demo": cmd_demo, "dbt-sources": cmd_dbt_sources,
                "transform": cmd_transform, "report": cmd_report}
    with events.listening(show), stoppable():
        return int(handlers[args.command](args))


PROGRESS = Progress()  # a status line per source on a terminal (stderr)


class Output:
    """How events are shown: text (stamped with the UTC time when stdout is not a
    terminal: a week of cron mail stays dated), or JSON objects."""

    json = False


OUTPUT = Output()


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def show(event: events.Event) -> None:
    """What the application says: results on stdout, the rest on stderr; with
    --log-format json, one object a line on stdout."""
    PROGRESS.done()  # a status line being drawn is cleared first
    if OUTPUT.json:
        print(json.dumps({"time": stamp(), "level": "info" if event.kind == events.RESULT
                          else "warning", "source": event.source, "account": event.account,
                          "message": redact(event.text), "figures": event.figures}),
              flush=True)
    elif event.kind == events.RESULT:
        print(event.text if sys.stdout.isatty() else f"{stamp()} {event.text}", flush=True)
    else:
        print(f"flowsync: {event.text}", file=sys.stderr, flush=True)


class JsonRecords(logging.Formatter):
    """A log record as one JSON object (--log-format json)."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"time": datetime.fromtimestamp(record.created, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"), "level": record.levelname.lower(),
            "logger": record.name, "message": redact(record.getMessage())})


if __name__ == "__main__":
    sys.exit(main())
