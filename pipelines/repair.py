"""Repairs of what an interrupted run can leave in dlt's working folder."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import dlt

log = logging.getLogger("flowsync")


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
