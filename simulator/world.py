"""The simulated world behind both APIs: flows, runs and a clock.

Every run is generated with a creation time, a duration and a final outcome, so its
state at any moment is a pure function of the clock: moving time forward finishes runs
without touching them. New runs arrive when the clock moves, drawn from a random
generator seeded from the world's seed, so the same seed and the same sequence of calls
always give the same world.
"""

from __future__ import annotations

import bisect
import functools
import random
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

DAY = 86_400
TWILIO_RETENTION_SECONDS = 30 * DAY

# twilio widget graph: widget name -> (widget type, [(event, next widget, weight)])
_TWILIO_GRAPH_TEMPLATES: list[dict[str, tuple[str, list[tuple[str, str, int]]]]] = [
    {
        "Trigger": ("trigger", [("incomingMessage", "send_welcome", 1)]),
        "send_welcome": (
            "send-and-wait-for-reply",
            [("incomingMessage", "split_intent", 70), ("timeout", "Ended", 20),
             ("deliveryFailure", "Ended", 10)],
        ),
        "split_intent": (
            "split-based-on",
            [("match", "send_info", 55), ("noMatch", "call_backend", 45)],
        ),
        "send_info": ("send-message", [("sent", "Ended", 92), ("failed", "Ended", 8)]),
        "call_backend": (
            "make-http-request",
            [("success", "send_confirmation", 85), ("failed", "Ended", 15)],
        ),
        "send_confirmation": ("send-message", [("sent", "Ended", 95), ("failed", "Ended", 5)]),
    },
    {
        "Trigger": ("trigger", [("incomingCall", "gather_menu", 1)]),
        "gather_menu": (
            "gather-input-on-call",
            [("keypress", "route_call", 65), ("speech", "route_call", 15),
             ("timeout", "Ended", 20)],
        ),
        "route_call": (
            "split-based-on",
            [("match", "connect_agent", 60), ("noMatch", "say_goodbye", 40)],
        ),
        "connect_agent": (
            "connect-call-to",
            [("callCompleted", "Ended", 80), ("hangup", "Ended", 15), ("fail", "Ended", 5)],
        ),
        "say_goodbye": ("say-play", [("audioComplete", "Ended", 100)]),
    },
    {
        "Trigger": ("trigger", [("incomingRequest", "send_survey", 1)]),
        "send_survey": (
            "send-and-wait-for-reply",
            [("incomingMessage", "check_score", 60), ("timeout", "Ended", 30),
             ("deliveryFailure", "Ended", 10)],
        ),
        "check_score": (
            "split-based-on",
            [("match", "thank_you", 70), ("noMatch", "ask_feedback", 30)],
        ),
        "ask_feedback": (
            "send-and-wait-for-reply",
            [("incomingMessage", "thank_you", 75), ("timeout", "Ended", 25)],
        ),
        "thank_you": ("send-message", [("sent", "Ended", 97), ("failed", "Ended", 3)]),
    },
]

_TWILIO_FLOW_NAMES = [
    "Appointment reminders", "Support triage", "Order status", "NPS survey", "Lead intake",
    "Payment reminder", "Delivery updates", "IVR main menu", "Callback request",
    "Onboarding", "Re-engagement", "Store locator",
]
_HILOS_FLOW_NAMES = [
    "Welcome journey", "Cart recovery", "Appointment confirmation", "CSAT survey",
    "Promo campaign", "Payment follow-up", "Lead qualification", "Win-back",
]
_FIRST_NAMES = ["Ana", "Luis", "Maria", "Jose", "Sofia", "Diego", "Lucia", "Carlos", "Elena",
                "Pablo", "Camila", "Jorge", "Valeria", "Miguel", "Daniela", "Andres"]
_LAST_NAMES = ["Garcia", "Lopez", "Martinez", "Hernandez", "Gonzalez", "Perez", "Sanchez",
               "Ramirez", "Torres", "Flores", "Rivera", "Gomez", "Diaz", "Cruz"]
HILOS_FINAL = ("COMPLETED", "CANCELED", "EXPIRED", "FAILED")
HILOS_STATUS_REASONS = {
    "FAILED": "The WhatsApp message could not be delivered.",
    "EXPIRED": "The contact did not answer before the flow timed out.",
    "CANCELED": "Canceled by user.",
}


