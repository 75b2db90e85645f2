"""SQL transforms that build the analytics tables."""
