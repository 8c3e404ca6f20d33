"""v1 API (in progress)."""
