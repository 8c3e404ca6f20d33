"""The ``file`` driver passes the shared conformance suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_registry.drivers.file import FileDriver
from docker_registry.testing.conformance import BaseDriverTests


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[FileDriver]:
    driver = FileDriver(storage_path=str(tmp_path / "root"))
    yield driver
    # NOTE: the suite cannot see the staging directory (it is never listed): check it here.
    staged = os.listdir(driver.staging_dir) if os.path.isdir(driver.staging_dir) else []
    assert staged == [], f"temporary files left in the staging directory: {staged}"


class TestFileDriver(BaseDriverTests):
    pass
