"""The parts of dlt 1.31's private working-folder layout that `pipelines/repair.py` relies
on (issue 23: the repairs worked on it silently). If a dlt upgrade moves any of them, this
fails, naming what moved, before a kill in production finds out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dlt
import pytest
from dlt.common.storages.load_package import PackageStorage, ParsedLoadJobFileName

from pipelines import repair
from sources.errors import ConfigError


def test_dlt_lays_out_its_working_folder_as_the_repairs_expect(tmp_path: Path) -> None:
    pipeline = dlt.pipeline(pipeline_name="layout", pipelines_dir=str(tmp_path),
                            destination=dlt.destinations.duckdb(str(tmp_path / "l.duckdb")),
                            dataset_name="layout")
    rows = dlt.resource([{"id": 1}, {"id": 2}], name="things", primary_key="id",
                        write_disposition="merge")
    root = Path(pipeline.working_dir)
    load_id = pipeline.extract(rows).loads_ids[0]
    assert (root / "normalize" / "extracted" / load_id).is_dir(), "extracted packages moved"
    pipeline.normalize()
    package = root / "load" / "normalized" / load_id
    assert (package / "schema.json").is_file(), "normalized packages moved"
    jobs = list((package / PackageStorage.NEW_JOBS_FOLDER).iterdir())
    assert {ParsedLoadJobFileName.parse(j.name).table_name for j in jobs} >= {"things"}
    assert {ParsedLoadJobFileName.parse(j.name).file_format for j in jobs} <= set(repair.JOB_FORMATS)
    assert (PackageStorage.NEW_JOBS_FOLDER, PackageStorage.STARTED_JOBS_FOLDER,
            PackageStorage.COMPLETED_JOBS_FOLDER, PackageStorage.PENDING_TRANSITIONS_FOLDER) == (
        "new_jobs", "started_jobs", "completed_jobs", ".pending_transitions")
    pipeline.load()
    assert (root / "load" / "loaded" / load_id / "completed_jobs").is_dir(), "loaded moved"
    assert repair.delete_loaded_packages(pipeline) == 1


def test_another_dlt_is_refused_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    repair.check_dlt()
    monkeypatch.setattr(dlt, "__version__", "1.40.2")
    with pytest.raises(ConfigError, match=r"as dlt 1\.31 lays it out, but dlt 1\.40\.2 is "
                                          r"installed: install dlt 1\.31\.x"):
        repair.check_dlt()


@pytest.mark.parametrize("light", [True, False])
def test_dlt_s_url_type_is_chosen_in_the_module_light_urls_replaces(tmp_path: Path,
                                                                     light: bool) -> None:
    # `pipelines.working.light_urls`: Dagster installs SQLAlchemy, which dlt 1.31 imports in
    # every load (`dlt.common.libs.sql_alchemy_compat`) only to print the destination
    code = f"""
import sys
from pipelines.working import light_urls
if {light}:
    light_urls()
import dlt
pipeline = dlt.pipeline("p", destination=dlt.destinations.duckdb({str(tmp_path / 'w.duckdb')!r}),
                        pipelines_dir={str(tmp_path / 'dlt')!r}, dataset_name="d")
pipeline.run([{{"id": 1}}], table_name="t").raise_on_failed_jobs()
print("sqlalchemy" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip().splitlines()[-1] == str(not light)

