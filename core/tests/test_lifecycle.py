"""The serving loop's signals (ops/lifecycle.py) on a real waitress server in this process."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import waitress

from docker_registry.core.ops.lifecycle import EarlyReload, run_server


def _app(environ, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


@pytest.fixture
def restore_signals():
    saved = {s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def _serve(early: EarlyReload | None) -> list[str]:
    """Serve for 1.5 s; what the reload callback saw."""
    server = waitress.create_server(_app, host="127.0.0.1", port=0, threads=1)
    calls: list[str] = []
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        run_server(server, shutdown_timeout=1, reload=lambda: calls.append("reload"), early=early)
    finally:
        timer.cancel()
    return calls


def test_a_sighup_during_start_up_is_applied_once_serving(restore_signals):
    early = EarlyReload()
    # the operator's SIGHUP lands while the application is still being built
    os.kill(os.getpid(), signal.SIGHUP)
    assert early.pending
    assert _serve(early) == ["reload"]


def test_no_sighup_during_start_up_means_no_reload(restore_signals):
    assert _serve(EarlyReload()) == []
