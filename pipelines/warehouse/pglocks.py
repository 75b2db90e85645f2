"""Postgres advisory locks: what keeps flowsync runs on one database apart, and no more.

- the command lock (`'flow', 'sync'`): held *shared* by every command for its whole run,
  so runs of different accounts proceed side by side (the releases before accounts held it
  exclusively: they and this one wait for each other);
- an account's lock: one run of an account at a time, on any host;
- the upkeep lock: the layout's upgrade, the privacy pass and the analytics rebuild, one
  command at a time. A rebuild is coalesced: a run that finds another one already queued
  for the rebuild leaves it to that one, which starts after this run's loads and so sees
  them.

Each lock lives on a connection of its own: the server releases it when the connection
ends, however the process ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sources.errors import ConfigError, first_line

from ..lock import command_name, wait_turn

COMMAND = (0x666C6F77, 0x73796E63)  # 'flow', 'sync'
ACCOUNT = 0x666C6F61  # (this, hashtext(pipeline name))
UPKEEP = (0x666C6F77, 0x6B656570)  # 'flow', 'keep'
QUEUED = (0x666C6F77, 0x71756575)  # 'flow', 'queu': a run waiting to rebuild


def _connect(dsn: str) -> Any:
    import psycopg2

    try:
        conn = psycopg2.connect(dsn, application_name=f"flowsync {command_name()}"[:63])
    except psycopg2.Error as exc:  # the driver's message names host and port, no password
        raise ConfigError(f"Postgres is unreachable: {first_line(exc)}") from None
    conn.autocommit = True
    return conn


def _keys(cur: Any, key: tuple[int, int] | tuple[int, str]) -> tuple[int, int]:
    if isinstance(key[1], str):
        cur.execute("select hashtext(%s)", (key[1],))
        return key[0], cur.fetchone()[0]
    return key  # type: ignore[return-value]


def _holder(cur: Any, keys: tuple[int, int]) -> str:
    cur.execute(
        "select a.pid, a.application_name, host(a.client_addr), "
        "  extract(epoch from now() - a.backend_start)::int"
        " from pg_locks l join pg_stat_activity a on a.pid = l.pid"
        " where l.locktype = 'advisory' and l.classid = %s and l.objid = %s"
        "   and l.objsubid = 2 and l.granted and l.pid <> pg_backend_pid()"
        "   and l.database = (select oid from pg_database where datname = current_database())"
        # an exclusive holder first: the one in the way
        " order by l.mode desc limit 1", (keys[0] & 0xFFFFFFFF, keys[1] & 0xFFFFFFFF))
    row = cur.fetchone()
    if row is None:  # let go between the two queries: try again next second
        return "another session"
    pid, app, addr, age = row
    return (f"{app or 'a session'} (server pid {pid}{f', from {addr}' if addr else ''}, "
            f"connected {age} s ago)")


@contextmanager
def advisory(dsn: str, key: tuple[int, int] | tuple[int, str], what: str, limit: float,
             shared: bool = False) -> Iterator[None]:
    """The advisory lock `key` (a pair, or a number and a name hashed), once its turn
    comes (`lock.wait`), on a session of its own, saying whom it waits for."""
    conn = _connect(dsn)
    try:
        cur = conn.cursor()
        keys = _keys(cur, key)
        take = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"

        def try_take() -> str | None:
            cur.execute(f"select {take}(%s, %s)", keys)
            return None if cur.fetchone()[0] else _holder(cur, keys)

        wait_turn(try_take, what, limit)
        yield
    finally:
        conn.close()  # the session ends: the server releases the lock


@contextmanager
def rebuild_turn(dsn: str, limit: float) -> Iterator[bool]:
    """True once this run holds the upkeep lock to rebuild; False at once when another run
    is already queued for it (that one rebuilds after this run's loads)."""
    conn = _connect(dsn)
    try:
        cur = conn.cursor()
        cur.execute("select pg_try_advisory_lock(%s, %s)", QUEUED)
        if not cur.fetchone()[0]:
            yield False
            return
        with advisory(dsn, UPKEEP, "the analytics rebuild of another run", limit):
            cur.execute("select pg_advisory_unlock(%s, %s)", QUEUED)
            yield True
    finally:
        conn.close()
