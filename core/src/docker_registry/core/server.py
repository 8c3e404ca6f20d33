"""Serve the application with waitress, in one process or several sharing the socket.

Waitress runs one process whose threads share the GIL: small requests (manifest GET,
tags list, blob HEAD) top out near one core. ``workers > 1`` forks that many waitress
processes that accept from one listening socket; each builds its own application after
the fork (threads, pools and connections are never shared). Everything the registry
keeps between requests lives in storage, so any worker can take any request; each worker
caches tags for ``v2_tag_cache_ttl`` (see docs/architecture.md, "Serving").
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .config import ConfigError, Settings, StartupError
from .config.keys.core import SHUTDOWN_TIMEOUT
from .config.settings import CHANNEL_TIMEOUT
from .proxies import TrustedProxies

if TYPE_CHECKING:
    import waitress.server

    from .app import ServedApp
    from .ops.lifecycle import EarlyReload

log = logging.getLogger(__name__)

#: Builds the application, with where its bodies spool and who taps them (:mod:`.spool`).
AppFactory = Callable[[], "ServedApp"]
#: A worker that dies sooner than this after its start is failing to start: give up.
_STARTUP_GRACE = 5.0


def serve(
    make_app: AppFactory,
    settings: Settings,
    *,
    host: str,
    port: int,
    threads: int,
    workers: int = 1,
) -> None:
    """Run waitress until interrupted.

    :param make_app: builds the application (once per worker process).
    :param settings: for ``max_request_body_size`` (the largest layer accepted).
    :param host: interface to bind (``0.0.0.0`` for all).
    :param port: TCP port; 0 picks a free one.
    :param threads: threads per process.
    :param workers: processes; above 1, a supervisor forks them and restarts any that dies.
    """
    # NOTE: waitress warns "Task queue depth is N" whenever every thread is busy, which
    # under load is every request: a flood in the log and 3% of the CPU. Errors stay.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    if workers <= 1:
        from .ops.lifecycle import EarlyReload

        early = EarlyReload()
        _tune_memory()
        served = make_app()
        _start_spool_sweeper(settings, served.spool_directory)
        server = _create_server(served, settings, threads, host=host, port=port)
        _announce(settings, server.effective_host, server.effective_port, threads, 1)
        _run(server, settings, served, early)
        return
    from .ops import metrics

    multiproc = metrics.prepare_multiprocess() if metrics.metrics_enabled(settings) else None
    listener = socket.create_server((host, port), backlog=1024)
    try:
        bound_host, bound_port = listener.getsockname()[:2]

        def announce() -> None:
            _announce(settings, bound_host, bound_port, threads, workers)

        _Supervisor(
            workers,
            lambda first: _worker(
                listener, make_app, settings, threads, announce if first else None
            ),
            on_stop=listener.close,
            stop_timeout=_stop_timeout(settings),
        ).run()
    finally:
        listener.close()
        if multiproc is not None:
            metrics.remove_multiprocess(multiproc)


def _create_server(
    served: ServedApp, settings: Settings, threads: int, **listen: object
) -> waitress.server.BaseWSGIServer:
    # NOTE: imported here, so that the supervisor of --workers stays small (RSS is
    # counted in every process).
    import waitress

    from .transport import (
        INBUF_OVERFLOW,
        OUTBUF_HIGH_WATERMARK,
        OUTBUF_OVERFLOW,
        RECV_BYTES,
        channel_class,
    )

    # NOTE: behind a TLS proxy (docs/deploy.md) waitress takes the scheme (and, when
    # trusted, the client address) from the proxy's headers, only from `trusted_proxy`;
    # anyone else's X-Forwarded-* headers are removed (clear_untrusted_proxy_headers).
    proxy = TrustedProxies.from_settings(settings).waitress_options()
    if proxy and not {"x-forwarded-for", "forwarded"} & set(settings.trusted_proxy_headers):
        log.warning(
            "trusted_proxy is set but trusted_proxy_headers (%s) has neither "
            "x-forwarded-for nor forwarded: client addresses are the proxy's, so every "
            "client behind it shares one failed-login limit; add x-forwarded-for",
            ", ".join(settings.trusted_proxy_headers),
        )
    server = waitress.create_server(
        served.app,
        threads=threads,
        max_request_body_size=settings.max_request_body_size,
        recv_bytes=RECV_BYTES,
        inbuf_overflow=INBUF_OVERFLOW,
        outbuf_high_watermark=OUTBUF_HIGH_WATERMARK,
        outbuf_overflow=OUTBUF_OVERFLOW,
        ident="docker-registry",
        clear_untrusted_proxy_headers=True,
        # NOTE: also bounds how long a live upload's spool file can go unwritten, which
        # the spool sweep relies on (config.settings.MIN_SPOOL_SWEEP_AGE).
        channel_timeout=CHANNEL_TIMEOUT,
        **proxy,
        **listen,
    )
    server.channel_class = channel_class(served.spool_directory, served.find_tap, served.gate)
    return server


def _start_spool_sweeper(settings: Settings, spool_directory: str | None) -> None:
    """Remove what crashed requests left in the spool directory, now and periodically
    (each worker sweeps; it never takes a file that one of them is receiving)."""
    from .spool_sweep import start_spool_sweeper

    start_spool_sweeper(settings, spool_directory)


def _announce(settings: Settings, host: str, port: int, threads: int, workers: int) -> None:
    log.info(
        "docker-registry serving on http://%s:%s (flavor %s, storage %s, %d process(es) of "
        "%d threads)",
        host,
        port,
        settings.flavor,
        settings.storage,
        workers,
        threads,
    )


def _stop_timeout(settings: Settings) -> float:
    timeout: float = SHUTDOWN_TIMEOUT.read(settings)
    return timeout


def _run(
    server: waitress.server.BaseWSGIServer,
    settings: Settings,
    served: ServedApp,
    early: EarlyReload,
) -> None:
    """Serve until SIGTERM/SIGINT, drain for ``shutdown_timeout`` (ops/lifecycle.py), then
    stop the application's background work (notification senders)."""
    from .ops.lifecycle import run_server

    try:
        run_server(
            server,
            shutdown_timeout=_stop_timeout(settings),
            reload=_reloader(settings),
            early=early,
        )
    finally:
        served.stop()


