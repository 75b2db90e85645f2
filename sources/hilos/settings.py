"""Hilos API constants."""

DEFAULT_BASE_URL = "https://api.hilos.io"
EXECUTIONS_PATH = "/channel/whatsapp/flow-execution"
CONTACTS_PATH = "/channel/whatsapp/flow-execution-contact"

DEFAULT_PAGE_SIZE = 1000
DEFAULT_LOOKBACK_DAYS = 30

# flow-execution-contact statuses; READY and RUNNING may still change
CONTACT_STATUSES = frozenset({"READY", "RUNNING", "COMPLETED", "CANCELED", "EXPIRED", "FAILED"})
CONTACT_OPEN = frozenset({"READY", "RUNNING"})

# flow-execution (batch) statuses; all but COMPLETED and CANCELED may still change
EXECUTION_STATUSES = frozenset({"PROCESSING", "READY", "AWAITING_CONFIRMATION", "CONFIRMED",
                                "STARTING", "RUNNING", "COMPLETED", "CANCELED"})
EXECUTION_FINAL = frozenset({"COMPLETED", "CANCELED"})

# fields only the detail endpoint has: a refreshed row keeps the list's shape
DETAIL_ONLY_FIELDS = ("contact_filters", "contact_import", "flow", "last_run_on")

# types of the fields the spec allows to be null, so the columns exist with the right type
# even before a non-null value arrives. one dict per column: dlt writes into them


def _columns(**types: str) -> dict[str, dict]:
    return {name: {"data_type": t, "nullable": name != "created_on"} for name, t in types.items()}


# a contact's `meta` holds the account's own fields, keys differing per account and
# contact: one column of JSON text
CONTACT_AS_JSON = ("contact.meta",)
CONTACT_COLUMNS = _columns(
    created_on="timestamp", status_reason="text", flow="text", flow_version="text",
    flow_name="text", is_test="bool", contact__meta="text", contact__phone="text",
    contact__first_name="text", contact__last_name="text", contact__email="text",
    contact__canonical_phone="text", contact__external_url="text",
)
EXECUTION_COLUMNS = _columns(
    created_on="timestamp", start_on="timestamp", status_reason="text",
    status_triggered_by="bigint", status_last_change_on="timestamp",
    created_by__profile_image="text", created_by__role="bigint",
)
