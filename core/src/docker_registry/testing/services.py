"""Start real backing services for driver test fixtures, or reuse a running one.

A driver's conformance run needs its real backend: an S3 emulator, fake GCS, Azurite, a
Swift all-in-one... These helpers start one as a child process on a free port, wait until
it answers, and stop it by PID when the session ends; or, when an environment variable
names a service that is already running (CI containers, a developer's own emulator),
reuse that one and start nothing::

    import pytest
    from docker_registry.testing.services import (
        ServiceProcess, free_port, http_ready, service_url,
    )

    def start_moto() -> ServiceProcess:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        return ServiceProcess(
            ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
            name="moto", url=url, ready=http_ready(url),
        ).start()

    @pytest.fixture(scope="session")
    def s3_url():
        with service_url("REGISTRY_TEST_S3_URL", start_moto) as url:
            yield url

Nothing here needs pytest.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

__all__ = [
    "ServiceError",
    "ServiceProcess",
    "free_port",
    "http_ready",
    "service_url",
    "tcp_ready",
    "wait_until",
]

#: Lines of the service's log quoted in error messages.
LOG_TAIL_LINES = 40


class ServiceError(RuntimeError):
    """A backing service did not start, did not become ready, or failed to stop."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now.

    The port is only free at the time of the call: start the service promptly.

    :param host: the interface the service will bind.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, *, interval: float = 0.1
) -> None:
    """Call ``check`` until it returns true, or raise once ``timeout`` seconds have passed.

    An exception raised by ``check`` counts as "not yet"; the last one is quoted in the
    error, which is usually the best clue (connection refused, 503...).

    :param check: returns true when the awaited condition holds.
    :param timeout: seconds to wait in total.
    :param what: the awaited condition, in words (``"moto on port 5000 to answer"``).
    :param interval: seconds between two calls.
    :raises ServiceError: ``timed out after <timeout>s waiting for <what>``.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - any failure just means "not ready yet"
            last_error = exc
        if time.monotonic() >= deadline:
            detail = ""
            if last_error is not None:
                detail = f" (last error: {type(last_error).__name__}: {last_error})"
            raise ServiceError(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(interval)


def http_ready(url: str, timeout: float = 2.0) -> Callable[[], bool]:
    """Return a readiness check: true once ``url`` answers with any HTTP status.

    A 403 or 404 still proves the server is up (object stores answer anonymous requests
    to ``/`` that way); only connection failures and timeouts count as not ready.

    :param url: an ``http://`` or ``https://`` URL.
    :param timeout: seconds for each attempt.
    """

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=timeout):
                return True
        except urllib.error.HTTPError:
            return True

    return check


def tcp_ready(host: str, port: int, timeout: float = 2.0) -> Callable[[], bool]:
    """Return a readiness check: true once ``host:port`` accepts a TCP connection."""

    def check() -> bool:
        with socket.create_connection((host, port), timeout=timeout):
            return True

    return check


def _signal_group(pid: int, signum: int) -> None:
    """Send ``signum`` to the process group led by ``pid``; ignore it if already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _kill_if_running(process: subprocess.Popen[bytes]) -> None:
    """Last resort at interpreter exit: kill a service nobody stopped."""
    # NOTE: poll() first, so that a reaped PID (possibly reused since) is never signalled.
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()