def _reloader(settings: Settings) -> Callable[[], None]:
    """What SIGHUP does: re-read the configuration and apply ``readonly``."""

    def reload() -> None:
        from .config import load_settings
        from .ops.readonly import apply

        try:
            fresh = load_settings(settings.source, settings.flavor)
        except ConfigError as exc:
            log.error("SIGHUP: configuration not reloaded, nothing changed: %s", exc)
            return
        enabled = bool(fresh.get("readonly"))
        log.info(
            "SIGHUP: configuration re-read (pid %d); read-only mode %s",
            os.getpid(),
            "on" if enabled else "off",
        )
        apply(enabled)

    return reload


def _worker(
    listener: socket.socket,
    make_app: AppFactory,
    settings: Settings,
    threads: int,
    announce: Callable[[], None] | None,
) -> None:
    """Body of a forked worker: build the application, serve the shared socket.

    The first worker announces the address once its application is built, so that a
    registry that cannot start never says it is serving.
    """
    from .ops.lifecycle import EarlyReload

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # NOTE: replaces the supervisor's forwarding handler; a SIGHUP forwarded while this
    # worker starts is applied once it serves.
    early = EarlyReload()
    _tune_memory()
    served = make_app()
    if announce is not None:
        announce()
    _start_spool_sweeper(settings, served.spool_directory)
    _run(_create_server(served, settings, threads, sockets=[listener]), settings, served, early)


#: Exit status of a worker whose configuration or storage cannot start (no restart).
_EXIT_STARTUP = 2


