"""Fixtures: a Swift all-in-one (started here, or reused from REGISTRY_TEST_SWIFT_URL).

The all-in-one is built by :func:`docker_registry.drivers.swift.testing.start_swift`. An
external Swift is used instead when ``REGISTRY_TEST_SWIFT_URL`` names its auth v1 URL
(``REGISTRY_TEST_SWIFT_USER`` and ``REGISTRY_TEST_SWIFT_KEY`` default to the tempauth test
user; the token-expiry test also needs its memcached as
``REGISTRY_TEST_SWIFT_MEMCACHED=host:port``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from docker_registry.drivers.swift import SwiftDriver
from docker_registry.drivers.swift.testing import KEY, USER, SwiftService, start_swift

TEMP_URL_KEY = "conformance-temp-url-key"
#: Small segments make the suite's 5 MiB streams Static Large Objects.
SMALL_SEGMENTS = 1024 * 1024


@pytest.fixture(scope="session")
def swift() -> Iterator[SwiftService]:
    """The Swift under test: ``REGISTRY_TEST_SWIFT_URL``'s, or a private all-in-one."""
    existing = os.environ.get("REGISTRY_TEST_SWIFT_URL", "").strip()
    if existing:
        service = SwiftService(
            auth_url=existing,
            user=os.environ.get("REGISTRY_TEST_SWIFT_USER", USER),
            key=os.environ.get("REGISTRY_TEST_SWIFT_KEY", KEY),
            memcached=os.environ.get("REGISTRY_TEST_SWIFT_MEMCACHED") or None,
        )
    else:
        service = start_swift()
    # NOTE: TempURLs are signed with the account's key: set it once for the session.
    conn = service.connection()
    conn.post_account({"X-Account-Meta-Temp-URL-Key": TEMP_URL_KEY})
    conn.close()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def container(swift: SwiftService) -> str:
    """A fresh container for this session (a reused Swift may hold other runs' data)."""
    return f"registry-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_driver(swift: SwiftService, container: str) -> Iterator[Callable[..., SwiftDriver]]:
    """Build drivers on a private ``storage_path``; options override the defaults here."""
    made: list[SwiftDriver] = []
    storage_path = f"/run-{uuid.uuid4().hex[:12]}"

    def make(**options: Any) -> SwiftDriver:
        values: dict[str, Any] = {
            "swift_authurl": swift.auth_url,
            "swift_user": swift.user,
            "swift_password": swift.key,
            "swift_auth_version": "1",
            "swift_container": container,
            "swift_segment_size": SMALL_SEGMENTS,
            "swift_temp_url_key": TEMP_URL_KEY,
            "swift_retries": 2,
            "storage_path": storage_path,
            **options,
        }
        driver = SwiftDriver(**values)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.close()


def segment_names(swift: SwiftService, driver: SwiftDriver) -> list[str]:
    """Names in the driver's segments container under its ``storage_path``."""
    conn = swift.connection()
    try:
        _, listing = conn.get_container(
            driver.settings.segment_container, prefix=driver.settings.prefix, full_listing=True
        )
    finally:
        conn.close()
    return [entry["name"] for entry in listing]


@pytest.fixture
def segments(swift: SwiftService) -> Callable[[SwiftDriver], list[str]]:
    """``segments(driver)``: the segment objects under the driver's prefix right now."""
    return lambda driver: segment_names(swift, driver)
