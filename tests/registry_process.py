"""Run ``docker-registry serve`` as a real process for the black-box suites."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from docker_registry.testing.services import ServiceProcess, free_port, http_ready


def start_registry_process(
    workdir: Path,
    config: dict,
    *,
    threads: int = 4,
    workers: int = 1,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> tuple[ServiceProcess, int]:
    """Write ``config`` as flavor ``test`` in ``workdir`` and serve it on ``port`` (default:
    a free loopback port); return the ready process and its port."""
    config_path = workdir / "config.yml"
    config_path.write_text(yaml.safe_dump({"test": config}))
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        [
            sys.executable,
            "-m",
            "docker_registry.core",
            "serve",
            "--config",
            str(config_path),
            "--flavor",
            "test",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--threads",
            str(threads),
            "--workers",
            str(workers),
        ],
        name="docker-registry",
        url=url,
        ready=http_ready(f"{url}/_ping"),
        env=env,
        cwd=workdir,
        startup_timeout=30,
    ).start()
    return process, port
