"""Misbehaviour on demand: the ways real APIs fail, deterministic from a seed.

Two ways to ask for faults:
- rates: each API request draws from a seeded generator and fails with the given
  probability per kind (transient faults spread over a sync);
- a queue: the next API requests (optionally only those whose path contains a given
  string) fail with the listed kinds, in order (exact faults for a test).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

# 429: too many requests with Retry-After; 500/502/503: server errors; drop: the
# connection closes without a response; slow: the response comes late; truncate: a 200
# whose JSON body is cut short; maintenance: a 200 HTML page (a proxy's maintenance
# notice); wrong_shape: a 200 JSON body that is not the endpoint's shape; self_link: a
# list page whose next link leads back to itself (Twilio), or a list that ignores the page
# number and always has a next page (Hilos), as a broken proxy or API does
FAULT_KINDS = ("429", "500", "502", "503", "drop", "slow", "truncate", "maintenance",
               "wrong_shape", "self_link")


@dataclass
class FaultSettings:
    """What faults to inject and how they behave."""

    rates: dict[str, float] = field(default_factory=dict)
    queue: list[dict] = field(default_factory=list)
    retry_after: int = 1
    slow_seconds: float = 0.5
    latency_ms: float = 0.0
    # Twilio's per-account concurrency: above this many requests at once, 429 with error
    # 20429 (0: no limit)
    concurrency_limit: int = 0

    def validate(self) -> None:
        for kind, rate in self.rates.items():
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
            if not 0.0 <= float(rate) <= 1.0:
                raise ValueError(f"fault rate for {kind} must be in [0, 1], not {rate}")
        if sum(float(r) for r in self.rates.values()) > 1.0:
            raise ValueError("fault rates add up to more than 1")
        for item in self.queue:
            if item.get("kind") not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind in queue: {item!r}")
        if min(self.retry_after, self.slow_seconds, self.latency_ms,
               self.concurrency_limit) < 0:
            raise ValueError("retry_after, slow_seconds, latency_ms and concurrency_limit "
                             "must not be negative")


class FaultInjector:
    """Decides, per API request, whether and how it fails. Thread-safe."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._rng = random.Random(f"faults-{seed}")
        self.settings = FaultSettings()
        self.injected: Counter[str] = Counter()

    def configure(self, *, rates: dict[str, float] | None = None, queue: list | None = None,
                  retry_after: int | None = None, slow_seconds: float | None = None,
                  latency_ms: float | None = None,
                  concurrency_limit: int | None = None) -> None:
        """Replaces the given settings; the others stay. Restarts the seeded draws."""
        with self._lock:
            s = self.settings
            new = FaultSettings(
                rates=dict(rates) if rates is not None else dict(s.rates),
                queue=[q if isinstance(q, dict) else {"kind": str(q)} for q in queue]
                if queue is not None else list(s.queue),
                retry_after=s.retry_after if retry_after is None else int(retry_after),
                slow_seconds=s.slow_seconds if slow_seconds is None else float(slow_seconds),
                latency_ms=s.latency_ms if latency_ms is None else float(latency_ms),
                concurrency_limit=(s.concurrency_limit if concurrency_limit is None
                                   else int(concurrency_limit)),
            )
            new.validate()
            self.settings = new
            self._rng = random.Random(f"faults-{self._seed}")

    def clear(self) -> None:
        self.configure(rates={}, queue=[], latency_ms=0.0)

    def draw(self, path: str) -> str | None:
        """The fault for this request, or None."""
        with self._lock:
            s = self.settings
            for i, item in enumerate(s.queue):
                if item.get("path_contains", "") in path:
                    del s.queue[i]
                    self.injected[item["kind"]] += 1
                    return item["kind"]
            if not s.rates:
                return None
            roll = self._rng.random()
            acc = 0.0
            for kind in FAULT_KINDS:
                acc += float(s.rates.get(kind, 0.0))
                if roll < acc:
                    self.injected[kind] += 1
                    return kind
            return None

    def describe(self) -> dict:
        with self._lock:
            s = self.settings
            return {"rates": s.rates, "queue": list(s.queue), "retry_after": s.retry_after,
                    "slow_seconds": s.slow_seconds, "latency_ms": s.latency_ms,
                    "concurrency_limit": s.concurrency_limit,
                    "injected": dict(self.injected)}
