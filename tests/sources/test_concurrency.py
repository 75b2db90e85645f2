"""The adaptive concurrency limit (`sources.concurrency`): down on 429, up on fast answers,
and on a real simulator that limits concurrent requests, settling near its limit."""

from __future__ import annotations

import threading
import time

import pytest

from sources.concurrency import AdaptiveLimit


def test_a_429_halves_the_limit_once_per_round() -> None:
    limit = AdaptiveLimit(16, 64)
    with limit.slot() as before_cut:
        pass
    limit.throttled(before_cut)
    assert (limit.limit, limit.cuts) == (8, 1)
    limit.throttled(before_cut)  # sent before the cut: already answered for
    assert (limit.limit, limit.cuts) == (8, 1)
    with limit.slot() as after_cut:
        pass
    limit.throttled(after_cut)
    assert (limit.limit, limit.cuts) == (4, 2)
    for _ in range(5):
        with limit.slot() as started:
            pass
        limit.throttled(started)
    assert limit.limit == 1  # never below one


def answer_fast(limit: AdaptiveLimit, times: int) -> None:
    for _ in range(times):
        with limit.slot() as started:
            pass
        limit.answered(started)


def test_until_the_first_429_fast_answers_double_it_each_round() -> None:
    limit = AdaptiveLimit(4, 64)
    answer_fast(limit, 4)  # a round: one more per answer
    assert limit.limit == 8
    answer_fast(limit, 8)
    assert limit.limit == 16
    answer_fast(limit, 100)
    assert (limit.limit, limit.peak) == (64, 64)


def test_a_slow_answer_ends_the_doubling_too() -> None:
    limit = AdaptiveLimit(4, 64)
    answer_fast(limit, 1)
    assert limit.limit == 5
    with limit.slot() as started:
        pass
    limit.answered(started - 1.0)  # a second: slow
    answer_fast(limit, 6)  # a round and a bit: 5 + 1/5 + 1/5.2 + ... > 6 after six
    assert limit.limit == 6


def test_after_a_429_fast_answers_raise_it_about_one_per_round_up_to_the_ceiling() -> None:
    limit = AdaptiveLimit(8, 6 * 2)
    with limit.slot() as started:
        pass
    limit.throttled(started)
    assert limit.limit == 4
    answer_fast(limit, 5)  # a round and a bit: 4 + 1/4 + 1/4.25 + ... > 5
    assert limit.limit == 5
    answer_fast(limit, 1000)
    assert (limit.limit, limit.peak) == (12, 12)


def test_slow_answers_do_not_raise_it() -> None:
    limit = AdaptiveLimit(2, 10)
    with limit.slot() as started:
        pass
    limit.answered(started)  # the fastest seen: ~0 s
    assert limit.limit == 3
    limit.answered(started - 1.0)  # a second: slow
    assert limit.limit == 3


def test_no_more_than_the_limit_are_in_flight() -> None:
    limit = AdaptiveLimit(3, 3)
    inside, peak, lock = 0, 0, threading.Lock()

    def work() -> None:
        nonlocal inside, peak
        with limit.slot():
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.02)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 3


def test_start_above_the_ceiling_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        AdaptiveLimit(8, 4)


def test_against_an_account_limit_it_settles_near_it_and_loses_nothing(tmp_path) -> None:
    """Real HTTP: the simulator answers 429 (20429) above 6 concurrent Twilio requests;
    flowsync starts at 16 with a ceiling of 64."""
    from simulator import Simulator
    from tests.expected import (
        TWILIO_EXECUTIONS,
        TWILIO_STEPS,
        execution_truth,
        step_truth,
        visible_floor,
    )
    from tests.running import env_for, flowsync, read
    from tests.worlds import small_config

    with Simulator(small_config(twilio_flows=8, twilio_executions=900)) as sim:
        sim.faults.configure(concurrency_limit=6, latency_ms=15)
        since = visible_floor(sim)
        result = flowsync(["run", "--source", "twilio_studio"], env_for(sim, tmp_path),
                          tmp_path)
        assert result.returncode == 0, result.stderr
        stats = sim.stats()
        assert read(tmp_path / "w.duckdb", TWILIO_EXECUTIONS) == execution_truth(sim, since)
        assert read(tmp_path / "w.duckdb", TWILIO_STEPS) == step_truth(sim, since)
        throttled, total = stats["responses"].get("429", 0), stats["total"]
        assert throttled > 0  # the limit was met ...
        assert throttled < total * 0.1, stats  # ... and kept to, not hammered
        # the steps were fetched near the limit: not far below it (too careful) ...
        assert 3 <= stats["twilio_concurrency_mean"]["twilio.steps.list"] <= 6, stats
        assert "the API limited concurrent requests" in result.stderr
