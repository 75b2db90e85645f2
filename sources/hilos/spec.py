"""What flowsync needs to know about the Hilos source (`sources.spec`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..checkpoint import Checkpoint
from ..http import HttpClient
from ..privacy import Fields, Privacy
from ..spec import RawTable, Setting, Source, http_url, iso_date
from .settings import DEFAULT_BASE_URL, DEFAULT_LOOKBACK_DAYS, DEFAULT_PAGE_SIZE

# where its records carry personal data
CONTACT_RUN = Fields(addresses=("contact.phone", "contact.canonical_phone"),
                     personal=("contact.first_name", "contact.last_name", "contact.email",
                               "contact.meta"))
# a flow execution's contact filters may name a contact (`phone equals +52...`)
EXECUTION = Fields(personal=("contact_filters",))


def connect(settings: Mapping[str, Any]) -> HttpClient:
    from .client import make_http

    return make_http(settings["api_token"], settings["base_url"])


def build(settings: Mapping[str, Any], http: HttpClient, checkpoint: Checkpoint,
          privacy: Privacy) -> Any:
    from . import hilos_source

    return hilos_source(
        api_token=settings["api_token"], base_url=settings["base_url"],
        page_size=settings["page_size"], lookback_days=settings["lookback_days"],
        initial_date=settings["initial_date"], http=http, checkpoint=checkpoint,
        privacy=privacy)


SOURCE = Source(
    name="hilos", display="Hilos (WhatsApp)",
    settings=(Setting("api_token", secret=True),
              Setting("base_url", DEFAULT_BASE_URL, check=http_url),
              Setting("page_size", DEFAULT_PAGE_SIZE, whole=True, minimum=1),
              Setting("lookback_days", DEFAULT_LOOKBACK_DAYS, whole=True),
              Setting("initial_date", check=iso_date)),
    credentials=(("api_token",),),
    tables=(RawTable("flow_executions", "id", EXECUTION),
            RawTable("flow_execution_contacts", "id", CONTACT_RUN)),
    connect=connect, build=build,
)
