"""`flowsync report`: the HTML file in a real headless Chromium, at desktop and phone
widths, with no console message and no request but the file itself; the numbers it shows
equal the analytics tables; empty and partial warehouses; DuckDB and Postgres alike."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg2
import pytest

from tests.browser import DESKTOP, PHONE, Page, chromium
from tests.running import database_dsn, env_for, flowsync, fresh_database, untimed

ODD_NAME = 'Café ☕ 予約 — ñandú <b>bold</b> & "quoted"'
SHOTS = Path(os.environ.get("FLOWSYNC_TEST_SCREENSHOTS", "")) if os.environ.get(
    "FLOWSYNC_TEST_SCREENSHOTS") else None


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`flowsync demo --scale small`, once: a DuckDB warehouse of both sources, and the
    report the demo wrote beside it."""
    tmp = tmp_path_factory.mktemp("demo")
    done = flowsync(["demo", "--scale", "small", "--duckdb", str(tmp / "demo.duckdb")],
                    env_for(None, tmp), tmp)
    assert done.returncode == 0, done.stderr
    assert f"the report:     {tmp / 'demo-report.html'} (" in done.stdout
    return tmp / "demo.duckdb"


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium() as p:
        yield p


def copy(demo: Path, tmp: Path) -> Path:
    target = tmp / "w.duckdb"
    shutil.copy(demo, target)
    return target


def report(tmp: Path, *extra: str, env: dict | None = None) -> Path:
    out = tmp / "report.html"
    done = flowsync(["report", "--output", str(out), *extra], env or env_for(None, tmp), tmp)
    assert done.returncode == 0, done.stderr
    assert untimed(done.stdout).startswith(f"report: {out} ("), done.stdout
    return out


def check_clean(page: Page, path: Path, name: str) -> None:
    """Opens the page at both widths: nothing logged, nothing requested but the page,
    nothing wider than a phone; screenshots of both."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.open(path, size)
        assert page.console() == []
        assert page.requests() == [path.resolve().as_uri()]
        width = page.script("return document.documentElement.scrollWidth")
        assert width <= size[0], f"{label}: the page is {width}px wide"
        shot = (SHOTS or path.parent) / f"{name}-{label}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(shot, size[0])
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def shown_rows(page: Page) -> dict[tuple[str, str], list[str]]:
    """The ranking tables as displayed: (provider, flow id) -> the row's cells."""
    rows = page.script("""
        return [...document.querySelectorAll('table.ranking tbody tr')].map(tr =>
            [tr.dataset.provider, tr.dataset.flow, ...[...tr.cells].map(td => td.innerText)])""")
    return {(r[0], r[1]): r[3:] for r in rows}


def pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def expected_rows(con) -> dict[tuple[str, str], list[str]]:
    """Per flow, from the analytics tables: name, entered, started, finished, completed,
    completion rate."""
    funnel = {(p, f or ""): (n, e, s, c) for p, f, n, e, s, c in con.execute(
        "select provider, flow_id, max(flow_name), sum(runs) filter (where stage = 'entered'), "
        "sum(runs) filter (where stage = 'started'), sum(runs) filter (where stage = 'completed') "
        "from analytics.status_funnel group by all").fetchall()}
    finished = {(p, f or ""): (fin, c) for p, f, fin, c in con.execute(
        "select provider, flow_id, sum(runs_finished), sum(runs_completed) "
        "from analytics.completion_rate group by all").fetchall()}
    out = {}
    for key, (name, e, s, c) in funnel.items():
        fin, c2 = finished[key]
        assert c2 == c
        label = "(runs without a flow)" if not key[1] else name or key[1]
        out[key] = [label, f"{e:,}", f"{s:,}", f"{fin:,}", f"{c:,}", pct(c / fin if fin else None)]
    return out


