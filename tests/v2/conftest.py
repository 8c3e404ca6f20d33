"""Fixtures of the v2 black-box suite (helpers live in ``v2support``)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# NOTE: --import-mode=importlib puts no test folder on sys.path; the helpers need it.
sys.path.insert(0, str(Path(__file__).parent))

from v2support import Server, start_ours, start_reference


@pytest.fixture
def ours(tmp_path) -> Iterator[Server]:
    """Our registry, deletes enabled, fresh storage."""
    server = start_ours(tmp_path / "ours")
    yield server
    server.process.stop()


@pytest.fixture
def reference(tmp_path) -> Iterator[Server]:
    """The reference registry, fresh storage."""
    server = start_reference(tmp_path / "reference")
    yield server
    server.process.stop()


@pytest.fixture(scope="module", params=["ours", "reference"])
def target(request, tmp_path_factory) -> Iterator[Server]:
    """Each conformance module runs once against ours and once against the reference."""
    workdir = tmp_path_factory.mktemp(request.param)
    server = start_ours(workdir) if request.param == "ours" else start_reference(workdir)
    yield server
    server.process.stop()


@pytest.fixture
def tool_root() -> Iterator[Path]:
    """A scratch folder for clients' own storage (podman --root and so on).

    Short, under /tmp: podman refuses a runroot longer than 50 characters.
    """
    path = Path(tempfile.mkdtemp(prefix="v2t-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
