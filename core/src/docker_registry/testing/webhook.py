"""A real HTTP receiver of notification envelopes, for tests (a ``http.server`` thread).

::

    with WebhookReceiver(fail_first=3) as receiver:   # answers 503 three times
        ...                                            # configure receiver.url
        receiver.wait_for(lambda events: len(events) >= 4, timeout=30)
        receiver.events                                # every event delivered, in order
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    """Records every POSTed envelope; refuses the first ``fail_first`` with ``fail_status``.

    :param fail_first: how many deliveries to refuse before accepting.
    :param fail_status: the status of a refused delivery.
    """

    def __init__(self, fail_first: int = 0, fail_status: int = 503) -> None:
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.refused = 0
        self.deliveries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver._record(self.path, dict(self.headers), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            if self.refused < self.fail_first:
                self.refused += 1
                return self.fail_status
            self.deliveries.append({"path": path, "headers": headers, "envelope": json.loads(body)})
            return 200

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event of every accepted envelope, in arrival order."""
        with self._lock:
            return [event for d in self.deliveries for event in d["envelope"]["events"]]

    def wait_for(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout: float, what: str = ""
    ) -> list[dict[str, Any]]:
        """Wait until ``done(events)``; :raises AssertionError: it never was."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events
            if done(events):
                return events
            time.sleep(0.05)
        raise AssertionError(
            f"receiver: {what or 'condition'} not met within {timeout} s; "
            f"{self.refused} refused, events: {self.events}"
        )

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
