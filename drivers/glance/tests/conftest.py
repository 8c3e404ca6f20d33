"""Fixtures: a glance-api (started here, or reused from REGISTRY_TEST_GLANCE_URL).

The private glance-api is Debian's ``glance-api`` package run from a temporary directory
with no Keystone (empty ``[paste_deploy] flavor``), an SQLite database synced with
``glance-manage db_sync`` and the file store::

    <tmp>/
    ├── glance-api.conf
    ├── glance.sqlite
    └── images/ staging/ tasks/       file store, import staging, tasks
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from docker_registry.drivers.glance import GlanceDriver
from docker_registry.drivers.swift.testing import SwiftService, start_swift
from docker_registry.testing.services import ServiceProcess, free_port, http_ready

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


@pytest.fixture(scope="session")
def glance() -> Iterator[GlanceService]:
    """The Glance under test: ``REGISTRY_TEST_GLANCE_URL``'s, or a private glance-api."""
    existing = os.environ.get("REGISTRY_TEST_GLANCE_URL", "").strip()
    service = GlanceService(existing.rstrip("/")) if existing else start_glance()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def make_driver(glance: GlanceService, tmp_path: Path) -> Iterator[Callable[..., GlanceDriver]]:
    """Build drivers with a private namespace and alternate root; options override."""
    made: list[GlanceDriver] = []
    namespace = f"tests-{uuid.uuid4().hex[:12]}"

    def make(**options: Any) -> GlanceDriver:
        values: dict[str, Any] = {
            "glance_endpoint": glance.url,
            "glance_namespace": namespace,
            "storage_path": str(tmp_path / "alternate"),
            **options,
        }
        driver = GlanceDriver(**values)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.close()


@pytest.fixture(scope="session")
def swift() -> Iterator[SwiftService]:
    """A Swift for the glance-swift flavor: ``REGISTRY_TEST_SWIFT_URL``'s or an all-in-one."""
    existing = os.environ.get("REGISTRY_TEST_SWIFT_URL", "").strip()
    service = SwiftService(auth_url=existing) if existing else start_swift()
    try:
        yield service
    finally:
        service.stop()
