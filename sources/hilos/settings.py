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
