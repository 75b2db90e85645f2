"""The report as one HTML page: "data as of", an overview, then each provider's flows.

Everything escaped; UTF-8 throughout (flow names in any script); no script, no external
reference (the tests load it offline and fail on any request).
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from sources import registry

from . import charts
from .charts import count, pct
from .data import TOP_FLOWS, Flow, Provider, ReportData, Sync, by_week
from .style import CSS

NAMES = {source.name: source.display for source in registry.SOURCES}
STAGES = ("entered", "started", "completed")


def render(data: ReportData, warehouse: str, generated: datetime, zone: str = "UTC") -> str:
    body = [f"<h1>flowsync report</h1><p class=\"muted\">{escape(warehouse)} · generated "
            f"{_when(generated)} · days in {escape(zone)} · test runs excluded (except the "
            "run counts under “data as of”)</p>"]
    if data.missing:
        body.append('<p class="notice" id="empty">The analytics tables are not built yet, '
                    "or were built by an earlier flowsync "
                    f"(missing: {escape(', '.join(data.missing))}). Run <code>flowsync run"
                    "</code> (or <code>flowsync transform</code> after a load), then "
                    "<code>flowsync report</code> again.</p>")
    else:
        body.append(_syncs(data.syncs))
        if not data.providers:
            body.append('<p class="notice" id="empty">No runs yet: the warehouse holds no '
                        "flow runs from either source.</p>")
        else:
            body.append(_contents(data.providers))
            body.append(_overview(data.providers))
            body.extend(_provider(p) for p in data.providers)
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>flowsync report</title><style>" + CSS + "</style></head><body><main>"
            + "".join(body) + "</main></body></html>\n")


def _when(at: datetime | None) -> str:
    """In UTC, whatever the database session's time zone (naive: UTC already)."""
    if at is None:
        return "—"
    return (at.astimezone(UTC) if at.tzinfo else at).strftime("%Y-%m-%d %H:%M UTC")


def _syncs(syncs: list[Sync]) -> str:
    if not syncs:
        return ('<h2>Data as of</h2><p class="muted">No sync recorded yet.</p>')
    rows = [[escape(NAMES.get(s.source, s.source)
                    + ("" if s.account == "default" else f" · {s.account}")),
             _when(s.last_success_at),
             _when(s.newest_started_at), count(s.runs), _when(s.last_attempt_at),
             escape(s.last_outcome or "—")
             + (f"<br><span class=\"muted\">{escape(s.last_error)}</span>" if s.last_error else "")]
            for s in syncs]
    attrs = [f'data-source="{escape(s.source)}" data-account="{escape(s.account)}"'
             for s in syncs]
    return ('<h2>Data as of</h2><section id="sync-status">'
            + charts.table(["source", "data as of (last successful load)", "newest run started",
                            "runs", "last attempt", "last outcome"], rows, attrs) + "</section>")


def _contents(providers: list[Provider]) -> str:
    items = ['<li><a href="#sync-status">Data as of</a></li>',
             '<li><a href="#overview">Overview</a></li>']
    for p in providers:
        items.append(f'<li><a href="#provider-{p.provider}">{escape(NAMES[p.provider])}</a>'
                     "<ul>" + "".join(f'<li><a href="#{_anchor(f, i)}">{escape(f.label)}</a></li>'
                                      for i, f in enumerate(p.flows[:TOP_FLOWS]))
                     + "</ul></li>")
    return f'<nav id="contents"><h2>Contents</h2><ul>{"".join(items)}</ul></nav>'


def _anchor(f: Flow, i: int) -> str:
    return f"flow-{f.provider}-{i + 1}"


def _overview(providers: list[Provider]) -> str:
    cards = "".join(
        f'<div class="card" data-provider="{p.provider}"><span class="muted">'
        f'{escape(NAMES[p.provider])}</span><span class="big">{count(p.entered)}</span>runs in '
        f'{len(p.flows):,} flow(s) · completion rate <strong>{pct(p.rate)}</strong></div>'
        for p in providers)
    return f'<h2 id="overview">Overview</h2><div class="cards">{cards}</div>'


