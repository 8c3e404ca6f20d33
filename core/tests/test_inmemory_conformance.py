"""The in-core ``inmemory`` driver passes the shared conformance suite."""

import pytest

from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.testing.conformance import BaseDriverTests


@pytest.fixture
def driver() -> InMemoryDriver:
    return InMemoryDriver()


class TestInMemoryDriver(BaseDriverTests):
    pass
