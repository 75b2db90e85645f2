"""What flowsync needs to know about the Twilio Studio source (`sources.spec`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..checkpoint import Checkpoint
from ..http import HttpClient
from ..privacy import Fields, Privacy
from ..spec import RawTable, Setting, Source, as_list, http_url, iso_date, list_of, one_of
from .settings import API_VERSIONS, DEFAULT_BASE_URL, DEFAULT_MAX_WORKERS, FLOW_SID_PATTERN

# where its records carry personal data
EXECUTION = Fields(addresses=("contact_channel_address",), personal=("context",))
STEP = Fields(personal=("context",))


def connect(settings: Mapping[str, Any]) -> HttpClient:
    from .client import make_http

    return make_http(account_sid=settings["account_sid"], auth_token=settings["auth_token"],
                     api_key_sid=settings["api_key_sid"],
                     api_key_secret=settings["api_key_secret"], base_url=settings["base_url"],
                     max_workers=settings["max_workers"])


def build(settings: Mapping[str, Any], http: HttpClient, checkpoint: Checkpoint,
          privacy: Privacy) -> Any:
    from . import twilio_studio_source

    sids = as_list(settings["flow_sids"]) if settings["flow_sids"] else None
    return twilio_studio_source(
        api_version=settings["api_version"], flow_sids=sids,
        initial_date=settings["initial_date"], max_workers=settings["max_workers"],
        http=http, checkpoint=checkpoint, privacy=privacy)


SOURCE = Source(
    name="twilio_studio", display="Twilio Studio",
    settings=(Setting("account_sid"), Setting("auth_token", secret=True),
              Setting("api_key_sid"), Setting("api_key_secret", secret=True),
              Setting("base_url", DEFAULT_BASE_URL, check=http_url),
              Setting("api_version", "v2", check=one_of(*API_VERSIONS)),
              Setting("flow_sids", check=list_of(FLOW_SID_PATTERN, "flow SIDs (FW + 32 hex)")),
              Setting("initial_date", check=iso_date),
              Setting("max_workers", DEFAULT_MAX_WORKERS, whole=True, minimum=1),
              # the step events that end an execution as expired or failed, for the
              # analytics (`{{ timeout_events }}` in the models); default: the models'
              Setting("timeout_events", check=list_of(r".", "event names"), model_variable=True),
              Setting("failure_events", check=list_of(r".", "event names"), model_variable=True)),
    credentials=(("account_sid", "auth_token"), ("api_key_sid", "api_key_secret")),
    tables=(RawTable("flows", "sid", every_load=True), RawTable("executions", "sid", EXECUTION),
            RawTable("execution_steps", "sid", STEP)),
    connect=connect, build=build,
)
