"""Twilio Studio API constants."""

DEFAULT_BASE_URL = "https://studio.twilio.com"
API_VERSIONS = ("v1", "v2")
PAGE_SIZE = 1000  # the api's maximum
DEFAULT_MAX_WORKERS = 64  # the ceiling of requests in flight; the API's answers set the rest
RETENTION_DAYS = 30  # executions and steps older than this are gone from the api

EXECUTION_STATUSES = frozenset({"active", "ended"})
FLOW_SID_PATTERN = r"^FW[0-9a-fA-F]{32}$"

# the step events that end an execution as timed out or failed are the transforms' to
# interpret: transforms.runner.DEFAULT_TIMEOUT_EVENTS / DEFAULT_FAILURE_EVENTS


def _columns(**types: str) -> dict[str, dict]:
    # one dict per column: dlt writes into them
    return {name: {"data_type": t, "nullable": True} for name, t in types.items()}


FLOW_COLUMNS = _columns(date_created="timestamp", date_updated="timestamp",
                        friendly_name="text", commit_message="text", author_sid="text",
                        definition="json", errors="json", warnings="json", valid="bool")
# `context` (flow variables, trigger message, widget outputs: keys differ per flow and run)
# is one column of JSON text, never a column per variable (text, not dlt's json type: the
# sources yield Arrow, where JSON is a string; the databases' JSON functions read it)
AS_JSON = ("context",)
EXECUTION_COLUMNS = _columns(date_created="timestamp", date_updated="timestamp",
                             contact_channel_address="text", initiated_by="text",
                             flow_version="bigint", context="text")
STEP_COLUMNS = _columns(date_created="timestamp", date_updated="timestamp", context="text",
                        parent_step_sid="text", name="text", transitioned_from="text",
                        transitioned_to="text", type="text", execution_sid="text",
                        flow_sid="text")
