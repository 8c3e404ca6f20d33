"""The layer rule import-linter cannot see: only layout modules know storage names.

Resources and services ask :mod:`docker_registry.core.v1.layout` and
:mod:`docker_registry.core.v2.layout` for paths and for what listed names mean; a storage
name spelled anywhere else (``"_uploads"``, ``f"{path}/_private"``) is a second copy of
the layout that drifts. Docstrings may name them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import docker_registry.core

CORE = Path(docker_registry.core.__file__).parent
LAYOUT_MODULES = {
    CORE / "v1" / "layout.py",
    CORE / "v2" / "layout.py",
    CORE / "storage" / "paths.py",
}
#: Names of the registry's own folders and files in the two layouts.
STORAGE_NAMES = (
    "_layers",
    "_manifests",
    "_uploads",
    "_referrers",
    "_v1bridge",
    "_upload_secret",
    "_gc_history",
    "/docker/registry",
    "_index_images",
    "_images_list",
    "_private",
    "_inprogress",
    "_checksum",
    "_mirror",
    "_v1index",
    "_scanned",
)
#: A storage name as a word of its own (``registry_uploads_in_flight`` is not one).
_SPELLED = re.compile(rf"(?<![\w])({'|'.join(re.escape(name) for name in STORAGE_NAMES)})(?![\w])")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def storage_names_outside_layouts(
    core: Path = CORE, layouts: set[Path] = LAYOUT_MODULES
) -> list[str]:
    found = []
    for source in sorted(core.rglob("*.py")):
        if source in layouts:
            continue
        tree = ast.parse(source.read_text(), str(source))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            if id(node) in docstrings:
                continue
            for match in _SPELLED.finditer(node.value):
                where = f"{source.relative_to(core)}:{node.lineno}"
                found.append(f"{where}: {node.value!r} spells {match[1]!r}")
    return found


def test_only_layout_modules_spell_storage_names():
    assert storage_names_outside_layouts() == []


def test_the_check_sees_a_storage_name_in_code(tmp_path):
    # The rule must be able to fail: a module that builds a path itself is reported.
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "uploads.py").write_text(
        'PATH = f"{root}/_uploads/{upload_id}"\nMETRIC = "registry_uploads_in_flight"\n'
    )
    (tmp_path / "v2" / "layout.py").write_text('UPLOADS = "_uploads"\n')
    found = storage_names_outside_layouts(tmp_path, {tmp_path / "v2" / "layout.py"})
    assert found == ["v2/uploads.py:1: '/_uploads/' spells '_uploads'"]