def test_the_demo_s_report_shows_the_analytics_tables(demo: Path, page: Page) -> None:
    path = demo.with_name("demo-report.html")
    check_clean(page, path, "demo")
    with duckdb.connect(str(demo), read_only=True) as con:
        expected = expected_rows(con)
        syncs = dict(con.execute("select source, runs from analytics.sync_status").fetchall())
        widgets = con.execute(
            "select flow_id, widget, executions_reached, executions_ended_here "
            "from analytics.step_funnel order by executions_reached desc limit 3").fetchall()
    page.open(path, DESKTOP)
    assert shown_rows(page) == expected
    assert {("hilos", ""), ("twilio_studio", "")} & expected.keys()  # runs without a flow
    shown_syncs = page.script("""return Object.fromEntries([...document.querySelectorAll(
        '#sync-status tbody tr')].map(tr => [tr.dataset.source, tr.cells[3].innerText]))""")
    assert shown_syncs == {s: f"{n:,}" for s, n in syncs.items()}
    for flow_id, widget, reached, ended in widgets:
        text = page.script(f"""return [...document.querySelectorAll(
            'article[data-flow="{flow_id}"] .bar-row')].map(r => r.innerText).join('\\n')""")
        assert re.search(rf"{re.escape(widget)}\s+{reached:,} \([\d.]+%\), {ended:,} ended here",
                         text), text
    # a stage every run of a provider reaches with the one before is not drawn (issue 24:
    # Twilio's `started` equals `entered` for every flow)
    same = {p: all(r[1] == r[2] for (q, _), r in expected.items() if q == p)
            for p, _ in expected}
    assert same["twilio_studio"]
    for (provider, flow_id), row in expected.items():  # every flow's status funnel
        entered, started, completed = (int(row[i].replace(",", "")) for i in (1, 2, 4))
        shown = page.script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)",
            f'article[data-provider="{provider}"][data-flow="{flow_id}"] .funnel .bar-value')
        drawn = (entered, completed) if same[provider] else (entered, started, completed)
        assert shown == [f"{n:,} ({pct(n / entered)})" for n in drawn]


def test_flow_names_in_any_script_and_markup_show_as_written(demo: Path, tmp_path: Path,
                                                             page: Page) -> None:
    db = copy(demo, tmp_path)
    with duckdb.connect(str(db)) as con:
        flow_id = con.execute("select flow_id from analytics.status_funnel where provider = "
                              "'twilio_studio' and flow_id is not null limit 1").fetchone()[0]
        for table in ("flow_runs", "completion_rate", "status_funnel", "status_counts",
                      "step_funnel"):
            con.execute(f"update analytics.{table} set flow_name = ? where flow_id = ?",
                        [ODD_NAME, flow_id])
    path = report(tmp_path, env=env_for(None, tmp_path))
    check_clean(page, path, "names")
    page.open(path, DESKTOP)
    title = page.script(f"""return document.querySelector(
        'article[data-flow="{flow_id}"] h3').innerText""")
    assert title == ODD_NAME
    assert page.script("return document.querySelectorAll('main b').length") == 0


def test_a_warehouse_without_analytics_gets_a_report_that_says_so(tmp_path: Path,
                                                                   page: Page) -> None:
    duckdb.connect(str(tmp_path / "w.duckdb")).close()
    path = report(tmp_path)
    check_clean(page, path, "unbuilt")
    page.open(path, DESKTOP)
    assert "analytics tables are not built yet" in page.script(
        "return document.getElementById('empty').innerText")


def test_analytics_of_an_earlier_release_get_a_report_that_says_so(
        demo: Path, tmp_path: Path, page: Page) -> None:
    """An upgraded flowsync's report before the next run or transform: the tables lack the
    new columns; the page says what to run rather than failing."""
    db = copy(demo, tmp_path)
    with duckdb.connect(str(db)) as con:
        con.execute("alter table analytics.completion_rate drop column runs_open")
    path = report(tmp_path)
    page.open(path, DESKTOP)
    text = page.script("return document.getElementById('empty').innerText")
    assert "or were built by an earlier flowsync (missing: completion_rate.runs_open)" in text
    assert "flowsync transform" in text


