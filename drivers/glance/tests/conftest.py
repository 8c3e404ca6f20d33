"""Fixtures: a glance-api (started here, or reused from REGISTRY_TEST_GLANCE_URL).

The private glance-api is built by
:func:`docker_registry.drivers.glance.testing.start_glance`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from docker_registry.drivers.glance import GlanceDriver
from docker_registry.drivers.glance.testing import GlanceService, start_glance
from docker_registry.drivers.swift.testing import SwiftService, start_swift


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
