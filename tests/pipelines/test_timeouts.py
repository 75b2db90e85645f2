"""A destination that stops answering ends the run (exit 1, naming it); the next run
completes the pending load. The frozen server is a proxy in front of the real Postgres
that stops passing bytes, as a stuck server or a dead network path does."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from simulator import Simulator
from tests.expected import HILOS_CONTACTS, contact_truth, utc
from tests.running import FLOWSYNC, database_dsn, env_for, flowsync, fresh_database
from tests.worlds import small_config


class FreezableProxy:
    """Forwards loopback TCP to a port; `frozen` stops it passing bytes, connections open."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.frozen = threading.Event()
        self.closed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self.closed.is_set():
            if self.frozen.is_set():
                time.sleep(0.05)  # the kernel still completes handshakes: nobody answers
                continue
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            server = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):  # the other direction closed the pair
            self._forward(src, dst)
        for s in (src, dst):
            s.close()

    def _forward(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(0.1)
        while not self.closed.is_set():
            if self.frozen.is_set():
                time.sleep(0.05)
                continue
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            dst.sendall(data)

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


@pytest.fixture
def database(postgres_dsn: str) -> Iterator[str]:
    with fresh_database("flowsync_hang") as name:
        yield name


@pytest.mark.postgres
def test_a_frozen_postgres_ends_the_run_with_exit_1_and_the_next_run_completes(
        tmp_path: Path, database: str) -> None:
    proxy = FreezableProxy(5432)
    dsn = f"postgresql://postgres:postgres@127.0.0.1:{proxy.port}/{database}"
    try:
        with Simulator(small_config(hilos_contact_runs=3000)) as sim:
            env = env_for(sim, tmp_path, DESTINATION__POSTGRES__CREDENTIALS=dsn,
                          DESTINATION__POSTGRES__HANG_TIMEOUT="4")
            # slow pages: the destination freezes while hilos is still being fetched
            sim.faults.configure(latency_ms=300)
            proc = subprocess.Popen([FLOWSYNC, "run", "--source", "hilos", "--destination",
                                     "postgres"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 60
            while sim.stats()["total"] < 1:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.01)
            proxy.frozen.set()
            frozen_at = time.monotonic()
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 1, err
            assert time.monotonic() - frozen_at < 30
            assert (f"flowsync: the destination postgres://postgres@127.0.0.1:{proxy.port}/"
                    f"{database} has not answered for 4 s (destination.postgres.hang_timeout)"
                    ) in err
            assert "postgres:postgres@" not in err  # the password never
            proxy.frozen.clear()
            sim.faults.configure(latency_ms=0)
            again = flowsync(["run", "--source", "hilos", "--destination", "postgres"], env,
                             tmp_path)
            assert again.returncode == 0, again.stderr
            direct = database_dsn(database)
            with psycopg2.connect(direct) as conn, conn.cursor() as cur:
                cur.execute(HILOS_CONTACTS)
                rows = [tuple(utc(v) for v in r) for r in cur.fetchall()]
            conn.close()
            assert rows == contact_truth(sim)
    finally:
        proxy.close()


def _busy_backend(dsn: str, name: str) -> tuple[int, str] | None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("select pid, state from pg_stat_activity where application_name = %s "
                    "and state in ('active', 'idle in transaction') limit 1", (name,))
        row = cur.fetchone()
    conn.close()
    return row


@pytest.mark.postgres
def test_a_frozen_loading_backend_ends_the_run_while_the_server_answers(
        tmp_path: Path, database: str) -> None:
    """Issue 22: the watchdog probed with a fresh connection, which the server answered
    while the backend serving the load was stuck: the run waited the whole time, holding
    the warehouse. Here only that backend is frozen (SIGSTOP, the server on this machine);
    the server answers throughout."""
    import os
    import signal

    dsn = database_dsn(database)
    with Simulator(small_config(hilos_contact_runs=3000)) as sim:
        # a load per 20 requests: many transactions, so the freeze lands inside one
        env = env_for(sim, tmp_path, DESTINATION__POSTGRES__CREDENTIALS=dsn,
                      DESTINATION__POSTGRES__HANG_TIMEOUT="4", CHECKPOINT__REQUESTS="20",
                      SOURCES__HILOS__PAGE_SIZE="25")
        proc = subprocess.Popen([FLOWSYNC, "run", "--source", "hilos", "--destination",
                                 "postgres"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        name = f"flowsync-{proc.pid}"
        frozen: int | None = None
        deadline = time.monotonic() + 120
        try:
            while frozen is None:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                busy = _busy_backend(dsn, name)
                if busy is None:
                    continue
                os.kill(busy[0], signal.SIGSTOP)
                if _busy_backend(dsn, name) == busy:  # stopped inside its statement
                    frozen = busy[0]
                else:  # it moved on before the signal landed: try again
                    os.kill(busy[0], signal.SIGCONT)
            frozen_at = time.monotonic()
            _, err = proc.communicate(timeout=120)
        finally:
            if frozen is not None:
                os.kill(frozen, signal.SIGCONT)
        assert proc.returncode == 1, err
        assert time.monotonic() - frozen_at < 30
        assert (f"flowsync: the destination postgres://postgres@127.0.0.1:5432/{database} "
                f"answers, but this run's backend {frozen} has shown no progress for 4 s"
                ) in err
        again = flowsync(["run", "--source", "hilos", "--destination", "postgres"], env,
                         tmp_path)
        assert again.returncode == 0, again.stderr
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(HILOS_CONTACTS)
            rows = [tuple(utc(v) for v in r) for r in cur.fetchall()]
        conn.close()
        assert rows == contact_truth(sim)


def test_the_watch_ends_only_what_shows_no_change_for_the_whole_timeout() -> None:
    from pipelines.warehouse.watchdog import Watch

    busy = ("active", "t0", "t0", None, None, 100)
    watch = Watch(4.0, now=0.0)
    assert watch.look({7: busy}, 1.0) is None
    assert watch.look({7: (*busy[:5], 200)}, 4.0) is None  # COPY moved on: a sign of life
    assert watch.look({7: (*busy[:5], 200)}, 7.0) is None
    assert watch.look({7: (*busy[:5], 200)}, 8.0) == (
        "answers, but this run's backend 7 has shown no progress for 4 s (active)")
    watch = Watch(4.0, now=0.0)
    locked = ("active", "t0", "t0", "Lock", "relation", None)
    assert watch.look({8: locked}, 1.0) is None
    assert watch.look({}, 2.0) is None  # it finished: forgotten
    assert watch.look({8: locked}, 3.0) is None
    assert watch.look({8: locked}, 7.0) == ("answers, but this run's backend 8 has shown no "
                                            "progress for 4 s (active, waiting on Lock:relation)")
    watch = Watch(4.0, now=0.0)
    assert watch.look(None, 3.0) is None
    assert watch.look(None, 4.0) == "has not answered for 4 s"