def test_no_runs_and_one_provider_only(demo: Path, tmp_path: Path, page: Page) -> None:
    db = copy(demo, tmp_path)
    with duckdb.connect(str(db)) as con:
        for table in ("flow_runs", "completion_rate", "status_funnel", "status_counts"):
            con.execute(f"delete from analytics.{table} where provider = 'twilio_studio'")
        con.execute("delete from analytics.step_funnel")
        con.execute("delete from analytics.sync_status where source = 'twilio_studio'")
    path = report(tmp_path)
    check_clean(page, path, "hilos-only")
    page.open(path, DESKTOP)
    assert page.script("return document.getElementById('provider-twilio_studio')") is None
    assert page.script("return document.getElementById('provider-hilos') !== null")
    with duckdb.connect(str(db)) as con:
        for table in ("flow_runs", "completion_rate", "status_funnel", "status_counts"):
            con.execute(f"delete from analytics.{table}")
    path = report(tmp_path)
    check_clean(page, path, "no-runs")
    page.open(path, DESKTOP)
    assert "No runs yet" in page.script("return document.getElementById('empty').innerText")


def test_no_warehouse_is_a_clear_error_that_creates_nothing(tmp_path: Path) -> None:
    done = flowsync(["report"], env_for(None, tmp_path), tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"flowsync: report: no DuckDB warehouse at {tmp_path / 'w.duckdb'}")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


PG_TYPES = {"VARCHAR": "text", "BIGINT": "bigint", "INTEGER": "integer",
            "DOUBLE": "double precision", "DATE": "date", "BOOLEAN": "boolean",
            "TIMESTAMP WITH TIME ZONE": "timestamptz",
            "HUGEINT": "numeric"}


def test_postgres_gives_the_same_report(demo: Path, tmp_path: Path, postgres_dsn: str) -> None:
    """The demo's analytics tables copied into Postgres: the same page, but for its header."""
    tables = ("flow_runs", "completion_rate", "status_funnel", "status_counts", "step_funnel",
              "sync_status")
    with fresh_database("flowsync_report") as name, \
            duckdb.connect(str(demo), read_only=True) as src:
        dsn = database_dsn(name)
        pg = psycopg2.connect(dsn)
        pg.autocommit = True
        cur = pg.cursor()
        cur.execute("create schema analytics")
        for table in tables:
            cols = src.execute("select column_name, data_type from information_schema.columns "
                               f"where table_schema = 'analytics' and table_name = '{table}' "
                               "order by ordinal_position").fetchall()
            types = [PG_TYPES.get(t, "numeric" if t.startswith("DECIMAL") else t)
                     for _, t in cols]
            cur.execute(f"create table analytics.{table} ("
                        + ", ".join(f"{c} {t}" for (c, _), t in zip(cols, types, strict=True)) + ")")
            rows = src.execute(f"select * from analytics.{table}").fetchall()
            cur.executemany(f"insert into analytics.{table} values "
                            f"({', '.join(['%s'] * len(cols))})", rows)
        pg.close()
        env = env_for(None, tmp_path, DESTINATION__POSTGRES__CREDENTIALS=dsn,
                      FLOWSYNC__STATE_DIR=str(tmp_path / "state"))
        path = report(tmp_path, "--destination", "postgres", env=env)
    from_duckdb = report_of(demo, tmp_path / "duck")
    assert _body(path.read_text()) == _body(from_duckdb.read_text())


def report_of(db: Path, tmp: Path) -> Path:
    tmp.mkdir()
    return report(tmp, env=env_for(None, tmp, DESTINATION__DUCKDB__CREDENTIALS=str(db)))


def _body(html: str) -> str:
    """The page without its first line of text (the warehouse's name, the time)."""
    return re.sub(r'<h1>flowsync report</h1><p class="muted">.*?</p>', "", html, count=1)


