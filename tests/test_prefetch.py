"""Reading ahead keeps order, raises the producer's errors and stops with the consumer."""

from __future__ import annotations

import threading

import pytest

from sources.prefetch import prefetch


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
