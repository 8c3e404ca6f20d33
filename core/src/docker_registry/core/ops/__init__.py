"""Operating the registry: metrics, health and readiness, read-only mode, graceful stop.

See docs/operations.md. The core's own plugin (:mod:`..defaults`) mounts the routes and
middleware from here.
"""
