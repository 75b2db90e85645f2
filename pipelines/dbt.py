"""The team's dbt project, built right after flowsync's analytics (`transform.dbt_project`),
inside the command's hold on the warehouse and against the same warehouse: on DuckDB
through the command's own open file (dbt-duckdb connects in this process with the same
settings, so it shares the held database), on Postgres with the command's credentials.

The profile is flowsync's (`<state dir>/dbt/profiles.yml`, the target `flowsync`, models
in schema `analytics_dbt`, secrets passed as environment variables, never written), unless
the project brings its own `profiles.yml`. dbt runs in this process (`dbtRunner`), its own
output off; what failed is read from its results.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sources.errors import ConfigError, first_line

from .config import environment
from .warehouse import Destination

SCHEMA = "analytics_dbt"  # where the team's models go under flowsync's profile
TARGET = "flowsync"


@dataclass
class DbtBuilt:
    """What `dbt build` did: nodes by status, and the failures (node and message)."""

    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _profiles(destination: Destination, project: Path) -> tuple[Path, dict[str, str]]:
    """The folder of the profiles.yml to use, and the environment it reads secrets from."""
    if (project / "profiles.yml").is_file():
        return project, {}
    name = yaml.safe_load((project / "dbt_project.yml").read_text()).get("profile") or TARGET
    output, env = destination.dbt_output(SCHEMA)
    folder = destination.state_dir / "dbt"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profiles.yml").write_text(yaml.safe_dump(
        {name: {"target": TARGET, "outputs": {TARGET: output}}}, sort_keys=False))
    return folder, env


def build(destination: Destination, project_dir: str) -> DbtBuilt:
    """`dbt build` on the project; a ConfigError when dbt cannot start on it."""
    from dbt.cli.main import dbtRunner

    project = Path(project_dir).expanduser().resolve()
    profiles, env = _profiles(destination, project)
    logs = destination.state_dir / "dbt" / "logs"
    t0 = time.perf_counter()
    with environment(**env):
        done = dbtRunner().invoke([
            "build", "--project-dir", str(project), "--profiles-dir", str(profiles),
            "--log-level", "none", "--log-level-file", "info", "--log-path", str(logs),
            "--no-use-colors"])
    built = DbtBuilt(time.perf_counter() - t0)
    for result in getattr(done.result, "results", None) or []:
        status = str(getattr(result.status, "value", result.status))
        built.statuses[status] = built.statuses.get(status, 0) + 1
        if status in ("error", "fail", "runtime error"):
            built.failures.append(f"{result.node.unique_id} {status}: "
                                  f"{first_line(result.message or '')[:300]}")
    if not done.success and not built.failures:
        if done.exception is not None:
            raise ConfigError(f"dbt could not build {project}: "
                              f"{first_line(done.exception)[:300]} (log: {logs})")
        built.failures.append(f"dbt build failed (log: {logs})")
    return built
