"""`flowsync report`: one offline HTML file of the analytics tables (`data` reads them,
`charts` and `page` draw them)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from transforms.runner import Warehouse

from .data import ReportData, read
from .page import render

__all__ = ["Written", "write_report"]


@dataclass(frozen=True)
class Written:
    path: Path
    bytes: int
    runs: int  # runs the report covers (test runs excluded)
    flows: int
    missing: list[str]  # analytics tables not built yet

    @property
    def summary(self) -> str:
        what = (f"analytics not built yet: {', '.join(self.missing)} missing" if self.missing
                else f"{self.runs:,} runs in {self.flows:,} flow(s)" if self.runs
                else "no runs yet")
        return f"{self.bytes / 1024:,.0f} KiB, {what}"


def write_report(wh: Warehouse, warehouse_label: str, output: Path,
                 zone: str = "UTC") -> Written:
    """Reads the analytics tables and writes the page to `output` (atomically: a reader
    never sees half a file; a failure leaves the previous report). `zone`: where the
    analytics cut their days (analytics.timezone), named on the page."""
    data: ReportData = read(wh)
    html = render(data, warehouse_label, datetime.now(UTC), zone).encode("utf-8")
    output = output.expanduser()
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(html)
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Written(output, len(html), sum(p.entered for p in data.providers),
                   sum(len(p.flows) for p in data.providers), data.missing)
