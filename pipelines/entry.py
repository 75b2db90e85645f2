"""The `flowsync` command's entry point: its modules imported with Python's cyclic
collector off, then `pipelines.cli`.

Importing dlt and the rest makes some 80,000 objects the collector tracks, none of them
garbage; at its usual thresholds it walked them again and again while they came: about
0.2 of the 1.1-1.3 CPU-s the imports took (`python -c "import pipelines.cli"`, five runs
each way). It is on again before any command runs.
"""

from __future__ import annotations

import gc


def main() -> int:
    was_on = gc.isenabled()
    gc.disable()
    try:
        from pipelines.cli import main as cli
    finally:
        if was_on:
            gc.enable()
    return cli()
