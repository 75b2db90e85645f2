"""dlt sources for the flow platforms flowsync syncs."""