def _provider(p: Provider) -> str:
    name = escape(NAMES[p.provider])
    out = [f'<section id="provider-{p.provider}"><h2>{name}</h2>',
           *_daily("All flows: runs per {} and completion rate", p.days, name, 720),
           _ranking(p), _by_rate(p)]
    drawn = p.flows[:TOP_FLOWS]
    which = f" (the {TOP_FLOWS} with the most runs)" if len(p.flows) > TOP_FLOWS else ""
    out.append(f"<h4>Flow by flow{which}</h4>")
    # a stage every run of the provider reaches with the one before says nothing: not drawn
    stages = [s for i, s in enumerate(STAGES) if i == 0 or any(
        getattr(f, s) != getattr(f, STAGES[i - 1]) for f in p.flows)]
    out.append('<div class="flows">' + "".join(_flow(f, _anchor(f, i), stages)
                                                for i, f in enumerate(drawn)) + "</div>")
    if len(p.flows) > TOP_FLOWS:
        out.append(f'<p class="muted">{len(p.flows) - TOP_FLOWS:,} more flow(s) with fewer runs '
                   "are in the tables above.</p>")
    out.append("</section>")
    return "".join(out)


def _daily(title: str, days: list, label: str, w: int) -> list[str]:
    """The daily chart and its numbers; weekly when the history is long (`by_week`)."""
    shown = by_week(days)
    unit = "week" if shown is not days else "day"
    return [f"<h4>{escape(title.format(unit))}</h4>",
            charts.daily(shown, label, w, 7 if unit == "week" else 1), _days_table(shown, unit)]


def _days_table(days: list, unit: str = "day") -> str:
    return charts.numbers(f"Numbers per {unit}", [unit, "runs", "finished", "completed",
                                              "still open", "completion rate"],
                          [[str(d.day), count(d.total), count(d.finished), count(d.completed),
                            count(d.open), pct(d.rate) + (" (provisional)" if d.open else "")]
                           for d in days])


def _flow_attrs(f: Flow) -> str:
    return f'data-provider="{f.provider}" data-flow="{escape(f.flow_id or "")}"'


def _ranking(p: Provider) -> str:
    rows = [[str(i), escape(f.label), count(f.entered),
             count(f.started), count(f.finished), count(f.completed), pct(f.rate)]
            for i, f in enumerate(p.flows, 1)]
    return ("<h4>Flows by number of runs</h4>"
            + charts.table(["#", "flow", "runs (entered)", "started", "finished", "completed",
                            "completion rate"], rows, [_flow_attrs(f) for f in p.flows],
                           "ranking"))


def _by_rate(p: Provider) -> str:
    rated = sorted((f for f in p.flows if f.rate is not None),
                   key=lambda f: (-(f.rate or 0.0), -f.finished, f.label))
    if not rated:
        return '<h4>Flows by completion rate</h4><p class="muted">No run has finished yet.</p>'
    rows = [(f.label, round((f.rate or 0) * 10_000),
             f"{pct(f.rate)} of {count(f.finished)} finished") for f in rated]
    return "<h4>Flows by completion rate</h4>" + charts.bars(rows, 10_000, charts.GREEN)


def _flow(f: Flow, anchor: str, stages: list[str]) -> str:
    funnel = charts.bars(
        [(s, getattr(f, s), f"{count(getattr(f, s))} "
          f"({pct(getattr(f, s) / f.entered if f.entered else None)})") for s in stages],
        f.entered)
    parts = [f'<article class="flow" id="{anchor}" {_flow_attrs(f)}><h3>{escape(f.label)}</h3>',
             '<p class="muted">' + (escape(f.flow_id) if f.flow_id else "no flow id") + "</p>",
             "<h4>Status funnel</h4>", f'<div class="funnel">{funnel}</div>',
             "<h4>Status mix</h4>", charts.mix(f.statuses),
             *_daily("Runs per {} and completion rate", f.days, f.label, 520)]
    if f.widgets:
        parts += ["<h4>Step funnel: where executions go and stop</h4>",
                  charts.steps(f.widgets, f.widgets_more),
                  charts.numbers("Numbers per widget",
                                 ["depth", "widget", "executions reached",
                                  "share of ended executions", "ended here", "completed",
                                  "failed", "expired"],
                                 [["—" if w.depth is None else str(w.depth), escape(w.widget),
                                   count(w.reached), pct(w.share), count(w.ended_here),
                                   count(w.completed_here), count(w.failed_here),
                                   count(w.expired_here)] for w in f.widgets])]
    parts.append("</article>")
    return "".join(parts)
