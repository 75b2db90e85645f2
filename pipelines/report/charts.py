"""The report's charts, drawn here as SVG and HTML: no script, no library, no network.

Every mark carries its numbers (a `<title>` tooltip, or the number printed beside it), and
each chart is followed by a table of what it draws (`numbers`). Colours are from the
Okabe-Ito palette (distinguishable with colour-blindness; its orange darkened to #B07D00),
each at least 3:1 against the white page (3.06:1 for purple, the lowest); no colour is the
only cue (labels name every part).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from html import escape

from .data import Day, Status, Widget

BLUE, VERMILLION, GREEN, ORANGE, PURPLE, GREY = (
    "#0072B2", "#D55E00", "#009E73", "#B07D00", "#CC79A7", "#6B6B6B")
STATUS_COLOURS = {"completed": GREEN, "running": BLUE, "pending": "#8C8C8C",
                  "canceled": ORANGE, "expired": PURPLE, "failed": VERMILLION, None: "#3B3B3B"}


def count(n: int) -> str:
    return f"{n:,}"


def pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def status_name(status: str | None) -> str:
    return status if status is not None else "unknown status"


def daily(days: Sequence[Day], label: str, w: int = 720, unit: int = 1) -> str:
    """Runs started per day (bars, left axis) and the completion rate (line, right axis;
    broken where a day has nothing finished). `w`: the drawing's width in its own units
    (narrower for a smaller chart keeps its text readable); `unit`: 7 when `days` are
    weeks (`data.by_week`)."""
    if not days:
        return '<p class="muted">No runs.</p>'
    h, left, right, top, bottom = round(w * 0.32), 60, 60, 12, 34
    first, last = days[0].day, days[-1].day
    span = (last - first).days // unit + 1
    step = (w - left - right) / span
    most = max(d.total for d in days) or 1
    plot_h = h - top - bottom

    def x(i: int) -> float:
        return left + i * step

    def y_runs(n: int) -> float:
        return top + plot_h * (1 - n / most)

    def y_rate(r: float) -> float:
        return top + plot_h * (1 - r)

    parts = [f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" '
             f'aria-label="{escape(label)}: runs per day and completion rate, '
             f'{first} to {last}">']
    for frac in (0, 0.5, 1):  # gridlines at 0, 50, 100 % of the height
        gy = top + plot_h * (1 - frac)
        parts.append(f'<line x1="{left}" x2="{w - right}" y1="{gy:.1f}" y2="{gy:.1f}" '
                     'class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{gy + 4:.1f}" class="axis" text-anchor="end">'
                     f'{count(round(most * frac))}</text>')
        parts.append(f'<text x="{w - right + 6}" y="{gy + 4:.1f}" class="axis rate">'
                     f'{round(frac * 100)}%</text>')
    bar = max(1.0, step * 0.8)
    points: list[list[str]] = [[]]
    previous = -1
    for d in days:
        i = (d.day - first).days // unit
        if i != previous + 1:
            points.append([])  # a day without runs: no line across it
        previous = i
        moving = (f", {count(d.open)} still open: provisional, the rate still moves"
                  if d.open else "")
        cls = ' class="provisional"' if d.open else ""
        parts.append(f'<g{cls}><title>{"week of " if unit > 1 else ""}{d.day}: '
                     f'{count(d.total)} runs, {count(d.finished)} finished, '
                     f'{count(d.completed)} completed, completion rate {pct(d.rate)}{moving}'
                     '</title>'
                     f'<rect x="{x(i) + (step - bar) / 2:.1f}" y="{y_runs(d.total):.1f}" '
                     f'width="{bar:.1f}" height="{top + plot_h - y_runs(d.total):.1f}" '
                     f'fill="{BLUE}" class="runs"/>'
                     f'<rect x="{x(i):.1f}" y="{top}" width="{step:.1f}" height="{plot_h}" '
                     'class="hover"/></g>')
        if d.rate is None:
            points.append([])  # a gap: nothing finished that day
        else:
            points[-1].append(f"{x(i) + step / 2:.1f},{y_rate(d.rate):.1f}")
    for line in points:
        if len(line) > 1:
            parts.append(f'<polyline points="{" ".join(line)}" fill="none" '
                         f'stroke="{VERMILLION}" stroke-width="2"/>')
        for p in line:
            cx, cy = p.split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{VERMILLION}"/>')
    for i, anchor in ((0, "start"), (span - 1, "end")):
        parts.append(f'<text x="{x(i) + (0 if anchor == "start" else step):.1f}" y="{h - 8}" '
                     f'class="axis" text-anchor="{anchor}">'
                     f'{first + timedelta(days=i * unit)}</text>')
    parts.append("</svg>")
    legend = (f'<p class="legend"><span class="key" style="background:{BLUE}"></span>runs '
              f'started (left axis) <span class="key provisional" style="background:{BLUE}">'
              '</span>a provisional day (runs still open) <span class="key line" '
              f'style="background:{VERMILLION}"></span>completion rate (right axis)</p>')
    return "".join(parts) + legend + provisional(days)


def provisional(days: Sequence[Day]) -> str:
    """In words: which days are still moving, and how much of them is still open."""
    moving = [d for d in days if d.open]
    if not moving:
        return ""
    share = sum(d.open for d in moving) / sum(d.total for d in moving)
    span = (f"{moving[0].day}" if len(moving) == 1 else
            f"{len(moving)} days from {moving[0].day} to {moving[-1].day}")
    return (f'<p class="provisional-note">Provisional: {span} still have open runs '
            f'({pct(share)} of their runs). Their completion rates will move as those runs '
            "end, usually down: the runs that end quickly are the completed ones.</p>")


def _bar_row(label: str, marks: Sequence[tuple[float, str, str] | tuple[float, str, str, float]],
             text: str) -> str:
    """One labelled row of bars: (width in % of the track, colour, extra class[, where it
    starts, in % of the track]) each, and the text printed beside them."""
    spans = "".join(f'<span class="bar{(" " + m[2]) if m[2] else ""}" style="'
                    + (f"left:{m[3]:.2f}%;" if len(m) > 3 else "")
                    + f'width:{m[0]:.2f}%;background:{m[1]}"></span>' for m in marks)
    return (f'<div class="bar-row"><span class="bar-label">{escape(label)}</span>'
            f'<span class="bar-track">{spans}</span><span class="bar-value">'
            f'{escape(text)}</span></div>')


def bars(rows: Sequence[tuple[str, int, str]], most: int, colour: str = BLUE) -> str:
    """Horizontal bars: (label, value, the text printed beside it)."""
    most = most or 1
    return ('<div class="bars">'
            + "".join(_bar_row(label, [(100 * value / most, colour, "")], text)
                      for label, value, text in rows) + "</div>")


def mix(statuses: Sequence[Status]) -> str:
    """One stacked bar of the status shares, with a legend that names and counts each."""
    segments = "".join(
        f'<span style="width:{s.share * 100:.2f}%;background:'
        f'{STATUS_COLOURS.get(s.status, GREY)}" title="{escape(status_name(s.status))}: '
        f'{count(s.runs)} runs ({pct(s.share)})"></span>' for s in statuses)
    legend = "".join(
        f'<li><span class="key" style="background:{STATUS_COLOURS.get(s.status, GREY)}">'
        f'</span>{escape(status_name(s.status))} {count(s.runs)} ({pct(s.share)})</li>'
        for s in statuses)
    return f'<div class="stack">{segments}</div><ul class="mix-legend">{legend}</ul>'


def steps(widgets: Sequence[Widget], more: int) -> str:
    """Where executions go and where they stop, widget by widget."""
    if not widgets:
        return '<p class="muted">No steps loaded for this flow.</p>'
    most = max(w.reached for w in widgets) or 1
    out = ['<div class="bars steps">']
    for w in widgets:
        marks: list = [(100 * w.reached / most, BLUE, "")]
        at = 0.0
        for n, colour, cls in ((w.completed_here, GREEN, "stop"),
                               (w.failed_here, VERMILLION, "stop drop"),
                               (w.expired_here, PURPLE, "stop drop")):
            marks.append((100 * n / most, colour, cls, at))
            at += 100 * n / most
        ends = (f": {count(w.completed_here)} completed, {count(w.failed_here)} failed, "
                f"{count(w.expired_here)} expired" if w.ended_here else "")
        depth = "" if w.depth is None else f"{w.depth}. "
        out.append(_bar_row(f"{depth}{w.widget}", marks,
                            f"{count(w.reached)} ({pct(w.share)}), {count(w.ended_here)} "
                            f"ended here{ends}"))
    out.append("</div>")
    if more:
        out.append(f'<p class="muted">{more:,} more widget(s), further down the flow, are '
                   "not drawn.</p>")
    out.append(f'<p class="legend">In the flow\'s order (the number: transitions from its '
               f'Trigger). <span class="key" style="background:{BLUE}"></span>executions that '
               f'reached the widget; ended there: <span class="key" style="background:{GREEN}">'
               f'</span>completed <span class="key drop" style="background:{VERMILLION}">'
               f'</span>failed <span class="key drop" style="background:{PURPLE}"></span>'
               "expired (the drop-offs, hatched)</p>")
    return "".join(out)


def numbers(caption: str, head: Sequence[str], rows: Sequence[Sequence[str]],
            attrs: Sequence[str] | None = None) -> str:
    """The table of a chart's numbers, folded under it."""
    return f'<details><summary>{escape(caption)}</summary>{table(head, rows, attrs)}</details>'


def table(head: Sequence[str], rows: Sequence[Sequence[str]],
          attrs: Sequence[str] | None = None, cls: str = "") -> str:
    """A table (already-escaped cells); `attrs` adds attributes to each row."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(
        f'<tr{(" " + attrs[i]) if attrs else ""}>' + "".join(f"<td>{c}</td>" for c in row)
        + "</tr>" for i, row in enumerate(rows))
    return (f'<div class="scroll"><table class="{cls}"><thead><tr>{th}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")