@dataclass
class SimConfig:
    """What the simulator generates and how it behaves.

    Attributes:
        seed: seeds every random choice; the same seed gives the same world.
        start: the clock's start (UTC); default: now, floored to the minute.
        twilio_flows: number of Twilio Studio flows.
        twilio_executions: executions generated over the history, all flows together.
        hilos_flows: number of Hilos flows.
        hilos_contact_runs: contact runs generated over the history.
        history_days: how far back the generated history reaches.
        hilos_batch_size: mean number of contacts per Hilos flow execution.
        hilos_order: order of Hilos lists: newest (by created_on), oldest, or unordered.
        hilos_default_page_size: page size when the client sends none.
        hilos_max_page_size: larger requested page sizes are clamped to this.
        spec_shapes: records in every shape the specs allow (`simulator.shapes`): Hilos runs
            without a flow or `is_test`, with an unknown status (beyond the spec's list, as
            APIs add states) or extra fields; Twilio contexts filled.
        type_drift: Twilio `flow_version` as a string for some executions (the spec says
            integer; APIs drift).
    """

    seed: int = 0
    start: datetime | None = None
    twilio_flows: int = 5
    twilio_executions: int = 5_000
    hilos_flows: int = 4
    hilos_contact_runs: int = 5_000
    history_days: int = 35
    hilos_batch_size: int = 120
    hilos_order: str = "newest"
    hilos_default_page_size: int = 20
    hilos_max_page_size: int = 1_000
    twilio_account_sid: str = ""
    twilio_auth_token: str = "sim-twilio-auth-token"
    twilio_api_key_sid: str = ""
    twilio_api_key_secret: str = "sim-twilio-api-key-secret"
    hilos_api_token: str = "sim-hilos-api-token"
    # every shape the specs allow (simulator/shapes.py), not only the tidy one
    spec_shapes: bool = False
    # Twilio `flow_version` sent as a string now and then: beyond the spec, as APIs drift
    type_drift: bool = False

    def __post_init__(self) -> None:
        if self.hilos_order not in ("newest", "oldest", "unordered"):
            raise ValueError(f"hilos_order must be newest, oldest or unordered, not {self.hilos_order!r}")
        rng = random.Random(f"credentials-{self.seed}")
        if not self.twilio_account_sid:
            self.twilio_account_sid = f"AC{rng.getrandbits(128):032x}"
        if not self.twilio_api_key_sid:
            self.twilio_api_key_sid = f"SK{rng.getrandbits(128):032x}"
        if self.start is None:
            now = datetime.now(UTC)
            self.start = now.replace(second=0, microsecond=0)
        elif self.start.tzinfo is None:
            self.start = self.start.replace(tzinfo=UTC)


def account_config(base: SimConfig, name: str, n: int) -> SimConfig:
    """Another account's world beside `base`'s: its own seed (other flows and runs), its
    own credentials, the same clock and shape."""
    return replace(base, seed=base.seed * 1_000 + n, twilio_account_sid="",
                   twilio_api_key_sid="", twilio_auth_token=f"{base.twilio_auth_token}-{name}",
                   twilio_api_key_secret=f"{base.twilio_api_key_secret}-{name}",
                   hilos_api_token=f"{base.hilos_api_token}-{name}")


@functools.lru_cache(maxsize=4096)
def _day(days: int) -> str:
    return datetime.fromtimestamp(days * DAY, UTC).strftime("%Y-%m-%d")


def twilio_time(ts: int) -> str:
    """Formats epoch seconds the way Twilio does (second precision, Z)."""
    days, secs = divmod(ts, DAY)
    hours, secs = divmod(secs, 3600)
    minutes, secs = divmod(secs, 60)
    return f"{_day(days)}T{hours:02d}:{minutes:02d}:{secs:02d}Z"


def hilos_time(us: int) -> str:
    """Formats epoch microseconds the way Hilos (Django REST framework) does."""
    secs, micro = divmod(us, 1_000_000)
    return f"{twilio_time(secs)[:-1]}.{micro:06d}Z"


