"""Shared fixtures for registry-core's tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m docker_registry.core ARGS`` as a real process."""
    full_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REGISTRY_", "SETTINGS_FLAVOR", "DOCKER_REGISTRY_CONFIG"))
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "docker_registry.core", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a YAML config file from text and return its path."""

    def write(text: str, name: str = "config.yml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def run_cli():
    """Run ``python -m docker_registry.core ARGS`` as a real process; returns the result."""
    return _run_cli
