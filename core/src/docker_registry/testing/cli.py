"""Run ``docker-registry config check`` as a real process, for the tests of every
distribution that declares options (a plugin checks its own keys where it is installed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def config_check(directory: Path, text: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Write flavor ``dev`` (file storage, then the YAML lines ``text``, indented by two)
    to ``directory/config.yml`` and check it; return the file and the finished process."""
    path = directory / "config.yml"
    path.write_text(f"dev:\n  storage: file\n  storage_path: {directory / 'data'}\n{text}")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REGISTRY_", "SETTINGS_FLAVOR", "DOCKER_REGISTRY_CONFIG"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "docker_registry.core", "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return path, result


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The ``configuration error`` lines of a check."""
    return [line for line in result.stderr.splitlines() if "configuration error" in line]


def modules_of_an_app(values: dict[str, object]) -> set[str]:
    """The top-level modules a fresh interpreter holds once it built the application for
    the settings ``values`` (with every installed plugin), as a worker does at start."""
    script = (
        "import json, sys\n"
        "from docker_registry.core.app import create_app\n"
        "from docker_registry.core.config import Settings\n"
        f"create_app(Settings.from_mapping(json.loads({json.dumps(json.dumps(values))})))\n"
        "print(json.dumps(sorted({name.partition('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))
