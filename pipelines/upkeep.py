"""What a command does to the warehouse around the loads, each step saying in one line
what it changed: the layout brought up to date (`migrations`), the stored rows kept in
line with the privacy mode (`privacy`), each source's run noted for `sync_status`.
"""

from __future__ import annotations

from collections.abc import Callable

from sources.errors import first_line
from transforms.warehouse import Warehouse

from . import events
from .exits import Exit
from .privacy import Reconciled
from .runner import SourceRun
from .warehouse import Destination


def up_to_date(destination: Destination) -> Exit | None:
    """The warehouse's layout brought up to date (`migrations`) before anything else
    touches it; says what changed. Exit 2 for a layout newer than this release's."""
    from .migrations import migrate

    try:
        with destination.warehouse() as wh:
            done = migrate(wh)
    except Exception as exc:  # the database's own error, in one line
        events.notice(f"upgrading the warehouse failed: {type(exc).__name__}: "
                      f"{first_line(exc)}")
        return Exit.FAILED
    if done.problem:
        events.notice(f"{done.problem}")
        return Exit.CONFIG
    if done.upgraded and done.applied:
        events.notice(f"warehouse upgraded: {'; '.join(done.applied)}")
    for notice in done.notices:
        events.notice(f"{notice}")
    return None


def keep_private(destination: Destination, step: Callable[[Warehouse], Reconciled]) -> Exit | None:
    """Brings the stored rows in line with the privacy mode (`pipelines.privacy`); says
    what it changed. Exit 2 when that needs privacy.rewrite, 1 when the database failed."""
    try:
        with destination.warehouse() as wh:
            done = step(wh)
    except Exception as exc:  # the database's own error, in one line
        events.notice(f"privacy: {type(exc).__name__}: {first_line(exc)[:300]}")
        return Exit.FAILED
    if done.problem:
        events.notice(f"{done.problem}")
        return Exit.CONFIG
    if done.changed:
        events.notice("stored contact data rewritten for privacy: " + ", ".join(
                      f"{column} {n:,}" for column, n in sorted(done.changed.items())))
    return None


def note_sync(destination: Destination, result: SourceRun) -> None:
    """Records the source's run for `analytics.sync_status`; a warehouse that cannot take
    the note is reported, not fatal (the run's own outcome stands)."""
    from transforms.runner import record_sync

    outcome = "ok" if result.ok else "failed"
    error = (result.error or "").strip().splitlines()[0][:500] if result.error else None
    try:
        with destination.warehouse() as wh:
            record_sync(wh, result.source, result.account.name, result.started_at, outcome,
                        error, result.loaded)
    except Exception as exc:
        events.notice(f"{result.label}: could not record the run in sync_status: "
                      f"{type(exc).__name__}")
