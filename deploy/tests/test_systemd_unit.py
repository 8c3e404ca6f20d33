"""deploy/systemd/docker-registry.service: systemd accepts it, and its commands serve.

``systemd-analyze verify`` reads the unit as systemd would (unknown keys, bad values,
missing executables); the unit's own ``ExecStartPre``/``ExecStart`` lines are then run
with its ``Environment=`` values, only the paths moved into a temporary folder.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from docker_registry.testing.services import ServiceProcess, free_port, http_ready

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "docker-registry.service"
INSTALLED = "/opt/docker-registry/bin/docker-registry"


def this_environment_command() -> str:
    """The docker-registry of the Python running the tests (stands for /opt/...)."""
    command = Path(sys.executable).parent / "docker-registry"
    assert command.is_file(), f"{command} missing: install registry-core in this environment"
    return str(command)


def service_section(text: str) -> list[tuple[str, str]]:
    """``key=value`` pairs of [Service], in order (keys repeat, so no configparser)."""
    pairs, section = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            pairs.append((key, value))
    return pairs


def test_systemd_analyze_verify_finds_nothing(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    # NOTE: verify checks that ExecStart's program exists; the unit names where the
    # docs install it, here the test's own environment stands in.
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(INSTALLED, this_environment_command()))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    # NOTE: verify exits 0 on unknown keys and bad values too; it only prints them.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_verify_would_catch_a_mistake(tmp_path):
    """The check above can fail: one misspelt key is reported."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    unit = tmp_path / UNIT.name
    text = UNIT.read_text().replace(INSTALLED, this_environment_command())
    unit.write_text(text.replace("ProtectSystem=strict", "ProtectSistem=strict"))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert "ProtectSistem" in done.stdout + done.stderr


def test_the_units_commands_check_and_serve(tmp_path):
    pairs = service_section(UNIT.read_text())
    environment = dict(
        value.split("=", 1) for key, value in pairs if key == "Environment"
    )  # fmt: skip
    assert environment["STORAGE_PATH"] == "/var/lib/docker-registry"
    assert dict(pairs)["StateDirectory"] == "docker-registry"
    assert dict(pairs)["WorkingDirectory"] == environment["STORAGE_PATH"]
    assert "DOCKER_REGISTRY_CONFIG" not in environment, "the packaged configuration"
    assert environment["REGISTRY_HOST"] == "127.0.0.1", "behind nginx: loopback only"
    # The packaged configuration, configured by the unit's environment; only the data
    # folder and the port are the test's.
    data = tmp_path / "data"
    port = free_port()
    environment.update(STORAGE_PATH=str(data), REGISTRY_PORT=str(port))

    def command(key: str) -> list[str]:
        words = shlex.split(dict(pairs)[key])
        assert words[0] == INSTALLED
        return [this_environment_command(), *words[1:]]

    checked = subprocess.run(
        command("ExecStartPre"), env=environment, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    service = ServiceProcess(
        command("ExecStart"),
        name="docker-registry (systemd unit)",
        ready=http_ready(f"http://127.0.0.1:{port}/healthz"),
        env=environment,
        cwd=tmp_path,
        stop_timeout=float(dict(pairs)["TimeoutStopSec"]),
    )
    blob = b"a layer pushed through the unit's registry\n"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    service.start()
    try:
        pushed = requests.post(
            f"http://127.0.0.1:{port}/v2/systemd/unit/blobs/uploads/",
            params={"digest": digest},
            data=blob,
            timeout=30,
        )
        assert pushed.status_code == 201, pushed.text
    finally:
        service.stop()
    # The blob is in STORAGE_PATH, wherever the layout puts it.
    assert [path for path in data.rglob("*") if path.is_file() and path.read_bytes() == blob]
