"""Earlier releases of flowsync, from this repository's own history, run as their users ran
them: to build the warehouses and working folders that today's release must take over.

Each release is unpacked once per test session (`git archive`) and run with this
environment's packages, its own tree first on the path.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# every release whose warehouse layout today's must take over; each release adds its own
RELEASES = {
    "7f7a917": "the first release (stg_* models in analytics, raw rows without _dlt_load_id)",
    "58d9768": "the release before layout versioning (analytics_internal, _dlt_load_id)",
    "927d0ea": "the last single-account release (layout 3, no account column)",
}
# the releases whose stored pages were not yet checked for repeats (layout step 3)
UNCHECKED_PAGES = ("7f7a917", "58d9768")


def unpack(commit: str, into: Path) -> Path:
    """The release's tree under `into` (unpacked once). Skips where the repository's
    history is not at hand (a shallow clone, an exported tree), except in CI: fails."""
    tree = into / commit
    if tree.is_dir():
        return tree
    found = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit],
                           capture_output=True)
    if found.returncode != 0:
        problem = (f"release {commit} is not in this checkout's history "
                   f"({found.stderr.decode().strip()[:200]})")
        if os.environ.get("CI"):
            pytest.fail(f"upgrade tests are required in CI: {problem}")
        pytest.skip(problem)
    with tarfile.open(fileobj=io.BytesIO(found.stdout)) as archive:
        archive.extractall(tree, filter="data")
    return tree


def run_release(tree: Path, args: list[str], env: dict[str, str],
                cwd: Path) -> subprocess.CompletedProcess:
    """`flowsync ARGS` as that release's console script ran it."""
    env = {**env, "PYTHONPATH": str(tree)}
    code = "import sys; from pipelines.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)
