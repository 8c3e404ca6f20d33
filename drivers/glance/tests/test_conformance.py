"""The ``glance`` driver passes the shared conformance suite against a real glance-api.

The suite's paths are not layer-shaped, so they exercise the delegation to the
alternate (``file``) driver; ``test_glance_driver.py`` covers the layers in Glance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from docker_registry.drivers.glance import GlanceDriver
from docker_registry.drivers.glance.testing import GlanceService
from docker_registry.testing.conformance import BaseDriverTests


@pytest.fixture
def driver(
    make_driver: Callable[..., GlanceDriver], glance: GlanceService
) -> Iterator[GlanceDriver]:
    driver = make_driver()
    yield driver
    # NOTE: nothing the suite wrote may have become (or stayed) a Glance image.
    assert glance.images(docker_registry_namespace=driver.namespace) == []


class TestGlanceDriver(BaseDriverTests):
    pass
