"""Fixtures of the deployment tests: the image under test, and the black-box suite's clients.

The image is ``$DOCKER_REGISTRY_IMAGE`` when set (``nox -s container`` builds it first),
else deploy/container/build.sh builds it here (the base tarball is cached, so a second
build takes a minute or less).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# NOTE: --import-mode=importlib puts no test folder on sys.path; the clients of the
# black-box suite (v1client, v2support) live in tests/ and tests/v2.
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "v2")]


@pytest.fixture(scope="session")
def image() -> str:
    """The registry image to run (built by deploy/container/build.sh)."""
    name = os.environ.get("DOCKER_REGISTRY_IMAGE")
    if name:
        return name
    name = "localhost/docker-registry:test"
    done = subprocess.run(
        ["bash", str(ROOT / "deploy" / "container" / "build.sh")],
        env={**os.environ, "IMAGE": name, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, f"deploy/container/build.sh failed:\n{done.stdout}\n{done.stderr}"
    return name
