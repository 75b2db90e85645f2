"""What each analytics table and column means (the contract's words), written as table and
column comments on every rebuild, so a BI tool shows them beside the data."""

from __future__ import annotations

_FLOW = {
    "provider": "hilos or twilio_studio",
    "flow_id": "Hilos flow id or Twilio flow SID; null for runs without a flow (one group "
               "per provider)",
    "flow_name": "Hilos flow_name or the Twilio flow's friendly_name; null with flow_id",
}

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "flow_runs": ("One row per contact run of a flow, both providers, test runs included "
                  "(flagged).", {
        **_FLOW,
        "run_id": "Hilos flow-execution-contact id; Twilio execution SID",
        "flow_version": "Hilos flow_version; null for Twilio",
        "contact_address": "Hilos contact phone; Twilio contact_channel_address",
        "status": "pending, running, completed, canceled, expired or failed; null for a "
                  "status the provider added (see provider_status)",
        "provider_status": "the provider's own status value",
        "is_test": "Hilos is_test (absent means false); false for Twilio",
        "started_at": "Hilos created_on; Twilio date_created (UTC)",
        "ended_at": "Twilio: for ended executions, the last step's date_created; Hilos: null",
        "duration_seconds": "ended_at - started_at in seconds, where both are known",
    }),
    "completion_rate": ("One row per provider, flow and UTC day of started_at; test runs "
                        "excluded.", {
        **_FLOW,
        "day": "UTC date of started_at",
        "runs_total": "runs started that day",
        "runs_finished": "of those, completed + canceled + expired + failed",
        "runs_completed": "of those, completed",
        "completion_rate": "runs_completed / runs_finished; null when nothing finished",
        "avg_completion_seconds": "mean known duration_seconds of completed runs; null when "
                                  "none is known",
    }),
    "status_funnel": ("One row per provider, flow and stage (entered, started, completed); "
                      "test runs excluded.", {
        **_FLOW,
        "stage_order": "1 entered, 2 started, 3 completed",
        "stage": "entered: every run; started: every run not pending; completed: every "
                 "completed run",
        "runs": "runs at this stage",
        "pct_of_entered": "runs / the flow's entered runs",
        "pct_of_previous": "runs / the previous stage's runs; 1.0 for entered; null when the "
                           "previous stage has no runs",
    }),
    "status_counts": ("One row per provider, flow and status that has runs; test runs "
                      "excluded.", {
        **_FLOW,
        "status": "as in flow_runs; null for statuses the provider added",
        "runs": "runs with this status",
        "share": "runs / the flow's runs",
    }),
    "step_funnel": ("Twilio: one row per flow and widget a step of an ended execution went "
                    "into (Ended excluded).", {
        "flow_id": "Twilio flow SID",
        "widget": "a step's transitioned_to",
        "flow_name": "the flow's friendly_name",
        "executions_reached": "distinct ended executions with a step into the widget",
        "executions_ended_here": "ended executions whose last step left from the widget",
        "pct_of_flow_executions": "executions_reached / the flow's ended executions (those "
                                  "without steps included)",
    }),
    "sync_status": ("One row per source flowsync has run: data as of, for dashboards.", {
        "source": "hilos or twilio_studio",
        "last_attempt_at": "start of the source's last run",
        "last_outcome": "ok or failed",
        "last_error": "one line, no secrets; null when ok",
        "last_success_at": "start of the last run whose load succeeded",
        "newest_started_at": "the latest started_at among the source's runs",
        "runs": "the source's rows in flow_runs",
    }),
}


def statements(schema: str, table: str) -> list[str]:
    """The comment statements for one analytics table (none for a table not listed)."""
    if table not in TABLES:
        return []
    text, columns = TABLES[table]
    out = [f"comment on table {schema}.{table} is {_literal(text)}"]
    out += [f"comment on column {schema}.{table}.{c} is {_literal(m)}" for c, m in columns.items()]
    return out


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
