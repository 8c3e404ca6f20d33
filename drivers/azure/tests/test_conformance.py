"""The ``azure`` driver passes the shared conformance suite against Azurite."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from docker_registry.drivers.azure import AzureDriver
from docker_registry.testing.conformance import BaseDriverTests


@pytest.fixture
def driver(make_driver: Callable[..., AzureDriver]) -> AzureDriver:
    return make_driver()


class TestAzureDriver(BaseDriverTests):
    pass
