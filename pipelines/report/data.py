"""What the report shows, read from the `analytics` tables only, aggregated in SQL.

Every query returns at most a row per provider, flow and day (or widget, or status): a
warehouse of a million runs gives the page a few thousand numbers, never its runs. The
same SQL runs on DuckDB and Postgres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sources import registry
from transforms.contracts import contracts
from transforms.runner import Warehouse

TABLES = ("flow_runs", "completion_rate", "status_funnel", "status_counts", "step_funnel",
          "sync_status")
TOP_FLOWS = 12  # flows drawn one by one per provider; the rest are in the tables
TOP_WIDGETS = 15  # widgets drawn per step funnel; the rest are summed up


@dataclass(frozen=True)
class Day:
    day: date
    total: int
    finished: int
    completed: int
    open: int = 0  # runs not finished yet: the day is provisional, its rate still moving

    @property
    def rate(self) -> float | None:
        return self.completed / self.finished if self.finished else None


@dataclass(frozen=True)
class Status:
    status: str | None  # None: a status the normalisation does not know
    runs: int
    share: float


@dataclass(frozen=True)
class Widget:
    widget: str
    reached: int
    ended_here: int
    share: float  # of the flow's ended executions
    completed_here: int = 0  # of ended_here: a successful ending
    failed_here: int = 0  # drop-offs
    expired_here: int = 0
    depth: int | None = None  # transitions from the flow's Trigger (None: unknown)


@dataclass
class Flow:
    provider: str
    flow_id: str | None  # None: the runs without a flow
    name: str | None
    entered: int = 0
    started: int = 0
    completed: int = 0
    finished: int = 0
    days: list[Day] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    widgets: list[Widget] = field(default_factory=list)
    widgets_more: int = 0  # widgets beyond TOP_WIDGETS
    account: str | None = None  # named where the warehouse holds several accounts

    @property
    def rate(self) -> float | None:
        return self.completed / self.finished if self.finished else None

    @property
    def label(self) -> str:
        label = "(runs without a flow)" if self.flow_id is None else self.name or self.flow_id
        return f"{label} · {self.account}" if self.account else label


@dataclass(frozen=True)
class Sync:
    source: str
    account: str
    last_attempt_at: datetime | None
    last_outcome: str | None
    last_error: str | None
    last_success_at: datetime | None
    newest_started_at: datetime | None
    runs: int


@dataclass
class Provider:
    provider: str
    flows: list[Flow]  # by runs entered, most first
    days: list[Day]  # the provider's flows together

    @property
    def entered(self) -> int:
        return sum(f.entered for f in self.flows)

    @property
    def rate(self) -> float | None:
        finished = sum(f.finished for f in self.flows)
        return sum(f.completed for f in self.flows) / finished if finished else None


@dataclass
class ReportData:
    missing: list[str]  # analytics tables not built yet
    syncs: list[Sync]
    providers: list[Provider]  # those with runs


# every status in one order (and colour, `charts`) in every card
STATUS_ORDER = ("completed", "running", "pending", "canceled", "expired", "failed", None)


def read(wh: Warehouse) -> ReportData:
    # a table not built yet, or built by an earlier flowsync (its new columns missing)
    missing = [t for t in TABLES if wh.columns("analytics", t) is None]
    missing += [f"{t}.{c}" for t in TABLES if t not in missing
                for c in contracts()[t].columns if c not in (wh.columns("analytics", t) or ())]
    if missing:
        return ReportData(missing, [], [])
    flows = _flows(wh)
    if wh.scalar("select count(distinct account) from analytics.sync_status") > 1:
        for flow_id, account in wh.rows("select distinct flow_id, account "
                                        "from analytics.status_funnel where flow_id is not null"):
            for flow in flows.values():
                if flow.flow_id == flow_id:
                    flow.account = account
        for flow in flows.values():
            if flow.flow_id is None:
                flow.account = "every account"
    ranked = {name: sorted((f for f in flows.values() if f.provider == name),
                           key=lambda f: (-f.entered, f.label, f.flow_id or ""))
              for name in registry.names()}
    # the flows drawn one by one: the TOP_FLOWS with the most runs of each provider
    _add_days(wh, flows, {(f.provider, f.flow_id) for mine in ranked.values()
                          for f in mine[:TOP_FLOWS]})
    _add_statuses(wh, flows)
    _add_widgets(wh, flows)
    providers = [Provider(name, mine, _provider_days(wh, name))
                 for name, mine in ranked.items() if mine]
    return ReportData([], _syncs(wh), providers)


Key = tuple[str, str | None]


def _flows(wh: Warehouse) -> dict[Key, Flow]:
    flows: dict[Key, Flow] = {}
    for provider, flow_id, name, entered, started, completed in wh.rows(
            "select provider, flow_id, max(flow_name), "
            "sum(case when stage = 'entered' then runs else 0 end), "
            "sum(case when stage = 'started' then runs else 0 end), "
            "sum(case when stage = 'completed' then runs else 0 end) "
            "from analytics.status_funnel group by provider, flow_id"):
        flows[(provider, flow_id)] = Flow(provider, flow_id, name, int(entered), int(started),
                                          int(completed))
    for provider, flow_id, finished in wh.rows(
            "select provider, flow_id, sum(runs_finished) from analytics.completion_rate "
            "group by provider, flow_id"):
        if (provider, flow_id) in flows:
            flows[(provider, flow_id)].finished = int(finished)
    return flows


def _add_days(wh: Warehouse, flows: dict[Key, Flow], drawn: set[Key]) -> None:
    for provider, flow_id, day, total, finished, completed, open_ in wh.rows(
            "select provider, flow_id, day, runs_total, runs_finished, runs_completed, "
            "runs_open from analytics.completion_rate order by provider, flow_id, day"):
        if (provider, flow_id) in drawn:
            flows[(provider, flow_id)].days.append(
                Day(_date(day), int(total), int(finished), int(completed), int(open_)))


def _provider_days(wh: Warehouse, provider: str) -> list[Day]:
    return [Day(_date(day), int(total), int(finished), int(completed), int(open_))
            for day, total, finished, completed, open_ in wh.rows(
                "select day, sum(runs_total), sum(runs_finished), sum(runs_completed), "
                "sum(runs_open) from analytics.completion_rate where provider = %s "
                "group by day order by day", (provider,))]


def _add_statuses(wh: Warehouse, flows: dict[Key, Flow]) -> None:
    for provider, flow_id, status, runs, share in wh.rows(
            "select provider, flow_id, status, runs, share from analytics.status_counts"):
        if (provider, flow_id) in flows:
            flows[(provider, flow_id)].statuses.append(Status(status, int(runs), float(share)))
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    for flow in flows.values():
        flow.statuses.sort(key=lambda s: (rank.get(s.status, len(rank)), s.status or ""))


def _add_widgets(wh: Warehouse, flows: dict[Key, Flow]) -> None:
    # (flow ids are the providers' own: a Twilio flow SID names one flow)
    by_id = {fid: f for (_, fid), f in flows.items() if fid}
    # in the flow's order: by depth from its Trigger, then by reach
    for flow_id, widget, reached, ended_here, share, done, failed, expired, depth in wh.rows(
            "select flow_id, widget, executions_reached, executions_ended_here, "
            "pct_of_flow_executions, executions_completed_here, executions_failed_here, "
            "executions_expired_here, widget_depth from analytics.step_funnel "
            "order by flow_id, widget_depth nulls last, executions_reached desc, widget"):
        flow = by_id.get(flow_id)
        if flow is None:
            continue
        if len(flow.widgets) < TOP_WIDGETS:
            flow.widgets.append(Widget(widget, int(reached), int(ended_here), float(share),
                                       int(done), int(failed), int(expired),
                                       None if depth is None else int(depth)))
        else:
            flow.widgets_more += 1


def _syncs(wh: Warehouse) -> list[Sync]:
    return [Sync(source, account, attempt, outcome, error, success, newest, int(runs or 0))
            for source, account, attempt, outcome, error, success, newest, runs in wh.rows(
                "select source, account, last_attempt_at, last_outcome, last_error, "
                "last_success_at, newest_started_at, runs from analytics.sync_status "
                "order by source, account")]


LONG = 120  # days of history past which the daily charts draw weeks


def by_week(days: list[Day]) -> list[Day]:
    """The days summed per week (each dated by its Monday), when there are too many to
    draw one by one; as they are otherwise."""
    if not days or (days[-1].day - days[0].day).days < LONG:
        return days
    weeks: dict[date, list[int]] = {}
    for d in days:
        monday = d.day - timedelta(days=d.day.weekday())
        sums = weeks.setdefault(monday, [0, 0, 0, 0])
        for i, n in enumerate((d.total, d.finished, d.completed, d.open)):
            sums[i] += n
    return [Day(monday, *sums) for monday, sums in sorted(weeks.items())]


def _date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
