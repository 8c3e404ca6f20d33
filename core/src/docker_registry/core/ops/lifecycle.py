"""The waitress main loop with a graceful stop and a SIGHUP reload.

``SIGTERM``/``SIGINT``: stop accepting (the listening socket is closed in this process),
close idle connections, let requests in flight finish (bodies still arriving included)
for at most ``shutdown_timeout`` seconds, then close what is left and return, so that
the process exits 0. ``SIGHUP``: re-read the configuration and apply ``readonly``
(:mod:`.readonly`); connections are untouched.

Signal handlers only set flags and wake the loop; the work happens in the loop.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import waitress.server

log = logging.getLogger("docker_registry.core.server")

#: Seconds between two looks at the stop/reload flags while serving.
_TICK = 1.0


class _Flags:
    def __init__(self) -> None:
        self.stop: int | None = None
        self.reload = False


class EarlyReload:
    """Remembers a SIGHUP that arrives while the application is being built.

    Made before the configuration-dependent start-up work; :func:`run_server` applies the
    reload once serving. Without it a worker just forked would ignore the signal (or a
    single process die of it) and serve what was read before the operator's change.
    """

    def __init__(self) -> None:
        self.pending = False
        signal.signal(signal.SIGHUP, self._note)

    def _note(self, signum: int, frame: object) -> None:
        self.pending = True


def run_server(
    server: waitress.server.BaseWSGIServer,
    *,
    shutdown_timeout: float,
    reload: Callable[[], None],
    early: EarlyReload | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then drain (see the module docstring); a SIGHUP
    that ``early`` caught during start-up is applied first."""
    flags = _Flags()

    def on_stop(signum: int, frame: object) -> None:
        flags.stop = signum
        with contextlib.suppress(Exception):
            server.pull_trigger()

    def on_hup(signum: int, frame: object) -> None:
        flags.reload = True
        with contextlib.suppress(Exception):
            server.pull_trigger()

    previous = {
        signum: signal.signal(signum, handler)
        for signum, handler in (
            (signal.SIGTERM, on_stop),
            (signal.SIGINT, on_stop),
            (signal.SIGHUP, on_hup),
        )
    }
    # NOTE: read after our handler is set: a signal is seen by one of the two.
    flags.reload = early is not None and early.pending
    loop = server.asyncore.loop
    channel_map: dict[int, Any] = server._map
    try:
        while flags.stop is None:
            loop(timeout=_TICK, map=channel_map, use_poll=server.adj.asyncore_use_poll, count=1)
            if flags.reload:
                flags.reload = False
                reload()
        _drain(server, signal.Signals(flags.stop).name, shutdown_timeout)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _busy(channel: Any) -> bool:
    """A request is being received, handled, or its response sent."""
    return bool(channel.requests or channel.request is not None or channel.total_outbufs_len)


def _drain(server: waitress.server.BaseWSGIServer, signame: str, timeout: float) -> None:
    started = time.monotonic()
    # NOTE: the listening socket only (dispatcher.close, not server.close: the trigger
    # that wakes this loop when a response is ready must stay).
    server.asyncore.dispatcher.close(server)
    channels = list(server.active_channels.values())
    busy = [channel for channel in channels if _busy(channel)]
    log.info(
        "docker-registry (pid %d) received %s: refusing new connections, closing %d idle "
        "connection(s), waiting up to %.0f s for %d request(s) in flight",
        os.getpid(),
        signame,
        len(channels) - len(busy),
        timeout,
        len(busy),
    )
    deadline = started + timeout
    loop = server.asyncore.loop
    while True:
        remaining = list(server.active_channels.values())
        for channel in remaining:
            if not _busy(channel):
                channel.will_close = True
        if not any(_busy(channel) for channel in remaining):
            break
        if time.monotonic() >= deadline:
            cut = [channel for channel in remaining if _busy(channel)]
            log.warning(
                "docker-registry (pid %d): %d request(s) still in flight after %.0f s "
                "(shutdown_timeout); closing their connections",
                os.getpid(),
                len(cut),
                timeout,
            )
            for channel in cut:
                _abandon(channel)
            break
        loop(timeout=0.1, map=server._map, use_poll=server.adj.asyncore_use_poll, count=1)
    # NOTE: flush what was marked closing, then stop the threads.
    for _ in range(10):
        if not server.active_channels:
            break
        loop(timeout=0.05, map=server._map, use_poll=server.adj.asyncore_use_poll, count=1)
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
    server.trigger.close()
    # NOTE: bodies of abandoned requests are removed by their spool's finalizer.
    gc.collect()
    log.info(
        "docker-registry (pid %d) stopped after %.1f s",
        os.getpid(),
        time.monotonic() - started,
    )


def _abandon(channel: Any) -> None:
    """Close a connection whose request did not finish in time, and its body's spool."""
    request = channel.request
    if request is not None:
        with contextlib.suppress(Exception):
            request.close()
        channel.request = None
    with contextlib.suppress(Exception):
        channel.handle_close()
