"""The working folder of a source's pipeline (cursors, load packages), checked against
the warehouse before a run trusts it.

A folder records the warehouse it loads into and the last load it completed
(`flowsync_destination.json`). It is reset, and dlt then restores the warehouse's own
state, when it last loaded elsewhere, or when the warehouse lacks that load: a backup
restored, a replica failed over to, a database re-created. Trusting the folder then would
skip for good what the warehouse lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path

import dlt

from sources import registry

from .accounts import DEFAULT, Account
from .progress import RowCounter
from .warehouse import Destination

log = logging.getLogger("flowsync")


def staging_layout(account: str) -> str:
    """dlt's staging schema for the account's merges: one per account, so that accounts
    load side by side (`<dataset>_staging_<account>`; `<dataset>_staging`, as before
    accounts, for `default`)."""
    return "%s_staging" + ("" if account == DEFAULT else f"_{account}")


def light_urls() -> None:
    """dlt's own connection-URL type from now on, not SQLAlchemy's. dlt picks SQLAlchemy's
    whenever it is installed (Dagster installs it), only to print the destination in each
    load's step info: importing it costs every run 0.15-0.25 CPU-s and 10 MiB. dlt's type
    is the one it uses where SQLAlchemy is absent; a process that already imported dlt's
    choice keeps it."""
    from dlt.common.libs import sql_alchemy_shims

    sys.modules.setdefault("dlt.common.libs.sql_alchemy_compat", sql_alchemy_shims)


def open_pipeline(account: Account, destination: Destination,
                  progress: RowCounter | None = None) -> dlt.Pipeline:
    """The account's pipeline, its state in step with the warehouse. Its local state is
    reset, so that dlt restores the warehouse's own, when it last loaded elsewhere or when
    the warehouse lacks what it says was loaded (`_behind`)."""
    light_urls()
    name = account.pipeline_name
    folder = str(destination.state_dir / "pipelines")

    def make() -> dlt.Pipeline:
        return dlt.pipeline(pipeline_name=name,
                            destination=destination.dlt_destination(staging_layout(account.name)),
                            dataset_name=registry.get(account.source).dataset,
                            progress=progress, pipelines_dir=folder)

    pipeline = make()
    marker = Path(pipeline.working_dir) / "flowsync_destination.json"
    digest = hashlib.sha256(destination.fingerprint.encode()).hexdigest()
    recorded = json.loads(marker.read_text()) if marker.exists() else {}
    if recorded and recorded.get("destination") != digest:
        # the cursors here belong to another warehouse: start from what this one holds
        log.warning("%s last loaded into another destination; its local state is reset and "
                    "restored from %s", name, destination.label)
        pipeline.drop()
        pipeline = make()
    elif recorded and _behind(pipeline, destination, recorded.get("load_id")):
        log.warning("%s: the warehouse lacks loads this working folder recorded (a backup "
                    "restored? a replica behind?); the warehouse's own state is taken and "
                    "what it lacks is fetched again", name)
        pipeline.drop()
        pipeline = make()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"destination": digest,
                                  "load_id": recorded.get("load_id") if recorded.get(
                                      "destination") == digest else None}))
    return pipeline


def _behind(pipeline: dlt.Pipeline, destination: Destination, load_id: str | None) -> bool:
    """Whether the warehouse holds less than this working folder says was loaded: the
    last load the folder completed (`load_id`) is not among the warehouse's
    completed loads; for a folder from before that record, the warehouse's stored state
    is older than the local one (with no load pending that would bring it)."""
    dataset = pipeline.dataset_name
    with destination.warehouse() as wh:
        if wh.columns(dataset, "_dlt_loads") is None:
            return load_id is not None
        if load_id is not None:
            return not wh.scalar(f"select count(*) from {dataset}._dlt_loads "
                                 "where load_id = %s and status = 0", (load_id,))
        if pipeline.has_pending_data or wh.columns(dataset, "_dlt_pipeline_state") is None:
            return False
        stored = wh.scalar(f"select max(version) from {dataset}._dlt_pipeline_state "
                           "where pipeline_name = %s", (pipeline.pipeline_name,))
    return stored is not None and stored < pipeline.state.get("_state_version", 0)


def record_load(pipeline: dlt.Pipeline, load_ids: list[str]) -> None:
    """Notes the last load completed, which the next run checks the warehouse for."""
    if not load_ids:
        return
    marker = Path(pipeline.working_dir) / "flowsync_destination.json"
    recorded = json.loads(marker.read_text()) if marker.exists() else {}
    marker.write_text(json.dumps({**recorded, "load_id": max(load_ids)}))
