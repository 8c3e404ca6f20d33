"""Falcon resources of the v1 API: thin HTTP adapters over the v1 services."""
