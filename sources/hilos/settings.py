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
# even before a non-null value arrives
_TEXT = {"data_type": "text", "nullable": True}
_TIMESTAMP = {"data_type": "timestamp", "nullable": True}
_BIGINT = {"data_type": "bigint", "nullable": True}
CONTACT_COLUMNS = {
    "created_on": {"data_type": "timestamp", "nullable": False},
    "status_reason": _TEXT, "flow": _TEXT, "flow_version": _TEXT,
    "contact__first_name": _TEXT, "contact__last_name": _TEXT, "contact__email": _TEXT,
    "contact__canonical_phone": _TEXT, "contact__external_url": _TEXT,
}
EXECUTION_COLUMNS = {
    "created_on": {"data_type": "timestamp", "nullable": False},
    "start_on": _TIMESTAMP, "status_reason": _TEXT, "status_triggered_by": _BIGINT,
    "status_last_change_on": _TIMESTAMP, "created_by__profile_image": _TEXT,
    "created_by__role": _BIGINT,
}
