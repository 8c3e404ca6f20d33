"""v2 API (in progress)."""
