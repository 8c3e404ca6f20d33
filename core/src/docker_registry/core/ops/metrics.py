"""Prometheus metrics (``/metrics``, off by default; docs/operations.md).

Requests are labelled by API and route *template* (the route table's label, such as
``v2 manifests`` or ``R11``), never by path: repository names never reach a label.

Under ``serve --workers`` the supervisor sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh
directory before it forks (:func:`prepare_multiprocess`); each worker writes its values
there and any worker answers ``/metrics`` with the sum over all of them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..config import ConfigError, Settings

if TYPE_CHECKING:
    # NOTE: not imported at run time: the supervisor of --workers imports this module.
    import falcon

#: The environment variable prometheus_client reads for multiprocess mode.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
#: Methods kept as they are in labels; anything else is ``other`` (bounded label values).
_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"})
#: Routes whose requests carry upload bodies (``registry_uploads_in_flight``).
_UPLOAD_ROUTES = frozenset({"v2 uploads", "R4 R6 R7"})
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_STORAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30)


def metrics_enabled(settings: Settings) -> bool:
    """``metrics.enabled`` (default false; env ``REGISTRY_METRICS__ENABLED``).

    :raises ConfigError: ``metrics`` has a key other than ``enabled``, or a non-boolean.
    """
    section: Mapping[str, Any] = settings.get("metrics") or {}
    unknown = sorted(str(key) for key in section if key != "enabled")
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} (only 'enabled')", key="metrics")
    value = section.get("enabled", False)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", ""):
        value = value.strip().lower() in ("true", "1")
    if not isinstance(value, bool):
        raise ConfigError(f"expected true or false, got {value!r}", key="metrics.enabled")
    return value


def prepare_multiprocess() -> str:
    """Give the workers about to be forked a fresh, empty multiprocess directory.

    Called by the supervisor before it forks (prometheus_client reads the variable when
    it is imported, which happens in each worker after the fork). :returns: the path.
    """
    path = tempfile.mkdtemp(prefix="registry-metrics-")
    os.environ[MULTIPROC_ENV] = path
    return path


def forget_worker(pid: int) -> None:
    """Remove a dead worker's live gauges (its counters stay: totals never go back)."""
    if not os.environ.get(MULTIPROC_ENV):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def remove_multiprocess(path: str) -> None:
    """Delete the multiprocess directory once every worker has stopped."""
    shutil.rmtree(path, ignore_errors=True)


