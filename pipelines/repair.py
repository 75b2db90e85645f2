"""Housekeeping of dlt's working folder: repairs of what an interrupted run can leave
there, and the removal of packages once loaded.

This module works on dlt's private folder layout (`normalize/extracted/<load id>`,
`load/{new,normalized,loaded}/<load id>/{new,started,completed}_jobs`,
`.pending_transitions`, job file names), as dlt 1.31 writes it: `check_dlt` refuses
another dlt with a clear message, and tests/pipelines/test_dlt_layout.py fails loudly if
the layout changes, so a dlt upgrade is a decision, not a surprise. Upstream: jobs run
twice after a kill between a commit and its record (dlt-hub/dlt#3023, #2837), narrowed
but not closed by the pending-transition markers of dlt-hub/dlt#3767.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from pathlib import Path

import dlt
from dlt.common.storages.load_package import ParsedLoadJobFileName

from sources.errors import ConfigError

log = logging.getLogger("flowsync")

VERIFIED = "1.31"  # the dlt whose working-folder layout these repairs know


def check_dlt() -> None:
    """ConfigError when the installed dlt is not the one these repairs were verified with."""
    if not dlt.__version__.startswith(VERIFIED + "."):
        raise ConfigError(
            f"flowsync repairs dlt's working folder as dlt {VERIFIED} lays it out, but dlt "
            f"{dlt.__version__} is installed: install dlt {VERIFIED}.x (as flowsync's "
            "requirements pin it), or a flowsync release verified with your dlt")


def drop_extracted_copies_of_normalized(pipeline: dlt.Pipeline) -> None:
    """Removes what a kill between two steps of dlt's normalize leaves behind.

    dlt 1.31 commits a normalized package by an atomic rename into load/normalized and
    only then deletes the extracted package. Killed in between, both exist; normalizing
    again writes load/new/<id> and fails to rename it over the committed one ("Directory
    not empty"). The committed package is complete, so the extracted copy (and any
    half-written load/new/<id>) can go. Pinned by a test that kills a run at that point.
    """
    root = Path(pipeline.working_dir)
    extracted = root / "normalize" / "extracted"
    if not extracted.is_dir():
        return
    done = {p.name for sub in ("normalized", "loaded") if (root / "load" / sub).is_dir()
            for p in (root / "load" / sub).iterdir()}
    for package in extracted.iterdir():
        if package.name in done:
            log.info("%s: package %s was normalized before the interruption; its extracted "
                     "copy is removed", pipeline.pipeline_name, package.name)
            shutil.rmtree(package)
            shutil.rmtree(root / "load" / "new" / package.name, ignore_errors=True)


JOB_FORMATS = ("parquet", "csv", "insert_values", "jsonl")


def redo_interrupted_jobs(pipeline: dlt.Pipeline) -> list[str]:
    """Makes a resumed load write each table's rows exactly once; returns the tables redone.

    dlt 1.31 resumes a killed load by running its started jobs again unless a job had
    recorded that it committed. A kill after a job's rows reached the database and before
    that record writes them a second time: a merge table's rows are staged twice, and the
    merge (told that the sources yield each key once, to spare memory) keeps both copies;
    an appended table (dlt's `_dlt_pipeline_state`) gets its rows twice, which on Postgres
    breaks a unique constraint and fails every later run. So, for every table of a pending
    package with such a job, what the package wrote to it is removed first (the staging
    table is emptied; appended rows are deleted by their `_dlt_load_id`) and all of the
    table's files are queued again. Pinned by tests/pipelines/test_kills.py, which kills
    right after a file committed.
    """
    root = Path(pipeline.working_dir) / "load" / "normalized"
    if not root.is_dir():
        return []
    redone: list[str] = []
    for package in sorted(p for p in root.iterdir() if p.is_dir()):
        tables = _tables_to_redo(package)
        if not tables:
            continue
        _remove_written_rows(pipeline, package.name, tables)
        for job in _jobs(package, ("started_jobs", "completed_jobs")):
            if _table(job) in tables and _format(job) in JOB_FORMATS:
                (package / ".pending_transitions" / job.name).unlink(missing_ok=True)
                job.rename(package / "new_jobs" / job.name)
        log.warning("%s: a load was interrupted while writing %s; written again so each row "
                    "is loaded once", pipeline.pipeline_name, ", ".join(sorted(tables)))
        redone.extend(sorted(tables))
    return redone


def _jobs(package: Path, states: tuple[str, ...]) -> list[Path]:
    return [job for state in states if (package / state).is_dir()
            for job in sorted((package / state).iterdir()) if job.is_file()]


def _table(job: Path) -> str:
    return ParsedLoadJobFileName.parse(job.name).table_name


def _format(job: Path) -> str:
    return ParsedLoadJobFileName.parse(job.name).file_format


def _tables_to_redo(package: Path) -> dict[str, bool]:
    """{table: whether it loads through staging} for the tables with a started file job
    that never recorded its outcome."""
    schema_file = package / "schema.json"
    if not schema_file.is_file():
        return {}
    tables = json.loads(schema_file.read_text()).get("tables", {})
    recorded = {p.name for p in (package / ".pending_transitions").glob("*")}
    out = {}
    for job in _jobs(package, ("started_jobs",)):
        table = tables.get(_table(job), {})
        staged = table.get("write_disposition") == "merge"
        # rows appended without a load id cannot be told apart: dlt's own resume then
        if _format(job) in JOB_FORMATS and job.name not in recorded and (
                staged or "_dlt_load_id" in table.get("columns", {})):
            out[_table(job)] = staged
    return out


def _remove_written_rows(pipeline: dlt.Pipeline, load_id: str, tables: dict[str, bool]) -> None:
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    with pipeline.destination_client() as client:
        for table, staged in tables.items():
            scope = client.with_staging_dataset() if staged else contextlib.nullcontext()  # type: ignore[attr-defined]
            with scope:
                sql = client.sql_client  # type: ignore[attr-defined]
                name = sql.make_qualified_table_name(table)
                # a table never created holds nothing to write twice
                with contextlib.suppress(DatabaseUndefinedRelation):
                    sql.execute_sql(f"DELETE FROM {name}" if staged else
                                    f"DELETE FROM {name} WHERE _dlt_load_id = '{load_id}'")


def delete_loaded_packages(pipeline: dlt.Pipeline) -> int:
    """Deletes the packages dlt has finished loading (dlt keeps them, raw rows and all, in
    load/loaded forever); returns how many. A package with a failed job is not loaded: it
    stays (dlt moves it to load/loaded with its failed jobs) for someone to look at."""
    loaded = Path(pipeline.working_dir) / "load" / "loaded"
    packages = [p for p in loaded.iterdir() if p.is_dir() and not any(
        (p / "failed_jobs").glob("*"))] if loaded.is_dir() else []
    for package in packages:
        shutil.rmtree(package)
    return len(packages)
