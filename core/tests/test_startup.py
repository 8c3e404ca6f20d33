"""Start-up failures are one line and exit 2; ``config check --connect`` probes storage.

Every case runs the real command (``python -m docker_registry.core``) in a subprocess:
``serve`` in one process and with ``--workers``, ``config check --connect``, and the WSGI
entry point called by a real process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_registry.testing.cli import modules_of_an_app

#: A driver whose constructor refuses its database, as an out-of-tree SQLite driver did.
NOT_A_DATABASE = """
from docker_registry.core.storage import DriverOption, StorageError
from docker_registry.core.storage.inmemory import InMemoryDriver


class BrokenDBDriver(InMemoryDriver):
    name = "brokendb"
    options = (DriverOption("brokendb_path", str, required=True, help="the database file"),)

    def __init__(self, *, brokendb_path):
        raise StorageError(
            f"{brokendb_path}: file is not a database; point brokendb_path at a database",
            driver=self.name, operation="__init__", path="/",
        )
"""


@pytest.fixture(scope="module")
def broken_db_site(tmp_path_factory, install_distribution) -> Path:
    return install_distribution(
        tmp_path_factory.mktemp("brokendb"),
        "registry-brokendb",
        NOT_A_DATABASE,
        """
        [project.entry-points."docker_registry.drivers"]
        brokendb = "registry_brokendb:BrokenDBDriver"
        """,
    )


def _serve(run_cli, config: Path, *extra: str, env: dict[str, str] | None = None):
    return run_cli(
        "serve", "--config", str(config), "--host", "127.0.0.1", "--port", "0", *extra, env=env
    )


def _one_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "workers"])
def test_driver_constructor_storage_error_is_one_line(
    run_cli, write_config, broken_db_site, tmp_path, workers
):
    db = tmp_path / "registry.db"
    db.write_text("not sqlite")
    config = write_config(f"dev:\n  storage: brokendb\n  brokendb_path: {db}\n")
    result = _serve(run_cli, config, *workers, env={"PYTHONPATH": str(broken_db_site)})
    line = _one_line(
        result,
        "start-up error",
        str(config),
        "'brokendb' storage driver cannot start",
        f"{db}: file is not a database",
        "brokendb_path",
        "config check --connect",
    )
    assert line.startswith("docker-registry: start-up error: ")
    # NOTE: `config check` reads the configuration only; --connect starts the driver.
    env = {"PYTHONPATH": str(broken_db_site)}
    assert run_cli("config", "check", "--config", str(config), env=env).returncode == 0
    connect = run_cli("config", "check", "--connect", "--config", str(config), env=env)
    line = _one_line(connect, "'brokendb' storage driver cannot start", "file is not a database")
    assert "config check --connect" not in line


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "workers"])
def test_storage_root_that_cannot_be_created(run_cli, write_config, tmp_path, workers):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    root = blocker / "data"
    config = write_config(f"dev:\n  storage: file\n  storage_path: {root}\n")
    _one_line(
        _serve(run_cli, config, *workers),
        f"cannot create the storage root {root}: Not a directory [ENOTDIR]",
        "set storage_path to a folder",
        "'file' storage driver cannot start",
    )
    _one_line(
        run_cli("config", "check", "--connect", "--config", str(config)),
        f"cannot create the storage root {root}",
    )


@pytest.fixture
def unwritable_root() -> Iterator[tuple[Path, list[str]]]:
    """A storage root the command cannot write, and the prefix that runs it as a user
    who cannot (root writes anywhere: then the command runs as nobody via setpriv)."""
    top = Path(tempfile.mkdtemp(prefix="registry-unwritable-"))
    top.chmod(0o755)
    root = top / "root"
    root.mkdir(mode=0o555)
    root.chmod(0o555)
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "root runs this test as nobody through setpriv (util-linux)"
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    yield root, prefix
    root.chmod(0o755)
    shutil.rmtree(top)


def _run_as(prefix: list[str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REGISTRY_", "SETTINGS_FLAVOR", "DOCKER_REGISTRY_CONFIG"))
    }
    return subprocess.run(
        [*prefix, sys.executable, "-m", "docker_registry.core", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "workers"])
def test_storage_root_that_cannot_be_written(unwritable_root, workers):
    root, prefix = unwritable_root
    config = root.parent / "config.yml"
    config.write_text(f"dev:\n  storage: file\n  storage_path: {root}\n")
    config.chmod(0o644)
    args = ("serve", "--config", str(config), "--host", "127.0.0.1", "--port", "0", *workers)
    _one_line(
        _run_as(prefix, root.parent, *args),
        f"the storage root {root} is not writable by the registry's user",
        "set storage_path to a folder it can write",
    )
    connect = _run_as(prefix, root.parent, "config", "check", "--connect", "--config", str(config))
    _one_line(connect, f"the storage root {root} is not writable")
    assert os.listdir(root) == []


def test_connect_probes_a_good_file_root_and_leaves_nothing(run_cli, write_config, tmp_path):
    root = tmp_path / "data"
    config = write_config(f"dev:\n  storage: file\n  storage_path: {root}\n")
    result = run_cli("config", "check", "--connect", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "storage 'file': connected, probe object written, read back, listed and deleted" in (
        result.stdout
    )
    # NOTE: only the driver's (hidden) staging folder; the probe and its folder are gone.
    assert sorted(os.listdir(root)) == [".registry-staging"]


def test_wsgi_entry_point_logs_one_line_and_answers_503(write_config, broken_db_site, tmp_path):
    config = write_config("dev:\n  storage: brokendb\n  brokendb_path: /nonexistent.db\n")
    script = textwrap.dedent("""
        import wsgiref.util
        from docker_registry.core.wsgi import application

        for _ in range(3):
            environ = {}
            wsgiref.util.setup_testing_defaults(environ)
            statuses = []
            body = b"".join(application(environ, lambda status, headers: statuses.append(status)))
            print(statuses[0], body.decode())
    """)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REGISTRY_", "SETTINGS_FLAVOR"))
    }
    env.update(DOCKER_REGISTRY_CONFIG=str(config), PYTHONPATH=str(broken_db_site))
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    answers = result.stdout.strip().splitlines()
    assert len(answers) == 3
    assert all(answer.startswith("503 Service Unavailable") for answer in answers), answers
    assert "the registry cannot start: start-up error" in answers[0]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "docker-registry: start-up error:" in lines[0]
    assert "/nonexistent.db: file is not a database" in lines[0]


def test_a_worker_imports_password_and_token_libraries_only_when_configured(tmp_path):
    # PERF: PyJWT, cryptography and bcrypt cost ~9 MiB in every worker; the htpasswd and
    # bearer backends load them when chosen, not because they are offered.
    plain = modules_of_an_app({"storage": "inmemory"})
    assert {"jwt", "cryptography", "bcrypt"}.isdisjoint(plain), plain
    assert "falcon" in plain
    accounts = tmp_path / "htpasswd"
    accounts.write_text("")
    chosen = modules_of_an_app(
        {"storage": "inmemory", "auth_backend": "htpasswd", "htpasswd": {"path": str(accounts)}}
    )
    assert "bcrypt" in chosen
