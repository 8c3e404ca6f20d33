"""Thin HTTP resources of the v2 API: parse the request, call a service, answer."""