class ServiceProcess:
    """A backing service run as a child process in its own process group.

    Its stdout and stderr go to a log file in a private temporary directory; the tail of
    that log is quoted when the service exits early or never becomes ready. :meth:`stop`
    signals the whole group by PID (``stop_signal``, then ``SIGKILL`` after
    ``stop_timeout``), so that wrapper scripts do not leave their children behind. If the
    interpreter exits without :meth:`stop`, the group is killed anyway.

    :param command: the program and its arguments (no shell).
    :param name: a short name for messages (``moto``, ``azurite``...).
    :param ready: returns true once the service accepts requests (see :func:`http_ready`).
    :param url: where clients reach the service; returned by :func:`service_url`.
    :param env: extra environment variables, on top of the current environment.
    :param cwd: working directory of the process.
    :param startup_timeout: seconds to wait for ``ready``.
    :param stop_timeout: seconds between ``stop_signal`` and ``SIGKILL``.
    :param stop_signal: the polite stop request (PostgreSQL wants ``SIGINT`` for a fast
        shutdown).
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        name: str,
        ready: Callable[[], bool],
        url: str = "",
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.command = list(command)
        self.name = name
        self.ready = ready
        self.url = url
        self.env = dict(env or {})
        self.cwd = cwd
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.stop_signal = stop_signal
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_dir: str | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], ServiceProcess] | None = None
        self._stopped = False

    @property
    def pid(self) -> int | None:
        """The PID (and process group id) of the running service, ``None`` before start."""
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> ServiceProcess:
        """Start the process and wait until it is ready; return ``self``.

        :raises ServiceError: the command cannot be run, it exited before being ready
            (with its exit code and log tail), or ``ready`` stayed false until
            ``startup_timeout`` (the process is stopped first).
        """
        if self._process is not None:
            raise ServiceError(f"{self.name} was already started (pid {self.pid})")
        self._log_dir = tempfile.mkdtemp(prefix=f"registry-service-{self.name}-")
        self.log_path = Path(self._log_dir) / f"{self.name}.log"
        with open(self.log_path, "wb") as log:
            try:
                self._process = subprocess.Popen(
                    self.command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **self.env},
                    cwd=self.cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ServiceError(
                    f"cannot start {self.name} ({' '.join(self.command)}): {exc}"
                ) from exc
        self._finalizer = weakref.finalize(self, _kill_if_running, self._process)
        try:
            wait_until(self._ready_or_exited, self.startup_timeout, f"{self.name} to be ready")
        except ServiceError as exc:
            self.stop(remove_log=False)
            raise ServiceError(f"{exc}\n{self._log_report()}") from None
        if not self.running:
            code = self._process.returncode
            self.stop(remove_log=False)
            raise ServiceError(
                f"{self.name} exited with code {code} before it was ready\n{self._log_report()}"
            )
        return self

    def _ready_or_exited(self) -> bool:
        # NOTE: an exited process ends the wait at once; start() reports it with the log.
        return not self.running or self.ready()

    def stop(self, *, remove_log: bool = True) -> int | None:
        """Stop the process group by PID and return the exit code (``None`` if never started).

        :param remove_log: delete the log directory too (keep it to investigate a failure).
        """
        process = self._process
        if process is None:
            return None
        if not self._stopped:
            self._stopped = True
            self._terminate(process)
            if self._finalizer is not None:
                self._finalizer.detach()
        if remove_log and self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None
        return process.returncode

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            _signal_group(process.pid, self.stop_signal)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=self.stop_timeout)
        # NOTE: children of a wrapper script may outlive the leader and keep the group.
        _signal_group(process.pid, signal.SIGKILL)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines the service printed (empty once the log is removed)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _log_report(self) -> str:
        tail = self.log_tail()
        header = f"--- last {LOG_TAIL_LINES} lines of {self.log_path} ---"
        return f"{header}\n{tail}" if tail else f"(nothing in {self.log_path})"

    def __enter__(self) -> ServiceProcess:
        return self.start() if self._process is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ServiceProcess(name={self.name!r}, pid={self.pid}, url={self.url!r})"


@contextlib.contextmanager
def service_url(env_var: str, start: Callable[[], ServiceProcess]) -> Iterator[str]:
    """Yield the URL of a running service: the one named by ``env_var``, or a new one.

    When ``env_var`` is set and not empty, its value is yielded and nothing is started or
    stopped (the service belongs to whoever runs it). Otherwise ``start()`` is called, its
    process's ``url`` yielded, and the process stopped when the block exits.

    :param env_var: e.g. ``REGISTRY_TEST_S3_URL``.
    :param start: starts the service and returns it once ready (see :class:`ServiceProcess`).
    """
    existing = os.environ.get(env_var, "").strip()
    if existing:
        yield existing
        return
    service = start()
    try:
        if not service.url:
            raise ServiceError(f"{service.name} was started without a url to yield")
        yield service.url
    finally:
        service.stop()
