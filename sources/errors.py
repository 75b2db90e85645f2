"""What can go wrong, and the outcome each kind of failure means for a run.

Every error flowsync raises on purpose is a `FlowsyncError` and carries its `outcome`,
decided here where the kind of failure is defined: the runner reads the outcome off the
error instead of guessing it later from exception types or message text.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import ClassVar


class Outcome(StrEnum):
    """How one source's run ended, worst last (see `worst`)."""

    OK = "ok"
    FAILED = "failed"  # the API, the network or the destination failed; a later run catches up
    CONFIG = "config"  # the user must fix a setting (credentials, destination, a value)
    BUSY = "busy"  # another flowsync run holds what this run needs
    STOPPED = "stopped"  # SIGINT or SIGTERM: the run ends, what was committed is kept


def first_line(exc: BaseException) -> str:
    """An error in one line, secrets redacted: its message's first line, or its type's name."""
    text = redact(str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# secrets this process was given (a DSN, its password): never printed, whatever quotes them
_SECRETS: set[str] = set()
# user:password@ in a URL or a bare DSN, and libpq's password=... (quoted or not)
_USERINFO = re.compile(r"(?<![\w%])([\w.~%+-]+):([^@\s\"'/]+)@")
_PASSWORD = re.compile(r"\b(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s\"']+)", re.IGNORECASE)


def keep_secret(*values: str | None) -> None:
    """Registers values that `redact` removes from every message from now on."""
    _SECRETS.update(v for v in values if v and len(v) >= 3)


def redact(text: str) -> str:
    """The text without any registered secret, URL password or `password=` value: used by
    every message that can quote a destination (parse errors of any shape, the driver's,
    dlt's)."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _USERINFO.sub(lambda m: f"{m.group(1)}:***@", text)
    return _PASSWORD.sub(lambda m: f"{m.group(1)}***", text)


class FlowsyncError(Exception):
    """An error flowsync understands; its message is for the user and holds no secret."""

    outcome: ClassVar[Outcome] = Outcome.FAILED


class ConfigError(FlowsyncError, ValueError):
    """A problem the user fixes in configuration; the message says what and where."""

    outcome = Outcome.CONFIG


class BusyError(FlowsyncError):
    """Another flowsync run (or a reader of the DuckDB file) held what this run needs for
    longer than it would wait."""

    outcome = Outcome.BUSY


class StoppedError(FlowsyncError):
    """SIGINT or SIGTERM arrived while the run waited (for the warehouse, a pipeline)."""

    outcome = Outcome.STOPPED


class ApiError(FlowsyncError):
    """A request failed for good. The message names the service, endpoint and status."""

    def __init__(self, message: str, *, endpoint: str, status: int | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status


class AuthError(ApiError):
    """The API rejected the credentials (401/403): a setting to fix."""

    outcome = Outcome.CONFIG


class NotFoundError(ApiError):
    """The API answered 404."""


class PagingError(ApiError):
    """A listing that would never end: a next-page link repeating a page already read, or
    more pages than any real list has. The listing stops; the run fails (exit 1)."""


class ShapeError(ApiError):
    """The API kept answering 200 with a body that is not its shape (an HTML maintenance
    page, JSON without the list key): a fault of the API, retried, then this."""
