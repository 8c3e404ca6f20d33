"""OCI Distribution v2 API."""
