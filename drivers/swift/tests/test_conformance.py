"""The ``swift`` driver passes the shared conformance suite against a real Swift."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from docker_registry.drivers.swift import SwiftDriver
from docker_registry.testing.conformance import BaseDriverTests


@pytest.fixture
def driver(
    make_driver: Callable[..., SwiftDriver], segments: Callable[[SwiftDriver], list[str]]
) -> Iterator[SwiftDriver]:
    driver = make_driver()
    yield driver
    # NOTE: the suite cannot see the segments container: check it for leftovers here.
    assert segments(driver) == [], "segments left behind in the segments container"


class TestSwiftDriver(BaseDriverTests):
    pass
