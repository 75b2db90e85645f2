"""The application layer's decisions from typed outcomes: which sources, which exit code."""

from __future__ import annotations

import os

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


def test_telemetry_is_off_unless_the_user_turns_it_on(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path) -> None:
    from pipelines.config import telemetry_off_unless_asked

    monkeypatch.chdir(tmp_path)  # run from an empty folder: no .dlt/config.toml here
    monkeypatch.delenv("RUNTIME__DLTHUB_TELEMETRY", raising=False)
    telemetry_off_unless_asked()
    assert os.environ["RUNTIME__DLTHUB_TELEMETRY"] == "false"
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "true")
    telemetry_off_unless_asked()
    assert os.environ["RUNTIME__DLTHUB_TELEMETRY"] == "true"