class _Supervisor:
    """Forks ``count`` workers, restarts those that die, stops them all on SIGTERM/SIGINT.

    ``body(first)`` runs in each worker; ``first`` is true for the first one started. A
    worker that fails at start-up with a :class:`ConfigError` (a :class:`StartupError`)
    sends its one line through a pipe and exits 2; the supervisor stops the others and
    raises that error, so the command prints it once, with no traceback.
    """

    def __init__(
        self,
        count: int,
        body: Callable[[bool], None],
        *,
        on_stop: Callable[[], None] = lambda: None,
        stop_timeout: float = 30.0,
    ) -> None:
        self.count = count
        self.body = body
        self.on_stop = on_stop
        self.stop_timeout = stop_timeout
        self.children: dict[int, float] = {}
        self.stopping = False
        self.spawned = 0
        self.errors_read, self.errors_written = os.pipe()

    def run(self) -> None:
        previous = {
            signum: signal.signal(signum, handler)
            for signum, handler in (
                (signal.SIGTERM, self._stop),
                (signal.SIGINT, self._stop),
                (signal.SIGHUP, self._forward),
                (signal.SIGALRM, self._kill),
            )
        }
        try:
            for _ in range(self.count):
                self._spawn()
            while self.children:
                try:
                    pid, status = os.wait()
                except ChildProcessError:
                    break
                started = self.children.pop(pid, None)
                if started is None or self.stopping:
                    continue
                failed_start = time.monotonic() - started < _STARTUP_GRACE
                if failed_start and os.waitstatus_to_exitcode(status) == _EXIT_STARTUP:
                    self._stop(signal.SIGTERM, None)
                    raise self._startup_error()
                if failed_start and not os.WIFSIGNALED(status):
                    log.error(
                        "worker %d failed at start-up (%s); stopping: see its error above",
                        pid,
                        _describe(status),
                    )
                    self._stop(signal.SIGTERM, None)
                    raise SystemExit(1)
                reason = _describe(status)
                if os.waitstatus_to_exitcode(status) == _EXIT_STARTUP:
                    reason += f": {self._read_errors()}"
                log.error("worker %d exited (%s); starting another", pid, reason)
                _forget_worker(pid)
                self._spawn()
        finally:
            signal.alarm(0)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            os.close(self.errors_read)
            os.close(self.errors_written)
        log.info("docker-registry stopped")

    def _spawn(self) -> None:
        first = self.spawned == 0
        self.spawned += 1
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                self.body(first)
            except ConfigError as exc:
                # NOTE: one line, sent to the supervisor (which prints it once); a write
                # under PIPE_BUF bytes is atomic, so lines of several workers never mix.
                line = " ".join(str(exc).split())[:3000]
                os.set_blocking(self.errors_written, False)
                with contextlib.suppress(BlockingIOError):
                    os.write(self.errors_written, line.encode(errors="replace") + b"\n")
                code = _EXIT_STARTUP
            except BaseException:
                log.exception("worker %d failed", os.getpid())
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = time.monotonic()

    def _startup_error(self) -> StartupError:
        """The first line a worker sent (wait for the workers being stopped first)."""
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.children.clear()
        return StartupError(self._read_errors())

    def _read_errors(self) -> str:
        """The first line workers sent since the last call (the pipe is drained)."""
        os.set_blocking(self.errors_read, False)
        received = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.errors_read, 65536):
                received += chunk
        line = received.decode(errors="replace").split("\n", 1)[0]
        return line or "a worker failed at start-up with no message"

    def _stop(self, signum: int, frame: object) -> None:
        if not self.stopping and frame is not None:
            log.info(
                "docker-registry supervisor received %s: stopping %d worker(s), each "
                "finishing its requests in flight (at most %.0f s)",
                signal.Signals(signum).name,
                len(self.children),
                self.stop_timeout,
            )
            # NOTE: a worker that does not stop in time is killed (SIGALRM: _kill).
            signal.alarm(int(self.stop_timeout) + 10)
        self.stopping = True
        # NOTE: the supervisor's copy of the listening socket goes too, so that new
        # connections are refused at once instead of waiting in the backlog.
        self.on_stop()
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _forward(self, signum: int, frame: object) -> None:
        """SIGHUP: every worker re-reads the configuration."""
        log.info("docker-registry supervisor received SIGHUP: forwarding it to the workers")
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    def _kill(self, signum: int, frame: object) -> None:
        for pid in list(self.children):
            log.error("worker %d did not stop within shutdown_timeout; killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _forget_worker(pid: int) -> None:
    """Drop a dead worker's live gauges from the metrics directory (if metrics are on)."""
    from .ops.metrics import forget_worker

    try:
        forget_worker(pid)
    except OSError as exc:
        log.warning("could not remove the metrics files of worker %d: %s", pid, exc)


def _tune_memory() -> None:
    """glibc's allocator for MiB transfers, in a serving process (see :mod:`.memory`)."""
    from . import memory

    memory.limit_arenas()
    memory.Trimmer().start()


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
