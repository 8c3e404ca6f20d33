"""Docker Registry v1 API (registry, standalone index, search)."""
