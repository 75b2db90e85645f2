"""Arrow tables handed to dlt in batches of many pages.

dlt works out and merges a table's schema for every item a resource yields, 5-10 ms each
whatever its size: a source yielding each page of an API on its own paid that per page
(a 1,000-row Hilos page, a Twilio page of executions). `Batches` gathers consecutive
tables of one schema and hands them on together once they hold `rows` rows; Arrow joins
them without copying. A table of another schema (a page with a new field) first hands on
what was gathered, so dlt sees every schema as before. Anything that is not a table (a
quarantined row, a table with dlt hints) passes at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

ROWS = 5000  # rows per batch: a few pages, a few MiB of Arrow


class Batches:
    """Tables gathered until they hold `rows` rows: `add` each item, then `flush`."""

    def __init__(self, rows: int = ROWS) -> None:
        self.rows = rows
        self._held: list[pa.Table] = []
        self._count = 0

    def add(self, item: Any) -> Iterator[Any]:
        """What is due to go on after `item`: a batch, `item` itself, or nothing."""
        if not isinstance(item, pa.Table):
            yield item
            return
        if self._held and not item.schema.equals(self._held[0].schema):
            yield from self.flush()
        self._held.append(item)
        self._count += item.num_rows
        if self._count >= self.rows:
            yield from self.flush()

    def flush(self) -> Iterator[pa.Table]:
        """What is held, as one table (nothing when nothing is)."""
        if self._held:
            held, self._held, self._count = self._held, [], 0
            yield held[0] if len(held) == 1 else pa.concat_tables(held)
