"""The service helpers start, check and stop real processes (a tiny HTTP server here)."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from docker_registry.testing.services import (
    ServiceError,
    ServiceProcess,
    free_port,
    http_ready,
    service_url,
    tcp_ready,
    wait_until,
)


def _http_server(directory: Path, **options: Any) -> ServiceProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    return ServiceProcess(
        [*command, "--directory", str(directory)],
        name="http-server",
        url=url,
        ready=http_ready(url + "/"),
        **options,
    )


def _python(code: str, **options: Any) -> ServiceProcess:
    """A service whose readiness is a line it prints (no port needed)."""
    service: ServiceProcess

    def printed_ready() -> bool:
        return "READY" in service.log_tail()

    service = ServiceProcess(
        [sys.executable, "-c", code], name="script", url="unused://", ready=printed_ready, **options
    )
    return service


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _exists(pid: int) -> bool:
    """True while ``pid`` runs; a zombie awaiting its reaper counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def test_free_port_can_be_bound() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert not _accepts_connections(free_port())
        assert _accepts_connections(port)


def test_wait_until_returns_once_the_check_holds() -> None:
    calls = []

    def third_time_lucky() -> bool:
        calls.append(1)
        return len(calls) >= 3

    wait_until(third_time_lucky, timeout=5, what="the third call", interval=0.01)
    assert len(calls) == 3


def test_wait_until_names_what_it_waited_for_and_the_last_error() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError("nobody home")

    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        wait_until(refused, timeout=0.3, what="the unicorn to answer", interval=0.05)
    assert time.monotonic() - started >= 0.3
    message = str(caught.value)
    assert "timed out after 0.3s waiting for the unicorn to answer" in message
    assert "ConnectionRefusedError: nobody home" in message


def test_http_server_starts_ready_and_stops_by_pid(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_bytes(b"hello from the service")
    service = _http_server(tmp_path).start()
    pid = service.pid
    assert pid is not None
    port = int(service.url.rsplit(":", 1)[1])
    try:
        assert service.running
        assert os.getpgid(pid) == pid, "the service must lead its own process group"
        with urllib.request.urlopen(service.url + "/hello.txt", timeout=5) as response:
            assert response.read() == b"hello from the service"
        assert tcp_ready("127.0.0.1", port)()
        log_path = service.log_path
        assert log_path is not None
        assert log_path.exists()
    finally:
        code = service.stop()
    assert code == -signal.SIGTERM
    assert not service.running
    assert not _exists(pid)
    assert not _accepts_connections(port)
    assert not log_path.exists()
    assert service.stop() == code


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    with _http_server(tmp_path) as service:
        pid = service.pid
        assert pid is not None
        assert service.running
    assert not service.running
    assert not _exists(pid)


def test_sigkill_after_the_stop_timeout() -> None:
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('READY', flush=True)\n"
        "time.sleep(60)\n"
    )
    service = _python(code, stop_timeout=0.5).start()
    started = time.monotonic()
    assert service.stop() == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - started < 10


def test_stop_signal_is_configurable() -> None:
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *_: sys.exit(7))\n"
        "print('READY', flush=True)\n"
        "time.sleep(60)\n"
    )
    service = _python(code, stop_signal=signal.SIGINT).start()
    assert service.stop() == 7


def test_early_exit_reports_the_code_and_the_log_tail() -> None:
    code = "import sys\nprint('boom: bad configuration', flush=True)\nsys.exit(3)\n"
    service = _python(code, startup_timeout=30)
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        service.start()
    assert time.monotonic() - started < 20, "an exited process must not wait for the timeout"
    message = str(caught.value)
    assert "script exited with code 3 before it was ready" in message
    assert "boom: bad configuration" in message
    assert not service.running
    assert service.log_path is not None
    assert service.log_path.exists(), "the log is kept to investigate a failed start"
    service.stop()
    assert not service.log_path.exists()


def test_startup_timeout_stops_the_process_and_quotes_the_log() -> None:
    code = "import time\nprint('still warming up', flush=True)\ntime.sleep(60)\n"
    service = _python(code, startup_timeout=0.5, stop_timeout=5)
    with pytest.raises(ServiceError) as caught:
        service.start()
    message = str(caught.value)
    assert "timed out after 0.5s waiting for script to be ready" in message
    assert "still warming up" in message
    pid = service.pid
    assert pid is not None
    assert not _exists(pid)
    service.stop()


def test_missing_program_is_a_clear_error() -> None:
    service = ServiceProcess(
        ["/nonexistent/registry-emulator", "--port", "1"], name="ghost", ready=lambda: True
    )
    with pytest.raises(ServiceError, match="cannot start ghost"):
        service.start()
    assert service.pid is None


def test_stop_kills_children_of_a_wrapper(tmp_path: Path) -> None:
    child_pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(child_pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('READY', flush=True)\n"
        "time.sleep(60)\n"
    )
    service = _python(code).start()
    child_pid = int(child_pid_file.read_text())
    assert _exists(child_pid)
    service.stop()
    wait_until(lambda: not _exists(child_pid), timeout=5, what="the child to be killed")


def test_service_url_reuses_the_service_named_by_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGISTRY_TEST_DUMMY_URL", "http://already-running.invalid:9000")

    def must_not_start() -> ServiceProcess:
        raise AssertionError("a service was started although the environment named one")

    with service_url("REGISTRY_TEST_DUMMY_URL", must_not_start) as url:
        assert url == "http://already-running.invalid:9000"


def test_service_url_starts_and_stops_a_service_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REGISTRY_TEST_DUMMY_URL", raising=False)
    (tmp_path / "ping").write_bytes(b"pong")
    started: list[ServiceProcess] = []

    def start() -> ServiceProcess:
        started.append(_http_server(tmp_path).start())
        return started[0]

    with service_url("REGISTRY_TEST_DUMMY_URL", start) as url:
        with urllib.request.urlopen(url + "/ping", timeout=5) as response:
            assert response.read() == b"pong"
        assert started[0].running
    assert len(started) == 1
    assert not started[0].running
