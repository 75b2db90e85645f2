"""The application layer's decisions from typed outcomes: which sources, which exit code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipelines.app import Exit, exit_code, select_sources
from pipelines.runner import SourceRun
from sources.errors import ApiError, AuthError, BusyError, ConfigError, Outcome, ShapeError


def runs(*outcomes: Outcome) -> list[SourceRun]:
    return [SourceRun(f"s{i}", outcome) for i, outcome in enumerate(outcomes)]


@pytest.mark.parametrize("outcomes,code", [
    ((Outcome.OK, Outcome.OK), Exit.OK),
    ((Outcome.OK, Outcome.FAILED), Exit.FAILED),
    ((Outcome.CONFIG, Outcome.OK), Exit.CONFIG),
    ((Outcome.CONFIG, Outcome.FAILED), Exit.FAILED),
    ((Outcome.BUSY,), Exit.BUSY),
    ((Outcome.BUSY, Outcome.CONFIG), Exit.FAILED),
    ((), Exit.OK),
])
def test_exit_code_follows_the_outcomes(outcomes: tuple[Outcome, ...], code: Exit) -> None:
    assert exit_code(runs(*outcomes)) is code


def test_each_error_carries_the_outcome_it_means() -> None:
    assert ConfigError("x").outcome is Outcome.CONFIG
    assert AuthError("x", endpoint="/e").outcome is Outcome.CONFIG
    assert BusyError("x").outcome is Outcome.BUSY
    # the API's faults, a wrong shape among them, are for the next run to catch up on
    assert ApiError("x", endpoint="/e").outcome is Outcome.FAILED
    assert ShapeError("x", endpoint="/e").outcome is Outcome.FAILED


def test_sources_are_selected_from_what_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SOURCES__HILOS__API_TOKEN", "SOURCES__TWILIO_STUDIO__ACCOUNT_SID",
                "SOURCES__TWILIO_STUDIO__AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir("/")  # no .dlt/ here
    nothing = select_sources("all")
    assert nothing.sources == [] and nothing.problem.startswith("no source is configured")
    monkeypatch.setenv("SOURCES__TWILIO_STUDIO__ACCOUNT_SID", "AC1")
    monkeypatch.setenv("SOURCES__TWILIO_STUDIO__AUTH_TOKEN", "t")
    assert select_sources("all").sources == ["twilio_studio"]
    hilos = select_sources("hilos")
    assert hilos.sources == [] and hilos.problem == (
        "hilos is not configured: set sources.hilos.api_token")
    monkeypatch.setenv("SOURCES__HILOS__API_TOKEN", "tok")
    assert select_sources("all").sources == ["hilos", "twilio_studio"]


@pytest.mark.parametrize(("asked", "started"), [
    (None, False), ("env", True), ("config.toml", True), ("config.toml off", False)])
def test_telemetry_is_off_unless_the_user_turns_it_on(tmp_path, asked: str | None,
                                                       started: bool) -> None:
    """In a fresh process, as flowsync starts: dlt's telemetry only when asked for."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTIME__")}
    env["HOME"] = str(tmp_path)  # no global ~/.dlt/config.toml either
    if asked == "env":
        env["RUNTIME__DLTHUB_TELEMETRY"] = "true"
    elif asked:
        (tmp_path / ".dlt").mkdir()
        (tmp_path / ".dlt" / "config.toml").write_text(
            f"[runtime]\ndlthub_telemetry = {'false' if 'off' in asked else 'true'}\n")
    code = ("from pipelines.config import telemetry_off_unless_asked as off; off(); "
            "import dlt; dlt.pipeline('p', pipelines_dir='p'); "
            # dlt's tracker has an endpoint only when it will send
            "from dlt.common.runtime import anon_tracker as t; "
            "print(t._ANON_TRACKER_ENDPOINT is not None)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, text=True,
                         capture_output=True, timeout=60)
    assert out.stdout.strip() == str(started), out.stderr
