"""Every hook is documented and tested (datasette's rule).

A hook of :mod:`docker_registry.core.hookspecs` fails this test when it has no docstring
(or its docstring misses a ``:param:`` or an example), when ``docs/plugins.md`` does not
show its signature, or when no test called ``test_hook_<name>`` exists under
``core/tests`` or ``plugins/*/tests``.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from docker_registry.core import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins.md"


def _hooks() -> dict[str, object]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, marker)
    }


HOOKS = _hooks()


def _signature(function: object) -> str:
    names = list(inspect.signature(function).parameters)  # type: ignore[arg-type]
    return f"{function.__name__}({', '.join(names)})"  # type: ignore[attr-defined]


def _test_names() -> set[str]:
    folders = [ROOT / "core" / "tests", *sorted((ROOT / "plugins").glob("*/tests"))]
    found: set[str] = set()
    for folder in folders:
        for path in folder.rglob("test_*.py"):
            found.update(re.findall(r"^def (test_hook_\w+)\(", path.read_text(), re.M))
    return found


def test_hooks_are_found() -> None:
    assert {"registry_event", "registry_routes", "registry_startup"} <= set(HOOKS)
    assert all(name.startswith("registry_") for name in HOOKS)


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(HOOKS[name]) or ""
    assert doc.strip(), f"hook {name} has no docstring"
    for parameter in inspect.signature(HOOKS[name]).parameters:  # type: ignore[arg-type]
        assert f":param {parameter}:" in doc, f"hook {name}: no ':param {parameter}:'"
    assert "Example::" in doc, f"hook {name}: no example in its docstring"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_is_documented(name: str) -> None:
    docs = DOCS.read_text()
    signature = _signature(HOOKS[name])
    assert f"### `{signature}`" in docs, f"docs/plugins.md has no section '### `{signature}`'"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_is_tested(name: str) -> None:
    assert f"test_hook_{name}" in _test_names(), (
        f"no test named test_hook_{name} under core/tests or plugins/*/tests"
    )
