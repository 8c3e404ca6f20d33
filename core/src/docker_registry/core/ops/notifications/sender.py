"""Delivery to one endpoint: a thread POSTing the oldest queued events, with backoff.

The thread takes up to ``batch`` events from the endpoint's :class:`~.queue.DiskQueue`,
POSTs them in one envelope and removes them once the endpoint answers 2xx (a redirect
is not followed: it counts as a failure). On failure it waits ``backoff`` seconds,
doubled after each failure up to ``max_backoff``, and tries the same events again;
after ``retries`` failed attempts (when set) they are dropped and the drop is logged.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from typing import Any, Protocol

from .config import EndpointSettings
from .envelope import ENVELOPE_MEDIA_TYPE, envelope
from .queue import DiskQueue

log = logging.getLogger(__name__)

#: How long an idle sender sleeps before looking at its queue again (new events wake it).
IDLE_WAIT = 5.0


class DeliveryObserver(Protocol):
    """What watches deliveries (the metrics, when ``metrics.enabled``)."""

    def notification_events(self, endpoint: str, outcome: str, count: int) -> None:
        """``count`` events of ``endpoint`` ended as ``outcome``: ``delivered``, ``failed``
        (one attempt; the events stay queued), ``dropped`` (retries exhausted) or
        ``overflowed`` (the queue was full)."""

    def notification_queue(self, endpoint: str, length: int) -> None:
        """``endpoint``'s queue in this process now holds ``length`` events."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


class Sender:
    """Delivers ``queue`` to ``endpoint`` in a daemon thread (:meth:`start`, :meth:`stop`)."""

    def __init__(
        self, endpoint: EndpointSettings, queue: DiskQueue, observer: DeliveryObserver | None = None
    ) -> None:
        self.endpoint = endpoint
        self.queue = queue
        self.observer = observer
        self.delivered = 0
        self.failures = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"notifications-{endpoint.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """New events are queued."""
        self._wake.set()

    def observe(self, outcome: str, count: int) -> None:
        """Tell the observer what became of ``count`` events, and the queue's length."""
        if self.observer is not None:
            self.observer.notification_events(self.endpoint.name, outcome, count)
            self.observer.notification_queue(self.endpoint.name, len(self.queue))

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread (queued events stay on disk for the next start)."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        delay = 0.0
        attempts = 0
        while not self._stopping.is_set():
            self._wake.clear()
            batch = self.queue.peek(self.endpoint.batch)
            if not batch:
                self._wake.wait(IDLE_WAIT)
                continue
            names = [name for name, _ in batch]
            problem = self._post([event for _, event in batch])
            if problem is None:
                self.queue.remove(names)
                self.delivered += len(names)
                self.observe("delivered", len(names))
                delay, attempts = 0.0, 0
                continue
            self.failures += 1
            self.observe("failed", len(names))
            attempts += 1
            retries = self.endpoint.retries
            if retries is not None and attempts > retries:
                log.error(
                    "notifications to %s (%s): dropped %d event(s) after %d failed attempt(s): %s",
                    self.endpoint.name,
                    self.endpoint.url,
                    len(names),
                    attempts,
                    problem,
                )
                self.queue.remove(names)
                self.observe("dropped", len(names))
                delay, attempts = 0.0, 0
                continue
            delay = self.endpoint.backoff if delay == 0 else delay * 2
            delay = min(delay, self.endpoint.max_backoff)
            log.warning(
                "notifications to %s (%s) failed: %s; %d event(s) queued, retrying in %.1f s",
                self.endpoint.name,
                self.endpoint.url,
                problem,
                len(self.queue),
                delay,
            )
            self._stopping.wait(delay)

    def _post(self, events: list[dict[str, Any]]) -> str | None:
        """POST one envelope; ``None`` when delivered, else what went wrong."""
        body = json.dumps(envelope(events)).encode()
        request = urllib.request.Request(self.endpoint.url, data=body, method="POST")
        request.add_header("Content-Type", ENVELOPE_MEDIA_TYPE)
        for name, value in _joined(self.endpoint.headers).items():
            request.add_header(name, value)
        try:
            with _opener.open(request, timeout=self.endpoint.timeout) as response:
                response.read(64 * 1024)
                status = response.status
        except urllib.error.HTTPError as exc:
            exc.close()
            return f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= status < 300:
            return None
        return f"HTTP {status}"


def _joined(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined
