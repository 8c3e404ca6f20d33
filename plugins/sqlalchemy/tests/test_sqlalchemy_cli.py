"""``docker-registry index rebuild`` and start-up faults, as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from docker_registry.plugins.sqlalchemy.index import SqlIndex
from docker_registry.testing.services import free_port


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REGISTRY_", "SETTINGS_FLAVOR", "DOCKER_REGISTRY_CONFIG"))
    }
    return subprocess.run(
        [sys.executable, "-m", "docker_registry.core", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def write_config(tmp_path: Path, database: str) -> Path:
    config = tmp_path / "config.yml"
    config.write_text(
        "dev:\n"
        "  storage: file\n"
        f"  storage_path: {tmp_path / 'data'}\n"
        "  search_backend: sqlalchemy\n"
        f"  sqlalchemy_index_database: {database}\n"
    )
    return config


def _touch(root: Path, relative: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_index_rebuild_walks_v1_and_v2_storage(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "data"
    _touch(data, "repositories/library/ubuntu/tag_latest")
    _touch(data, "repositories/team/web%252Fapp/_index_images")
    _touch(data, "docker/registry/v2/repositories/a/b/c/_manifests/tags/1/current/link")
    index = SqlIndex.connect(database_url)
    index.setup()
    index.upsert("library/ubuntu", "kept")
    index.upsert("deleted/long-ago")
    config = write_config(tmp_path, database_url)

    result = run_cli("index", "rebuild", "--config", str(config), "--flavor", "dev", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "search index rebuilt: 3 repositories in storage, 2 added, 1 removed, 1 kept" in (
        result.stdout
    )
    assert "scanning storage: 3 found" in result.stderr
    assert "updating index: [##############################] 3/3 100%" in result.stderr
    assert index.names() == ["a/b/c", "library/ubuntu", "team/web/app"]
    assert index.search("ubuntu", 1, None)[1] == [{"description": "kept", "name": "library/ubuntu"}]
    index.close()


def test_rebuild_with_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://registry@127.0.0.1:{free_port()}/index"
    config = write_config(tmp_path, url)
    result = run_cli("index", "rebuild", "--config", str(config), "--flavor", "dev", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot connect to the search index database" in lines[0]


def test_serve_with_unreachable_database_exits_2_with_one_line(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://registry:hunter2@127.0.0.1:{free_port()}/index"
    config = write_config(tmp_path, url)
    result = run_cli(
        "serve",
        "--config",
        str(config),
        "--flavor",
        "dev",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("docker-registry: configuration error: ")
    assert "key 'sqlalchemy_index_database'" in lines[0]
    assert "flavor 'dev'" in lines[0]
    assert "hunter2" not in lines[0]


def test_hook_registry_commands(tmp_path: Path) -> None:
    result = run_cli("index", "rebuild", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "--config FILE" in result.stdout
    listed = run_cli("plugins", cwd=tmp_path)
    assert "registry_commands" in listed.stdout
