"""Worker threads feeding one consumer: every message arrives, errors are raised in the
consumer, and everything stops with the consumer."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from sources.fanin import fan_in, prefetch


def test_items_arrive_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def produce():
        for i in range(50):
            threads.add(threading.current_thread().name)
            yield i

    assert list(prefetch(produce())) == list(range(50))
    assert threads == {"flowsync-prefetch"}


def test_an_error_in_the_producer_is_raised_in_the_consumer_after_its_items() -> None:
    def produce():
        yield 1
        yield 2
        raise ValueError("page 3 is broken")

    got = []
    with pytest.raises(ValueError, match="page 3 is broken"):
        for item in prefetch(produce()):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_and_closes_the_producer() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def produce():
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    items = prefetch(produce(), depth=1)
    assert [next(items), next(items)] == [0, 1]
    items.close()
    assert closed.is_set()
    # one in the hand-off queue and one waiting to be put, at most
    assert produced == list(range(len(produced))) and len(produced) <= 4


@dataclass(frozen=True, order=True)
class Got:
    task: int
    n: int


@dataclass(frozen=True)
class Done:
    task: int


def test_fan_in_delivers_every_typed_message_from_every_task_with_bounded_workers() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def task(i: int):
        def run(emit) -> None:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            for n in range(3):
                emit(Got(i, n))
                time.sleep(0.001)
            with lock:
                running -= 1
            emit(Done(i))
        return run

    messages = list(fan_in([task(i) for i in range(10)], workers=3, depth=2))
    assert sorted(m for m in messages if isinstance(m, Got)) == sorted(
        Got(i, n) for i in range(10) for n in range(3))
    assert sorted(m.task for m in messages if isinstance(m, Done)) == list(range(10))
    for i in range(10):  # each task's messages in its own order
        assert [m.n for m in messages if isinstance(m, Got) and m.task == i] == [0, 1, 2]
    assert most <= 3


@pytest.mark.parametrize("batch", [1, 8])  # 8: the batch a worker holds is handed over first
def test_fan_in_raises_a_task_error_after_what_was_emitted_before_it(batch: int) -> None:
    def good(emit) -> None:
        emit("a")

    def bad(emit) -> None:
        emit("b")
        raise RuntimeError("flow listing broke")

    got = []
    with pytest.raises(RuntimeError, match="flow listing broke"):
        for m in fan_in([good, good, bad], workers=1, depth=8, batch=batch):
            got.append(m)
    assert got == ["a", "a", "b"]


def test_fan_in_stops_every_task_when_the_consumer_stops() -> None:
    emitted = []
    ended = threading.Event()

    def endless(emit) -> None:
        try:
            for i in range(100_000):
                emit(i)
                emitted.append(i)
        finally:
            ended.set()

    items = fan_in([endless, endless], workers=2, depth=1)
    assert next(items) in (0, 1)
    items.close()
    assert ended.is_set()
    assert len(emitted) < 10


def test_a_signal_stops_the_consumer_while_every_worker_is_still_waiting() -> None:
    import signal

    from dlt.common.exceptions import SignalReceivedException
    from dlt.common.runtime import signals

    released = threading.Event()

    def stuck(emit) -> None:  # a connect or read that takes its whole timeout
        released.wait(30)

    t0 = time.monotonic()
    threading.Timer(0.3, signals.set_received_signal, args=(signal.SIGTERM,)).start()
    try:
        with pytest.raises(SignalReceivedException):
            list(fan_in([stuck] * 4, workers=4, depth=4))
        # the consumer raised at once, and waited 2 s at most for the four workers together
        assert time.monotonic() - t0 < 3
    finally:
        signals._clear_signals()
        released.set()


def test_fan_in_hands_a_workers_messages_over_in_batches_and_the_rest_at_its_end() -> None:
    started: list[int] = []

    def task(i: int):
        def run(emit) -> None:
            started.append(i)
            emit(i)
        return run

    seen_with = {}  # message -> tasks started when it arrived
    for m in fan_in([task(i) for i in range(10)], workers=1, depth=4, batch=4):
        seen_with[m] = len(started)
    assert list(seen_with) == list(range(10))  # one worker: its order, nothing lost
    # message 0 cannot arrive before its batch (tasks 0-3) was full; 8 and 9 came at the end
    assert all(seen_with[m] >= (m // 4 + 1) * 4 for m in range(8))
    assert seen_with[8] == seen_with[9] == 10


def test_fan_in_in_batches_holds_at_most_depth_messages_in_the_queue() -> None:
    emitted = []

    def endless(emit) -> None:
        for i in range(100_000):
            emit(i)
            emitted.append(i)

    items = fan_in([endless], workers=1, depth=8, batch=4)
    assert next(items) == 0
    time.sleep(0.3)  # the worker fills the queue and waits
    # the consumer's batch (4) + the queue's 8 messages (2 batches) + the worker's 4
    assert len(emitted) <= 16
    items.close()
