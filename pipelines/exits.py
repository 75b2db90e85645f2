"""The exit codes of every command.

0 success; 1 a load, an API or the destination failed (the next run catches up); 2 usage
or configuration (nothing configured, credentials rejected, destination unreachable, a
warehouse newer than this release); 3 the warehouse stayed taken (another run, a reader of
the DuckDB file) for longer than lock.wait_seconds; 130/143 stopped by SIGINT/SIGTERM.
"""

from __future__ import annotations

import signal
from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    CONFIG = 2
    BUSY = 3
    SIGINT = 128 + signal.SIGINT
    SIGTERM = 128 + signal.SIGTERM