def _hex_sid(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{rng.getrandbits(128):032x}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _duration(rng: random.Random, outcome_event: str) -> int:
    """Seconds a run lasts: most finish in minutes, timeouts take a day or more."""
    if outcome_event == "timeout":
        return rng.randint(DAY // 2, 3 * DAY)
    roll = rng.random()
    if roll < 0.75:
        return rng.randint(20, 1_800)
    if roll < 0.95:
        return rng.randint(1_800, 12 * 3_600)
    return rng.randint(12 * 3_600, 5 * DAY)


# ---------------------------------------------------------------------------- twilio


@dataclass(frozen=True)
class TwilioPath:
    """One walk through a flow's widget graph: (from, to, event, from type, fraction)."""

    steps: tuple[tuple[str, str, str, str, float], ...]
    outcome_event: str


@dataclass
class TwilioFlow:
    sid: str
    friendly_name: str
    status: str
    revision: int
    date_created: int
    date_updated: int
    author_sid: str
    graph: dict[str, tuple[str, list[tuple[str, str, int]]]]
    paths: list[TwilioPath]
    # executions sorted ascending by (date_created, sid)
    executions: list[TwilioExecution] = field(default_factory=list)
    keys: list[tuple[int, str]] = field(default_factory=list)
    deleted: bool = False

    def definition(self) -> dict:
        """The flow definition, in Studio's JSON shape."""
        states = []
        for name, (wtype, transitions) in self.graph.items():
            states.append({
                "name": name,
                "type": wtype,
                "transitions": [{"event": e, "next": n} for e, n, _ in transitions if n != "Ended"]
                + [{"event": e} for e, n, _ in transitions if n == "Ended"],
                "properties": {"offset": {"x": 0, "y": 0}},
            })
        return {"description": self.friendly_name, "states": states,
                "initial_state": "Trigger", "flags": {"allow_concurrent_calls": True}}


class TwilioExecution:
    """A Studio execution; its status and steps follow from the clock."""

    __slots__ = (
        "address",
        "contact_sid",
        "date_created",
        "duration",
        "flow",
        "initiated_by",
        "null_updated",
        "path",
        "sid",
    )

    def __init__(self, sid: str, flow: TwilioFlow, date_created: int, duration: int,
                 path: int, address: str, contact_sid: str, initiated_by: str,
                 null_updated: bool) -> None:
        self.sid = sid
        self.flow = flow
        self.date_created = date_created
        self.duration = duration
        self.path = path
        self.address = address
        self.contact_sid = contact_sid
        self.initiated_by = initiated_by
        self.null_updated = null_updated

    @property
    def ended_at(self) -> int:
        return self.date_created + self.duration

    def status(self, now: int) -> str:
        return "ended" if self.ended_at <= now else "active"

    def steps(self, now: int) -> list[tuple[str, int, str, str, str, str]]:
        """Visible steps at `now`: (sid, date_created, name, from, to, from type)."""
        out = []
        for i, (frm, to, event, wtype, frac) in enumerate(self.flow.paths[self.path].steps):
            # the last fraction is 1.0: the step into Ended comes at ended_at
            ts = self.date_created + int(self.duration * frac)
            if ts > now:
                break
            out.append((f"FT{self.sid[2:30]}{i:04x}", ts, event, frm, to, wtype))
        return out


def _walk(rng: random.Random, graph: dict) -> TwilioPath:
    hops = []
    node = "Trigger"
    while node != "Ended":
        wtype, transitions = graph[node]
        event, nxt, _ = rng.choices(transitions, weights=[w for _, _, w in transitions])[0]
        hops.append((node, nxt, event, wtype))
        node = nxt
    # the first step comes at once, the step into Ended at the very end, the rest between
    fracs = [0.0, *sorted(rng.random() for _ in range(len(hops) - 2)), 1.0]
    steps = tuple((f, t, e, w, fracs[i]) for i, (f, t, e, w) in enumerate(hops))
    return TwilioPath(steps=steps, outcome_event=hops[-1][2])


# ---------------------------------------------------------------------------- hilos


@dataclass
class HilosFlow:
    id: str
    name: str
    version_id: str
    version_name: str
    created_on: int
    trigger_type: str
    channel_id: int


class HilosContact:
    __slots__ = ("created_on", "email", "first_name", "id", "last_name", "phone")

    def __init__(self, id: str, phone: str, first_name: str | None, last_name: str | None,
                 email: str | None, created_on: int) -> None:
        self.id = id
        self.phone = phone
        self.first_name = first_name
        self.last_name = last_name
        self.email = email
        self.created_on = created_on


class HilosRun:
    """A flow-execution contact: READY, then RUNNING, then its final status."""

    __slots__ = (
        "batch",
        "contact",
        "created_on",
        "end",
        "final",
        "id",
        "is_test",
        "start_delay",
    )

    def __init__(self, id: str, batch: HilosBatch, contact: HilosContact, created_on: int,
                 start_delay: int, end: int, final: str, is_test: bool) -> None:
        self.id = id
        self.batch = batch
        self.contact = contact
        self.created_on = created_on
        self.start_delay = start_delay
        self.end = end
        self.final = final
        self.is_test = is_test

    def status(self, now_us: int) -> str:
        if self.end <= now_us:
            return self.final
        if self.created_on + self.start_delay > now_us:
            return "READY"
        return "RUNNING"


class HilosBatch:
    """A flow execution: a batch run of one flow for many contacts."""

    __slots__ = (
        "_completed_prefix",
        "_ends",
        "_ends_by_status",
        "cancel_at",
        "created_by",
        "created_on",
        "execute_for",
        "flow",
        "has_priority",
        "id",
        "runs",
        "status_triggered_by",
    )

    def __init__(self, id: str, flow: HilosFlow, created_on: int, execute_for: str,
                 has_priority: bool, created_by: int, cancel_at: int | None) -> None:
        self.id = id
        self.flow = flow
        self.created_on = created_on
        self.execute_for = execute_for
        self.has_priority = has_priority
        self.created_by = created_by
        self.cancel_at = cancel_at
        self.runs: list[HilosRun] = []
        self.status_triggered_by: int | None = None

    def index(self) -> None:
        """Precomputes what counters need, so a page of batches renders in O(log n)."""
        self._ends = sorted(r.end for r in self.runs)
        self._ends_by_status = {s: sorted(r.end for r in self.runs if r.final == s)
                                for s in HILOS_FINAL}
        completed = sorted((r.end, r.end - r.created_on) for r in self.runs
                           if r.final == "COMPLETED")
        prefix = [0]
        for _, d in completed:
            prefix.append(prefix[-1] + d)
        self._completed_prefix = prefix

    def counters(self, now_us: int) -> dict[str, int]:
        counts = {s: bisect.bisect_right(self._ends_by_status[s], now_us) for s in HILOS_FINAL}
        finished = sum(counts.values())
        return {"num_contacts": len(self.runs), "running": len(self.runs) - finished,
                "completed": counts["COMPLETED"], "canceled": counts["CANCELED"],
                "failed": counts["FAILED"], "expired": counts["EXPIRED"]}

    def avg_completion_us(self, now_us: int) -> int | None:
        n = bisect.bisect_right(self._ends_by_status["COMPLETED"], now_us)
        return self._completed_prefix[n] // n if n else None

    def status(self, now_us: int) -> str:
        if self.cancel_at is not None and self.cancel_at <= now_us:
            return "CANCELED"
        if now_us < self.created_on + 30_000_000:
            return "STARTING"
        if self._ends and self._ends[-1] > now_us:
            return "RUNNING"
        return "COMPLETED"

    def status_last_change_on(self, now_us: int) -> int:
        status = self.status(now_us)
        if status == "CANCELED":
            return self.cancel_at  # type: ignore[return-value]
        if status == "COMPLETED":
            return max(self._ends[-1], self.created_on + 30_000_000) if self._ends else self.created_on
        if status == "RUNNING":
            return self.created_on + 30_000_000
        return self.created_on


# ---------------------------------------------------------------------------- world


class World:
    """Both providers' data and the shared clock. Thread-safe through `lock`."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.lock = threading.RLock()
        self.rng = random.Random(self.config.seed)
        assert self.config.start is not None
        self.now = int(self.config.start.timestamp())
        # bumps whenever data changes, so cached filtered views know they are stale
        self.version = 0
        self.twilio_flows: list[TwilioFlow] = []
        self.twilio_by_sid: dict[str, TwilioExecution] = {}
        self.hilos_flows: list[HilosFlow] = []
        self.hilos_contacts: list[HilosContact] = []
        self.hilos_batches: list[HilosBatch] = []  # ascending by (created_on, id)
        self.hilos_batch_by_id: dict[str, HilosBatch] = {}
        self.hilos_runs: list[HilosRun] = []  # ascending by (created_on, id)
        self.hilos_run_keys: list[tuple[int, str]] = []
        self.hilos_users = [
            {"id": 101 + i, "email": f"{n.lower()}@example.com", "first_name": n,
             "last_name": "Ops", "profile_image": None, "role": 1}
            for i, n in enumerate(["Erik", "Paula", "Tomas"])
        ]
        self._generate()

    @property
    def now_us(self) -> int:
        return self.now * 1_000_000

    # -- generation -----------------------------------------------------------------

    def _generate(self) -> None:
        cfg = self.config
        rng = self.rng
        t0 = self.now - cfg.history_days * DAY
        for i in range(cfg.twilio_flows):
            graph = _TWILIO_GRAPH_TEMPLATES[i % len(_TWILIO_GRAPH_TEMPLATES)]
            paths = [_walk(rng, graph) for _ in range(40)]
            created = t0 - rng.randint(10 * DAY, 200 * DAY)
            name = _TWILIO_FLOW_NAMES[i % len(_TWILIO_FLOW_NAMES)]
            if i >= len(_TWILIO_FLOW_NAMES):
                name = f"{name} {i // len(_TWILIO_FLOW_NAMES) + 1}"
            self.twilio_flows.append(TwilioFlow(
                sid=_hex_sid(rng, "FW"), friendly_name=name,
                status="published" if rng.random() < 0.9 else "draft",
                revision=rng.randint(1, 40), date_created=created,
                date_updated=created + rng.randint(0, 9 * DAY),
                author_sid=_hex_sid(rng, "US"), graph=graph, paths=paths,
            ))
        if self.twilio_flows:
            self._add_twilio_executions(cfg.twilio_executions, t0, self.now)

        for i in range(cfg.hilos_flows):
            name = _HILOS_FLOW_NAMES[i % len(_HILOS_FLOW_NAMES)]
            if i >= len(_HILOS_FLOW_NAMES):
                name = f"{name} {i // len(_HILOS_FLOW_NAMES) + 1}"
            self.hilos_flows.append(HilosFlow(
                id=_uuid(rng), name=name, version_id=_uuid(rng),
                version_name=f"v{rng.randint(1, 12)}",
                created_on=(t0 - rng.randint(10 * DAY, 200 * DAY)) * 1_000_000,
                trigger_type=rng.choice(["OUTBOUND_CAMPAIGN_API", "OUTBOUND_CAMPAIGN_CSV",
                                         "OUTBOUND_CAMPAIGN_SEGMENT"]),
                channel_id=rng.randint(1, 9),
            ))
        n_contacts = max(1, cfg.hilos_contact_runs // 3)
        for _ in range(n_contacts):
            first = rng.choice(_FIRST_NAMES) if rng.random() < 0.9 else None
            last = rng.choice(_LAST_NAMES) if first and rng.random() < 0.8 else None
            email = (f"{first.lower()}.{(last or 'x').lower()}{rng.randint(1, 999)}@example.com"
                     if first and rng.random() < 0.5 else None)
            self.hilos_contacts.append(HilosContact(
                id=_uuid(rng), phone=f"+52155{rng.randint(0, 99_999_999):08d}",
                first_name=first, last_name=last, email=email,
                created_on=(t0 - rng.randint(0, 300 * DAY)) * 1_000_000,
            ))
        if self.hilos_flows:
            self._add_hilos_runs(cfg.hilos_contact_runs, t0, self.now)

    def _add_twilio_executions(self, count: int, t_from: int, t_to: int) -> list[TwilioExecution]:
        """Adds `count` executions created in (t_from, t_to], spread over the live flows."""
        rng = self.rng
        flows = [f for f in self.twilio_flows if not f.deleted]
        if not flows or count <= 0:
            return []
        weights = [1.0 + (i % 4) for i in range(len(flows))]
        span = max(1, t_to - t_from)
        new: list[TwilioExecution] = []
        for _ in range(count):
            flow = rng.choices(flows, weights=weights)[0]
            # arrivals thicken towards the present, like a growing account
            created = t_to - int(span * (rng.random() ** 1.3))
            created = max(t_from + 1, min(t_to, created))
            path = rng.randrange(len(flow.paths))
            duration = _duration(rng, flow.paths[path].outcome_event)
            ex = TwilioExecution(
                sid=_hex_sid(rng, "FN"), flow=flow, date_created=created, duration=duration,
                path=path, address=f"+1{rng.randint(2_000_000_000, 9_999_999_999)}",
                contact_sid=_hex_sid(rng, "FC"), initiated_by=_hex_sid(rng, "SM"),
                null_updated=rng.random() < 0.1,
            )
            new.append(ex)
        for ex in new:
            self.twilio_by_sid[ex.sid] = ex
        by_flow: dict[str, list[TwilioExecution]] = {}
        for ex in new:
            by_flow.setdefault(ex.flow.sid, []).append(ex)
        for flow in flows:
            added = by_flow.get(flow.sid)
            if not added:
                continue
            flow.executions.extend(added)
            flow.executions.sort(key=lambda e: (e.date_created, e.sid))
            flow.keys = [(e.date_created, e.sid) for e in flow.executions]
        self.version += 1
        return new

    def _add_hilos_runs(self, count: int, t_from: int, t_to: int) -> list[HilosRun]:
        """Adds about `count` contact runs in batches created in (t_from, t_to]."""
        rng = self.rng
        cfg = self.config
        span = max(1, t_to - t_from)
        new_runs: list[HilosRun] = []
        new_batches: list[HilosBatch] = []
        remaining = count
        while remaining > 0:
            size = min(remaining, max(1, int(rng.expovariate(1 / cfg.hilos_batch_size)) + 1))
            created_s = t_to - int(span * (rng.random() ** 1.3))
            created_s = max(t_from + 1, min(t_to, created_s))
            created = created_s * 1_000_000 + rng.randrange(1_000_000)
            if created > t_to * 1_000_000:
                created = t_to * 1_000_000
            batch = self._new_batch(rng.choice(self.hilos_flows), created,
                                    cancel=rng.random() < 0.05)
            new_batches.append(batch)
            new_runs.extend(self._fill_batch(batch, size,
                                             [rng.choice(self.hilos_contacts) for _ in range(size)]))
            remaining -= size
        self._register_hilos(new_batches, new_runs)
        return new_runs

    def _new_batch(self, flow: HilosFlow, created: int, cancel: bool) -> HilosBatch:
        rng = self.rng
        cancel_at = created + rng.randint(600, 6 * 3600) * 1_000_000 if cancel else None
        return HilosBatch(
            id=_uuid(rng), flow=flow, created_on=created,
            execute_for=rng.choice(["LIST", "FILTERS", "ALL"]), has_priority=rng.random() < 0.1,
            created_by=rng.randrange(len(self.hilos_users)), cancel_at=cancel_at,
        )

    def _fill_batch(self, batch: HilosBatch, size: int,
                    contacts: list[HilosContact]) -> list[HilosRun]:
        rng = self.rng
        runs = []
        # a batch is one bulk insert: every run of it shares the batch's created_on
        is_test_batch = size <= 3 and rng.random() < 0.5
        for contact in contacts:
            roll = rng.random()
            final = ("COMPLETED" if roll < 0.72 else "EXPIRED" if roll < 0.86
                     else "FAILED" if roll < 0.95 else "CANCELED")
            duration = _duration(rng, "timeout" if final == "EXPIRED" else "x") * 1_000_000
            duration += rng.randrange(1_000_000)
            delay = rng.randint(0, 90) * 1_000_000
            end = batch.created_on + delay + duration
            if batch.cancel_at is not None and end > batch.cancel_at:
                end, final = batch.cancel_at, "CANCELED"
            run = HilosRun(id=_uuid(rng), batch=batch, contact=contact,
                           created_on=batch.created_on, start_delay=delay, end=end,
                           final=final, is_test=is_test_batch or rng.random() < 0.01)
            runs.append(run)
            batch.runs.append(run)
        return runs

    def _register_hilos(self, batches: list[HilosBatch], runs: list[HilosRun]) -> None:
        for b in batches:
            b.index()
            self.hilos_batch_by_id[b.id] = b
        self.hilos_batches.extend(batches)
        self.hilos_batches.sort(key=lambda b: (b.created_on, b.id))
        self.hilos_runs.extend(runs)
        self.hilos_runs.sort(key=lambda r: (r.created_on, r.id))
        self.hilos_run_keys = [(r.created_on, r.id) for r in self.hilos_runs]
        self.version += 1

    # -- the clock and mutations ------------------------------------------------------

    def advance(self, seconds: int, new_twilio: int | None = None,
                new_hilos: int | None = None, finish_fraction: float = 0.0) -> dict:
        """Moves the clock forward; runs finish as their time comes, new runs arrive.

        Args:
            seconds: how far to move the clock.
            new_twilio: executions arriving in the interval (default: the history's rate).
            new_hilos: contact runs arriving in the interval (default: the history's rate).
            finish_fraction: share of the runs open before the move to end at the new
                time, on top of those whose time comes anyway (oldest first).

        Returns:
            counts of what changed: new runs per provider, runs that finished.
        """
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self.lock:
            cfg = self.config
            old = self.now
            open_twilio = [e for f in self.twilio_flows for e in f.executions
                           if e.ended_at > old]
            open_hilos = [r for r in self.hilos_runs if r.end > old * 1_000_000]
            new = old + seconds
            if finish_fraction > 0:
                self._finish_early(open_twilio, open_hilos, new, finish_fraction)
            rate_t = cfg.twilio_executions / max(1, cfg.history_days * DAY)
            rate_h = cfg.hilos_contact_runs / max(1, cfg.history_days * DAY)
            n_t = round(rate_t * seconds) if new_twilio is None else new_twilio
            n_h = round(rate_h * seconds) if new_hilos is None else new_hilos
            self.now = new
            added_t = self._add_twilio_executions(n_t, old, new) if n_t else []
            added_h = self._add_hilos_runs(n_h, old, new) if (n_h and self.hilos_flows) else []
            self.version += 1
            return {
                "now": twilio_time(new),
                "new_twilio_executions": len(added_t),
                "new_hilos_contact_runs": len(added_h),
                "finished_twilio_executions": sum(1 for e in open_twilio if e.ended_at <= new),
                "finished_hilos_contact_runs": sum(1 for r in open_hilos
                                                   if r.end <= new * 1_000_000),
            }

    def _finish_early(self, open_twilio: list[TwilioExecution], open_hilos: list[HilosRun],
                      new: int, fraction: float) -> None:
        for ex in open_twilio[: round(len(open_twilio) * fraction)]:
            ex.duration = max(1, new - ex.date_created)
        touched: set[str] = set()
        for run in sorted(open_hilos, key=lambda r: r.created_on)[: round(len(open_hilos) * fraction)]:
            run.end = max(run.created_on + run.start_delay, new * 1_000_000)
            touched.add(run.batch.id)
        for bid in touched:
            self.hilos_batch_by_id[bid].index()

    def run_hilos_flow(self, flow_id: str, contacts: list[dict], has_priority: bool) -> HilosBatch:
        """Starts a flow execution for the given contacts (the POST .../run endpoint)."""
        with self.lock:
            flow = next(f for f in self.hilos_flows if f.id == flow_id)
            by_phone = {c.phone: c for c in self.hilos_contacts}
            members = []
            for item in contacts:
                phone = item["phone"]
                contact = by_phone.get(phone)
                if contact is None:
                    contact = HilosContact(id=_uuid(self.rng), phone=phone,
                                           first_name=item.get("first_name"),
                                           last_name=item.get("last_name"),
                                           email=item.get("email"), created_on=self.now_us)
                    self.hilos_contacts.append(contact)
                    by_phone[phone] = contact
                members.append(contact)
            batch = self._new_batch(flow, self.now_us, cancel=False)
            batch.execute_for = "LIST"
            batch.has_priority = has_priority
            runs = self._fill_batch(batch, len(members), members)
            self._register_hilos([batch], runs)
            return batch

    def delete_twilio_flow(self, sid: str) -> None:
        """Deletes a flow and its executions, as a user deleting it in the console."""
        with self.lock:
            flow = next(f for f in self.twilio_flows if f.sid == sid)
            flow.deleted = True
            for ex in flow.executions:
                self.twilio_by_sid.pop(ex.sid, None)
            self.version += 1

    # -- views used by the handlers and by tests ----------------------------------------

    def live_twilio_flows(self) -> list[TwilioFlow]:
        return [f for f in self.twilio_flows if not f.deleted]

    def twilio_flow(self, sid: str) -> TwilioFlow | None:
        for f in self.twilio_flows:
            if f.sid == sid and not f.deleted:
                return f
        return None

    def twilio_retained(self, flow: TwilioFlow) -> list[TwilioExecution]:
        """Executions of a flow that the API still shows (30-day retention)."""
        lo = bisect.bisect_left(flow.keys, (self.now - TWILIO_RETENTION_SECONDS, ""))
        return flow.executions[lo:]

    def twilio_execution(self, flow_sid: str, sid: str) -> TwilioExecution | None:
        ex = self.twilio_by_sid.get(sid)
        if ex is None or ex.flow.sid != flow_sid or ex.flow.deleted:
            return None
        if ex.date_created < self.now - TWILIO_RETENTION_SECONDS:
            return None
        return ex