class Metrics:
    """Every metric of this process (one instance per process: :func:`get_metrics`)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        #: collectors read at each scrape (not per process), by name: see :meth:`watch`.
        self.watched: dict[str, Any] = {}
        # NOTE: in multiprocess mode values live in files; the registry only collects.
        self.registry = CollectorRegistry(auto_describe=True)
        own = None if self.multiprocess_dir else self.registry
        if own is not None:
            from prometheus_client import ProcessCollector

            ProcessCollector(registry=own)
        self.requests = Counter(
            "registry_http_requests",
            "HTTP requests answered, by API, route template, method and status.",
            ("api", "route", "method", "status"),
            registry=own,
        )
        self.duration = Histogram(
            "registry_http_request_duration_seconds",
            "Time from the request reaching the application to its response being ready.",
            ("api", "route", "method"),
            buckets=_DURATION_BUCKETS,
            registry=own,
        )
        self.received = Counter(
            "registry_http_received_bytes",
            "Request body bytes received, by API and route template.",
            ("api", "route"),
            registry=own,
        )
        self.sent = Counter(
            "registry_http_sent_bytes",
            "Response body bytes sent (as declared by Content-Length), by API and route.",
            ("api", "route"),
            registry=own,
        )
        self.uploads = Gauge(
            "registry_uploads_in_flight",
            "Upload requests (v2 uploads, v1 layer/json/checksum PUTs) being handled now.",
            ("api",),
            multiprocess_mode="livesum",
            registry=own,
        )
        self.storage_duration = Histogram(
            "registry_storage_operation_duration_seconds",
            "Storage driver operations (a stream's open, write or commit), by driver.",
            ("driver", "operation"),
            buckets=_STORAGE_BUCKETS,
            registry=own,
        )
        self.storage_errors = Counter(
            "registry_storage_errors",
            "Storage operations that failed, by driver, operation and error class.",
            ("driver", "operation", "error"),
            registry=own,
        )
        self.cache = Counter(
            "registry_cache_requests",
            "Small-file cache lookups (only when a cache is configured), hit or miss.",
            ("result",),
            registry=own,
        )

        self.notifications = Counter(
            "registry_notifications_events",
            "Notification events by endpoint and outcome: delivered, failed (one attempt; "
            "they stay queued), dropped (retries exhausted), overflowed (queue full).",
            ("endpoint", "outcome"),
            registry=own,
        )
        self.notifications_queued = Gauge(
            "registry_notifications_queued_events",
            "Events waiting in the on-disk queues, by endpoint.",
            ("endpoint",),
            multiprocess_mode="livesum",
            registry=own,
        )

    # -- the storage observer (storage/wrapper.py) --------------------------------------

    def storage_operation(
        self, driver: str, operation: str, seconds: float, error: BaseException | None
    ) -> None:
        self.storage_duration.labels(driver, operation).observe(seconds)
        if error is not None:
            self.storage_errors.labels(driver, operation, type(error).__name__).inc()

    def cache_lookup(self, hit: bool) -> None:
        self.cache.labels("hit" if hit else "miss").inc()

    # -- the notification observer (ops/notifications/sender.py) ------------------------

    def notification_events(self, endpoint: str, outcome: str, count: int) -> None:
        self.notifications.labels(endpoint, outcome).inc(count)

    def notification_queue(self, endpoint: str, length: int) -> None:
        self.notifications_queued.labels(endpoint).set(length)

    def watch(self, name: str, collector: Any) -> None:
        """Use ``collector`` (it reads its values when scraped: the GC history in
        storage) under ``name``, in place of the one an earlier application set."""
        previous = self.watched.get(name)
        self.watched[name] = collector
        if not self.multiprocess_dir:
            if previous is not None:
                self.registry.unregister(previous)
            self.registry.register(collector)

    # -- exposition -----------------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The text format of every metric (of every worker in multiprocess mode)."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self.multiprocess_dir:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
            for collector in self.watched.values():
                registry.register(collector)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


_metrics: Metrics | None = None
_metrics_lock = threading.Lock()


def get_metrics() -> Metrics:
    """This process's metrics, created on first use (after a worker's fork)."""
    global _metrics
    with _metrics_lock:
        if _metrics is None:
            _metrics = Metrics()
        return _metrics


class MetricsResource:
    """``GET /metrics``: the Prometheus text format."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data, resp.content_type = self.metrics.exposition()


class MetricsMiddleware:
    """Counts and times every request by the route table's labels (no names, no paths).

    :param metrics: this process's metrics.
    :param standalone: whether the v1 index routes are mounted (the route table needs it
        for requests refused before a decision was kept).
    """

    def __init__(self, metrics: Metrics, *, standalone: bool) -> None:
        self.metrics = metrics
        self.standalone = standalone

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_started = time.perf_counter()
        api, route = self._labels(req)
        if route in _UPLOAD_ROUTES and req.method in ("POST", "PATCH", "PUT"):
            self.metrics.uploads.labels(api).inc()
            req.context.metrics_upload = api

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        started = getattr(req.context, "metrics_started", None)
        upload_api = getattr(req.context, "metrics_upload", None)
        if upload_api is not None:
            self.metrics.uploads.labels(upload_api).dec()
        api, route = self._labels(req)
        method = req.method if req.method in _METHODS else "other"
        self.metrics.requests.labels(api, route, method, str(resp.status_code)).inc()
        if started is not None:
            self.metrics.duration.labels(api, route, method).observe(time.perf_counter() - started)
        if req.content_length:
            self.metrics.received.labels(api, route).inc(req.content_length)
        sent = _sent_bytes(resp)
        if sent and req.method != "HEAD":
            self.metrics.sent.labels(api, route).inc(sent)

    def _labels(self, req: falcon.Request) -> tuple[str, str]:
        decision = getattr(req.context, "access", None)
        if decision is not None:
            target = decision.target
        else:
            from ..access.routes import classify

            target = classify(req.method, req.path, standalone=self.standalone)
        return target.api, target.route


def _sent_bytes(resp: falcon.Response) -> int:
    """The response body's size: its Content-Length (a header string), else its data."""
    declared = resp.content_length
    if declared is not None:
        text = str(declared)
        return int(text) if text.isdigit() else 0
    return len(resp.data) if resp.data is not None else 0
