"""The report's stylesheet, embedded in the page: system fonts, one column on a phone."""

CSS = """
:root { color-scheme: light; --ink: #1b1b1b; --muted: #555; --line: #d9d9d9; --bg: #fff;
  --panel: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans",
  "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: var(--bg); }
main { max-width: 1180px; margin: 0 auto; padding: 16px 20px 48px; }
h1 { font-size: 1.6rem; margin: 8px 0 4px; }
h2 { font-size: 1.3rem; margin: 36px 0 8px; border-bottom: 2px solid var(--ink); padding-bottom: 4px; }
h3 { font-size: 1.05rem; margin: 0 0 8px; overflow-wrap: anywhere; }
h4 { font-size: .95rem; margin: 14px 0 6px; color: var(--muted); }
p { margin: 6px 0; }
.muted { color: var(--muted); }
.notice { background: #fff4d6; border-left: 4px solid #b57a00; padding: 10px 14px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; }
.card { background: var(--panel); border-radius: 8px; padding: 12px 14px; }
.card .big { font-size: 1.6rem; font-weight: 650; display: block; }
.flows { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(520px, 100%), 1fr)); gap: 16px; }
.flow { border: 1px solid var(--line); border-radius: 8px; padding: 14px; min-width: 0; }
.chart { width: 100%; height: auto; display: block; }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart .axis { font-size: 12px; fill: var(--muted); }
.chart .axis.rate { fill: #a34700; }
.chart .hover { fill: transparent; }
.chart g:hover .hover { fill: rgba(0, 0, 0, .06); }
.legend { font-size: .85rem; color: var(--muted); }
.key { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
  vertical-align: -1px; margin: 0 4px 0 10px; }
.key:first-child { margin-left: 0; }
.key.line { height: 3px; vertical-align: 3px; }
.bars { display: grid; gap: 4px; }
.bar-row { display: grid; grid-template-columns: minmax(90px, 30%) 1fr minmax(110px, auto);
  gap: 8px; align-items: center; font-size: .9rem; }
.bar-label { overflow-wrap: anywhere; }
.bar-track { position: relative; height: 16px; background: var(--panel); border-radius: 3px; }
.bar { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 3px; }
.bar.stop { top: 5px; bottom: 5px; }
.bar-value { font-variant-numeric: tabular-nums; white-space: nowrap; }
.stack { display: flex; height: 18px; border-radius: 3px; overflow: hidden; background: var(--panel); }
.stack span { display: block; height: 100%; }
.mix-legend { list-style: none; padding: 0; margin: 6px 0; display: flex; flex-wrap: wrap;
  gap: 2px 14px; font-size: .85rem; }
.mix-legend .key { margin-left: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; margin: 6px 0; }
th, td { text-align: right; padding: 4px 8px; border-bottom: 1px solid var(--line);
  font-variant-numeric: tabular-nums; white-space: nowrap; }
th:first-child, td:first-child, th.text, td.text { text-align: left; white-space: normal; }
table.ranking td:nth-child(2), table.ranking th:nth-child(2) { text-align: left;
  white-space: normal; }
thead th { background: var(--panel); }
details { margin: 8px 0; }
summary { cursor: pointer; color: #004f7c; }
code { background: var(--panel); padding: 1px 4px; border-radius: 3px; }
.chart .provisional .runs { fill-opacity: .45; stroke: #0072B2; stroke-dasharray: 3 2; }
.key.provisional { opacity: .45; outline: 1px dashed #0072B2; }
.provisional-note { background: #eef5fb; border-left: 4px solid #0072B2; padding: 6px 10px;
  font-size: .9rem; }
.bar.drop, .key.drop { background-image: repeating-linear-gradient(135deg, transparent 0 3px,
  rgba(255, 255, 255, .55) 3px 5px); }
.steps .bar-row { grid-template-columns: minmax(90px, 26%) 1fr minmax(150px, 34%); }
.steps .bar-value { white-space: normal; font-size: .85rem; }
nav#contents ul { columns: 2 240px; padding-left: 18px; margin: 6px 0; }
@media (prefers-color-scheme: dark) {
  :root { color-scheme: dark; --ink: #e8e8e8; --muted: #a8a8a8; --line: #3a3a3a;
    --bg: #15171a; --panel: #23262b; }
  .notice { background: #3a2f12; }
  .provisional-note { background: #13283a; }
  summary { color: #6cb6ff; }
  .chart .axis.rate { fill: #ff9a5c; }
}
@media (max-width: 600px) {
  main { padding: 10px 12px 32px; }
  .flows { grid-template-columns: 1fr; }
  .bar-row { grid-template-columns: 1fr auto; }
  .bar-row .bar-track { grid-column: 1 / -1; grid-row: 2; }
  h1 { font-size: 1.35rem; }
  /* a chart is drawn ~2x narrower than its viewBox: its text, in the viewBox's units, at
     least 11 CSS px as shown */
  .chart .axis { font-size: 24px; }
  /* the main tables fit the width: headers wrap, numbers stay on one line */
  table { font-size: .78rem; }
  th { white-space: normal; }
  table.ranking th { overflow-wrap: anywhere; }
  .steps .bar-row { grid-template-columns: 1fr; }
  .steps .bar-row .bar-value { grid-row: 3; }
  #sync-status td { white-space: normal; }
  #sync-status td:nth-child(5), #sync-status th:nth-child(5) { display: none; }
  th, td { padding: 3px 3px; }
  table.ranking td:first-child, table.ranking th:first-child { display: none; }
}
"""
