"""docs/writing-a-driver.md keeps its promises: the case count and the one-module import."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import docker_registry.core.storage as storage

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-driver.md"


def test_documented_case_count_is_what_the_suite_runs():
    collected = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            str(Path(__file__).parent / "test_inmemory_conformance.py"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    count = int(re.search(r"(\d+) tests? collected", collected).group(1))
    text = DOC.read_text()
    assert f"The whole suite ({count} cases)" in text
    assert f"# {count} passed" in text


def test_every_name_of_the_documented_import_is_exported():
    block = re.search(
        r"from docker_registry\.core\.storage import \((.*?)\)", DOC.read_text(), re.S
    )
    names = [name.strip() for name in block.group(1).split(",") if name.strip()]
    assert "ConfigError" in names
    assert [name for name in names if name not in storage.__all__] == []
