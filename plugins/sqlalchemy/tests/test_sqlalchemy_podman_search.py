"""podman finds v1 and v2 repositories through the SQL index, on SQLite and PostgreSQL:
a live ``docker-registry serve`` with ``search_backend: sqlalchemy`` (issue 15 §1)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from docker_registry.testing.podman_search import check_podman_search
from docker_registry.testing.services import ServiceProcess, free_port, http_ready


def serve(workdir: Path, database_url: str) -> tuple[ServiceProcess, str]:
    config = {
        "storage": "file",
        "storage_path": str(workdir / "data"),
        "search_backend": "sqlalchemy",
        "sqlalchemy_index_database": database_url,
    }
    config_path = workdir / "config.yml"
    config_path.write_text(yaml.safe_dump({"test": config}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "docker_registry.core", "serve", "--config"]
    command += [str(config_path), "--flavor", "test", "--host", "127.0.0.1", "--port", str(port)]
    process = ServiceProcess(command, name="registry", url=url, ready=http_ready(f"{url}/v2/"))
    return process.start(), url


def test_podman_search_through_the_index(tmp_path: Path, database_url: str) -> None:
    process, url = serve(tmp_path, database_url)
    try:
        check_podman_search(url, url.removeprefix("http://"))
    finally:
        process.stop()
