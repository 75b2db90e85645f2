"""One read of a Hilos list: pages checked and windowed, paused at a checkpoint.

A read yields (rows to load, rejects) per page. When the checkpoint is due and the list is
known to be newest-first, it stops after a page and leaves a `Backfill` saying where the
rest starts; the next load reads what arrived on top, then goes on from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from ..checkpoint import Checkpoint
from ..errors import PagingError
from ..fanin import prefetch
from ..records import Quarantine, check_records
from .client import Page
from .cursor import Backfill, ContactsCursor, ExecutionsCursor, cut_after
from .window import Window


class ListRead:
    """Reads pages through a window.

    Args:
        window: where to stop, and the order checks.
        statuses: the statuses the records may have.
        quarantine: where rejected records go.
        checkpoint: when to pause (None: never).
        until: the window start, recorded in the backfill a pause leaves.
        keep: which rows to keep (a backfill's: those the cut-short read had not reached).
        resumes: the backfill this read goes on with, if any.
        as_json: fields kept whole as JSON text (see `records.check_records`).
        scrub: what may be stored of a record (see `records.check_records`).
        watch: a time whose row ids are remembered (`watched`), to keep a later read from
            loading them twice in one load.
    """

    def __init__(self, window: Window, statuses: frozenset[str], quarantine: Quarantine, *,
                 checkpoint: Checkpoint | None = None, until: datetime | None = None,
                 keep: Callable[[dict], bool] | None = None,
                 watch: datetime | None = None, resumes: Backfill | None = None,
                 as_json: tuple[str, ...] = (),
                 scrub: Callable[[Any], Any] | None = None) -> None:
        self.window = window
        self.statuses = statuses
        self.quarantine = quarantine
        self.checkpoint = checkpoint
        self.until = until
        self.keep = keep
        self.watch = watch
        self.resumes = resumes
        self.as_json = as_json
        self.scrub = scrub
        self.watched: set[str] = set()
        self.count: int | None = None  # the list's length on the first page read
        self.cut: Backfill | None = None
        self.failure: str | None = None  # a listing stopped for good (PagingError)

    def pages(self, pages: Iterator[Page]) -> Iterator[tuple[list[dict], list[dict]]]:
        read_all = True
        progressed = False  # a pause only after new rows: every load moves the read on
        last: tuple[list[dict], Page] | None = None
        while True:
            try:
                raw = next(pages)
            except StopIteration:
                break
            except PagingError as exc:
                # a read that may pause keeps what it read and goes on from there next time
                if self.checkpoint is None or last is None or not self.window.may_cut():
                    raise
                self.cut = cut_after(last[0], last[1].number, last[1].count, self.until,
                                     self.resumes)
                if self.cut is None:
                    raise
                self.failure = str(exc)
                read_all = False
                break
            if self.count is None:
                self.count = raw.count
            rows, bad = check_records(raw, self.quarantine, key="id", cursor="created_on",
                                      statuses=self.statuses, as_json=self.as_json,
                                      scrub=self.scrub)
            kept, done = self.window.pass_page(rows, raw.count)
            if self.keep is not None:
                kept = [r for r in kept if self.keep(r)]
            if self.watch is not None:
                self.watched.update(r["id"] for r in kept if r["created_on"] == self.watch)
            progressed = progressed or bool(kept)
            last = (rows, raw)
            if self.checkpoint is not None:
                self.checkpoint.count(len(kept))
            yield kept, bad
            if done:
                read_all = False
                break
            if (self.checkpoint is not None and progressed and raw.has_next
                    and self.window.may_cut() and self.checkpoint.due()):
                self.cut = cut_after(rows, raw.number, raw.count, self.until, self.resumes)
                if self.cut is not None:
                    read_all = False
                    break
        self.window.finish(read_all)


class Sync:
    """A sync's reads of one list: what arrived on top down to `start`, then the rest of
    the backfill a checkpoint left, if any; only the last read may pause again. Each page
    is read while the one before it is loaded (`prefetch`).

    After `pages()`: `cut`, the backfill to go on with next load (None: all read).
    """

    def __init__(self, client_pages: Callable[[int], Iterator[Page]],
                 before: ContactsCursor | ExecutionsCursor, start: datetime | None,
                 statuses: frozenset[str], quarantine: Quarantine, checkpoint: Checkpoint,
                 what: str, as_json: tuple[str, ...] = (),
                 scrub: Callable[[Any], Any] | None = None) -> None:
        self.client_pages = client_pages
        self.pending = before.backfill
        self.start = start
        self.statuses = statuses
        self.quarantine = quarantine
        self.checkpoint = checkpoint
        self.window = Window(start, before.order, what)
        self.what = what
        self.as_json = as_json
        self.scrub = scrub
        self.cut: Backfill | None = self.pending
        self.failure: str | None = None
        self.duplicates = 0

    def pages(self) -> Iterator[tuple[list[dict], list[dict]]]:
        pending = self.pending
        top = ListRead(self.window, self.statuses, self.quarantine,
                       checkpoint=None if pending else self.checkpoint, until=self.start,
                       watch=pending.below if pending else None, as_json=self.as_json,
                       scrub=self.scrub)
        yield from prefetch(top.pages(self.client_pages(1)))
        self.cut, self.duplicates, self.failure = top.cut, top.window.duplicates, top.failure
        if pending is None:
            return
        rest = ListRead(Window(pending.until, self.window.order, self.what), self.statuses,
                        self.quarantine, checkpoint=self.checkpoint, until=pending.until,
                        keep=lambda r: pending.keeps(r) and r["id"] not in top.watched,
                        resumes=pending, as_json=self.as_json, scrub=self.scrub)
        yield from prefetch(rest.pages(self.client_pages(pending.first_page(top.count))))
        self.cut = rest.cut
        self.failure = rest.failure
        self.duplicates += rest.window.duplicates
