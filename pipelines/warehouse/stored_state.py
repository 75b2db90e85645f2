"""dlt's stored state: the newest row of each pipeline, not one row per load.

dlt appends the pipeline's whole state (its cursors) to `_dlt_pipeline_state` with every
load that changed it, and only ever reads back the newest row of a completed load. A
Twilio account's state holds its still-active executions: at 1M executions some 100,000
of them, a 3 MB row. A first load in checkpoints of 50,000 rows appended 85 of those, and
a DuckDB checkpoint had to hold the big strings of many at once (it failed within a 64MB
`memory_limit` at the 33rd load); an account run every 15 minutes for a year would store
35,000. So after each load the rows older than the newest one of a completed load are
deleted, per pipeline (accounts share a dataset).
"""

from __future__ import annotations

from transforms.warehouse import Warehouse

STATE_TABLE = "_dlt_pipeline_state"
LOADS_TABLE = "_dlt_loads"


def keep_newest_state(wh: Warehouse, dataset: str, pipeline_name: str) -> None:
    """Deletes the pipeline's stored states older than the one dlt would restore (the
    newest whose load completed); the others, newer ones included, stay."""
    if wh.columns(dataset, STATE_TABLE) is None or wh.columns(dataset, LOADS_TABLE) is None:
        return
    wh.execute(
        f"delete from {dataset}.{STATE_TABLE} where pipeline_name = %s and _dlt_load_id < ("
        f"select max(s._dlt_load_id) from {dataset}.{STATE_TABLE} s join {dataset}."
        f"{LOADS_TABLE} l on l.load_id = s._dlt_load_id "
        "where s.pipeline_name = %s and l.status = 0)", (pipeline_name, pipeline_name))
