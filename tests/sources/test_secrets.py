"""No credential of either source reaches a log line, dlt's working folders or the warehouse."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from simulator import Simulator
from tests.expected import HILOS_TOKEN, TWILIO_SECRET
from tests.running import HilosRunner, TwilioRunner, files_containing
from tests.worlds import small_config


@pytest.mark.parametrize("runner_class,secret", [(HilosRunner, HILOS_TOKEN),
                                                 (TwilioRunner, TWILIO_SECRET)],
                         ids=["hilos", "twilio_studio"])
def test_secrets_never_reach_logs_dlt_folders_or_the_warehouse(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, runner_class: type,
        secret: str) -> None:
    config = small_config(hilos_api_token=HILOS_TOKEN, twilio_auth_token=TWILIO_SECRET,
                          twilio_executions=300, hilos_contact_runs=300)
    with Simulator(config) as sim:
        runner = runner_class(sim, tmp_path)
        with caplog.at_level(logging.DEBUG):
            runner.run()
        assert sum(n for n in sim.stats()["requests"].values()) > 0
    assert secret not in caplog.text
    assert files_containing(tmp_path, secret) == []
