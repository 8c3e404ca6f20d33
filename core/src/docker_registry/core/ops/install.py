"""Mount the operations routes and middleware on an application (from :mod:`..defaults`)."""

from __future__ import annotations

import falcon

from ..registry import Registry
from .gc_history import GcHistoryCollector
from .health import HealthResource, ReadyResource
from .metrics import METRICS_PATH, MetricsMiddleware, MetricsResource, get_metrics, metrics_enabled
from .notifications.service import start_notifications
from .readonly import ReadOnlyMiddleware


def install(app: falcon.App, registry: Registry) -> None:
    """``/healthz`` and ``/readyz`` always; ``/metrics`` and request/storage metrics when
    ``metrics.enabled``; the read-only switch (``readonly``, re-read on SIGHUP), also
    kept as ``registry.services["readonly"]`` for plugins whose open routes write (the
    web UI's delete buttons) and must honour it themselves."""
    app.add_route("/healthz", HealthResource())
    app.add_route("/readyz", ReadyResource(registry))
    metrics = None
    if metrics_enabled(registry.settings):
        metrics = get_metrics()
        registry.storage.observer = metrics
        metrics.watch("gc", GcHistoryCollector(registry.storage))
        app.add_route(METRICS_PATH, MetricsResource(metrics))
        app.add_middleware(MetricsMiddleware(metrics, standalone=registry.settings.standalone))
    switch = ReadOnlyMiddleware(bool(registry.settings.get("readonly")))
    registry.services["readonly"] = switch
    app.add_middleware(switch)
    start_notifications(registry, observer=metrics)
