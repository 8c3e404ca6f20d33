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


def _install_distribution(tmp_path: Path, name: str, module_source: str, entry_points: str) -> Path:
    source = tmp_path / f"{name}-src"
    package = source / "src" / name.replace("-", "_")
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(module_source))
    (source / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "{name}"
        version = "1.2.3"

        [tool.hatch.build.targets.wheel]
        packages = ["src/{name.replace("-", "_")}"]
        """)
        + textwrap.dedent(entry_points)
    )
    target = tmp_path / f"{name}-site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


@pytest.fixture(scope="session")
def install_distribution():
    """``install_distribution(tmp_path, name, module_source, entry_points_toml) -> site``:
    build a throwaway distribution (one module, version 1.2.3) and pip-install it into its
    own folder, for a real process to see through ``PYTHONPATH``."""
    return _install_distribution
