"""Test helpers for Glance: a private glance-api with no Keystone, on the file store.

Used by this distribution's tests and by the repository's end-to-end suite. Nothing here
needs pytest, and nothing runs at import time. The glance-api is Debian's ``glance-api``
package run from a temporary directory with no Keystone (empty ``[paste_deploy] flavor``),
an SQLite database synced with ``glance-manage db_sync`` and the file store::

    <tmp>/
    ├── glance-api.conf
    ├── glance.sqlite
    └── images/ staging/ tasks/       file store, import staging, tasks
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from docker_registry.testing.services import ServiceProcess, free_port, http_ready

__all__ = ["GlanceService", "start_glance"]

PASTE_CONFIG = "/etc/glance/glance-api-paste.ini"


@dataclass
class GlanceService:
    """Where the tests reach Glance, and the process to stop (none when reused)."""

    url: str
    process: ServiceProcess | None = None
    workdir: str | None = None
    startup_seconds: float = 0.0

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def images(self, **filters: str) -> list[dict[str, Any]]:
        """Image records matching ``filters``, straight from the API (any status)."""
        answer = requests.get(f"{self.url}/v2/images", params=filters, timeout=30)
        answer.raise_for_status()
        return list(answer.json()["images"])


def start_glance() -> GlanceService:
    """Configure, sync and start a private glance-api on a free port."""
    started = time.monotonic()
    directory = Path(tempfile.mkdtemp(prefix="registry-glance-"))
    port = free_port()
    conf = directory / "glance-api.conf"
    conf.write_text(
        textwrap.dedent(
            f"""
            [DEFAULT]
            bind_host = 127.0.0.1
            bind_port = {port}
            workers = 0
            use_stderr = true
            enabled_backends = fs:file
            [database]
            connection = sqlite:///{directory}/glance.sqlite
            [paste_deploy]
            flavor =
            config_file = {PASTE_CONFIG}
            [glance_store]
            default_backend = fs
            [fs]
            filesystem_store_datadir = {directory}/images
            [os_glance_staging_store]
            filesystem_store_datadir = {directory}/staging
            [os_glance_tasks_store]
            filesystem_store_datadir = {directory}/tasks
            [oslo_concurrency]
            lock_path = {directory}/locks
            """
        )
    )
    try:
        subprocess.run(
            ["glance-manage", "--config-file", str(conf), "db_sync"],
            check=True,
            capture_output=True,
        )
        url = f"http://127.0.0.1:{port}"
        process = ServiceProcess(
            ["glance-api", "--config-file", str(conf)],
            name="glance-api",
            url=url,
            ready=http_ready(f"{url}/healthcheck"),
        ).start()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return GlanceService(url, process, str(directory), time.monotonic() - started)
