"""docs/writing-a-driver.md keeps its promises: the case count, the one-module import, and
the worked example, which must be the driver template CI tests (nox -s driver-template)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import docker_registry.core.storage as storage

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-driver.md"
TEMPLATE = DOC.parent / "examples" / "driver-template"


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
    assert f"The whole suite ({count} cases, one of them opt-in)" in text
    # NOTE: the template's run: the suite but its opt-in case, plus its own streaming tests.
    streaming = (TEMPLATE / "tests" / "test_streaming.py").read_text().count("\ndef test_")
    assert f"# {count - 1 + streaming} passed, 1 skipped" in text


def test_every_name_of_the_documented_import_is_exported():
    block = re.search(
        r"from docker_registry\.core\.storage import \((.*?)\)", DOC.read_text(), re.S
    )
    names = [name.strip() for name in block.group(1).split(",") if name.strip()]
    assert "ConfigError" in names
    assert [name for name in names if name not in storage.__all__] == []


def test_the_worked_example_is_the_tested_driver_template():
    """Every file of the template appears in section 8 as a block, verbatim, and every
    block captioned with a file name there is that file."""
    text = DOC.read_text()
    end = text.index("## 9. An object-store driver")
    section = text[text.index("## 8. A complete example") : end]
    shown = dict(re.findall(r"^`([^`\n]+)`:\n\n```\w*\n(.*?)^```$", section, re.M | re.S))
    files = {
        str(path.relative_to(TEMPLATE)): path.read_text()
        for path in sorted(TEMPLATE.rglob("*"))
        if path.is_file() and path.suffix in (".py", ".toml")
    }
    assert sorted(shown) == sorted(files)
    for name, content in files.items():
        assert shown[name] == content, f"{name} in the doc differs from the template's"