def test_the_browser_check_catches_a_request_and_a_console_error(tmp_path: Path,
                                                                 page: Page) -> None:
    """The harness itself: a page that fetches something or logs an error fails it."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!doctype html><img src="http://127.0.0.1:9/x.png" alt="">'
                   "<script>console.error('boom')</script>")
    with pytest.raises(AssertionError):
        check_clean(page, bad, "bad")
    page.open(bad, DESKTOP)
    assert any("boom" in e["message"] for e in page.console())
    page.open(bad, DESKTOP)
    assert "http://127.0.0.1:9/x.png" in page.requests()


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_provisional_days_statuses_and_steps_read_the_same_in_every_card(
        demo: Path, page: Page, size: tuple[int, int]) -> None:
    """Issue 24: the newest days read as a surge with nothing saying they still move;
    statuses changed colour position from card to card; widgets came by reach, not by
    their place in the flow; no contents; the time zone unnamed."""
    path = demo.with_name("demo-report.html")
    page.open(path, size)
    assert "days in UTC" in page.script("return document.querySelector('main p').innerText")
    with duckdb.connect(str(demo), read_only=True) as con:
        open_days = con.execute("select count(distinct (provider, day)) from "
                                "analytics.completion_rate where runs_open > 0").fetchall()[0][0]
    assert open_days > 0
    provisional = page.script("return document.querySelectorAll('svg g.provisional').length")
    assert provisional >= open_days  # per provider chart, and again per flow
    notes = page.script("return [...document.querySelectorAll('.provisional-note')]"
                        ".map(p => p.innerText)")
    assert notes and all(n.startswith("Provisional: ") for n in notes)
    # one order and one colour per status, in every card
    legends = page.script("""return [...document.querySelectorAll('.mix-legend')].map(ul =>
        [...ul.querySelectorAll('li')].map(li => [li.innerText.split(' ')[0],
                                                  li.querySelector('.key').style.background]))""")
    order = ["completed", "running", "pending", "canceled", "expired", "failed", "unknown"]
    colours: dict[str, str] = {}
    for legend in legends:
        names = [name for name, _ in legend]
        assert names == sorted(names, key=order.index), names
        for name, colour in legend:
            assert colours.setdefault(name, colour) == colour, name
    # the step funnel in the flow's order: depth from the Trigger, never decreasing
    depths = page.script("""return [...document.querySelectorAll('.steps')].map(s =>
        [...s.querySelectorAll('.bar-label')].map(l => parseInt(l.innerText)))""")
    assert depths and all(d == sorted(d) and d[0] >= 1 for d in depths), depths
    # contents: every drawn flow is one link away
    links = page.script("return [...document.querySelectorAll('nav#contents a')]"
                        ".map(a => a.getAttribute('href'))")
    cards = page.script("return [...document.querySelectorAll('article.flow')].map(a => a.id)")
    assert {f"#{c}" for c in cards} <= set(links)


def test_at_phone_width_chart_text_is_legible_and_the_main_tables_fit(demo: Path,
                                                                      page: Page) -> None:
    """Issue 24: at 390 px the chart text was ~5 px and the tables scrolled sideways."""
    page.open(demo.with_name("demo-report.html"), PHONE)
    smallest = page.script("""return Math.min(...[...document.querySelectorAll('svg.chart')]
        .flatMap(svg => { const scale = svg.getBoundingClientRect().width
                                         / svg.viewBox.baseVal.width;
          return [...svg.querySelectorAll('text')].map(t =>
            parseFloat(getComputedStyle(t).fontSize) * scale); }))""")
    assert smallest >= 11, smallest
    # no element is narrower than its content: the main tables (the ranking, data as of)
    # and every block fit; only the folded tables of numbers may scroll
    overflowing = page.script("""return [...document.querySelectorAll('main *')]
        .filter(e => !e.closest('details') && !(e instanceof SVGElement)
                     && e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0)
        .map(e => e.tagName + '.' + e.className + ' ' + e.scrollWidth + '>' + e.clientWidth)""")
    assert overflowing == []


def test_a_long_history_is_drawn_in_weeks() -> None:
    from datetime import date, timedelta

    from pipelines.report import charts
    from pipelines.report.data import Day, by_week

    days = [Day(date(2026, 1, 5) + timedelta(days=i), 10, 8, 4, 0) for i in range(200)]
    weeks = by_week(days)
    assert len(weeks) == 29 and weeks[0] == Day(date(2026, 1, 5), 70, 56, 28, 0)
    assert all(w.day.weekday() == 0 for w in weeks)
    assert by_week(days[:100]) == days[:100]  # a short history stays in days
    svg = charts.daily(weeks, "flow", unit=7)
    assert svg.count('class="runs"') == 29 and "week of 2026-01-05" in svg
