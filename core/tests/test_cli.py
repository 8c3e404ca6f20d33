"""The docker-registry command as a real process: serve, config show|check, plugins."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_one_line_config_error(result: subprocess.CompletedProcess[str], *fragments: str):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("docker-registry: configuration error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_serve_answers_ping_over_http_from_file_storage(tmp_path):
    port = _free_port()
    storage = tmp_path / "data"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "docker_registry.core",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--threads",
            "2",
        ],
        env={"STORAGE_PATH": str(storage), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_ping", timeout=2) as resp:
                    assert resp.status == 200
                    assert resp.headers["X-Docker-Registry-Standalone"] == "True"
                    assert resp.read() == b"{}"
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "registry did not answer /_ping in 20 s"
                time.sleep(0.1)
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert f"serving on http://127.0.0.1:{port}" in output
    assert "storage file" in output


def test_serve_port_in_use_is_one_clear_line(run_cli, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            "serve", "--host", "127.0.0.1", "--port", str(port), env={"STORAGE_PATH": str(tmp_path)}
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_accepts_the_packaged_defaults(run_cli, tmp_path):
    result = run_cli("config", "check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "configuration OK: flavor 'dev'" in result.stdout
    assert "storage 'file'" in result.stdout


def test_config_check_accepts_local_alias(run_cli, write_config):
    path = write_config("dev:\n  storage: local\n  storage_path: /tmp/x\n")
    result = run_cli("config", "check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "storage 'file'" in result.stdout


def test_config_check_yaml_syntax_error(run_cli, write_config):
    path = write_config("dev:\n  storage: [file\n")
    _assert_one_line_config_error(run_cli("config", "check", "--config", str(path)), str(path))


def test_config_check_unknown_flavor(run_cli, write_config):
    path = write_config("dev:\n  storage: file\n")
    result = run_cli("config", "check", "--config", str(path), "--flavor", "nope")
    _assert_one_line_config_error(result, "nope", str(path))


def test_config_check_wrong_type(run_cli, write_config):
    path = write_config("dev:\n  storage: file\n  debug: [1, 2]\n")
    _assert_one_line_config_error(
        run_cli("config", "check", "--config", str(path)), "debug", "'dev'", str(path)
    )


def test_config_check_unknown_driver_lists_installed_and_says_what_to_install(
    run_cli, write_config
):
    path = write_config("prod:\n  storage: elliptics\n")
    result = run_cli("config", "check", "--config", str(path), "--flavor", "prod")
    _assert_one_line_config_error(
        result,
        "storage",
        "'prod'",
        str(path),
        "unknown storage driver 'elliptics' (installed: ",
        "file, ",
        "inmemory",
        "install it with 'pip install a package providing the 'elliptics' driver'",
    )


def test_first_party_drivers_name_their_distribution():
    from docker_registry.core.storage.factory import install_hint

    assert install_hint("gcs") == "pip install registry-driver-gcs"
    assert install_hint("oss") == "pip install registry-driver-s3"
    assert install_hint("mystery") == "pip install a package providing the 'mystery' driver"


def test_config_check_driver_option_of_wrong_type(run_cli, write_config):
    path = write_config("dev:\n  storage: file\n  storage_path: [a, b]\n")
    _assert_one_line_config_error(
        run_cli("config", "check", "--config", str(path)),
        "storage_path",
        "expected a string",
    )


def test_config_check_missing_file(run_cli, tmp_path):
    missing = tmp_path / "absent.yml"
    _assert_one_line_config_error(
        run_cli("config", "check", "--config", str(missing)), str(missing)
    )


def test_config_check_unreadable_file(run_cli, write_config):
    import os

    if os.geteuid() == 0:
        # NOTE: root reads any file; a directory in place of the file is unreadable for all.
        path = write_config("dev: {}\n").parent / "a-directory.yml"
        path.mkdir()
    else:
        path = write_config("dev: {}\n")
        path.chmod(0)
    _assert_one_line_config_error(run_cli("config", "check", "--config", str(path)), str(path))


def test_config_check_via_environment(run_cli, write_config):
    path = write_config("common:\n  loglevel: info\nstaging:\n  storage: inmemory\n")
    result = run_cli(
        "config", "check", env={"DOCKER_REGISTRY_CONFIG": str(path), "SETTINGS_FLAVOR": "staging"}
    )
    assert result.returncode == 0, result.stderr
    assert "flavor 'staging'" in result.stdout
    assert "storage 'inmemory'" in result.stdout


def test_config_show_masks_secrets(run_cli, write_config):
    path = write_config(
        "dev:\n  storage: file\n  s3_secret_key: hunter2\n  cache_lru:\n    password: pw\n"
    )
    result = run_cli("config", "show", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert "pw\n" not in result.stdout
    assert "s3_secret_key: '***'" in result.stdout
    assert "# flavor: dev" in result.stdout


def test_plugins_lists_drivers_and_core_plugin(run_cli):
    result = run_cli("plugins")
    assert result.returncode == 0, result.stderr
    assert "file" in result.stdout and "registry-driver-file" in result.stdout
    assert "inmemory" in result.stdout
    assert "core" in result.stdout and "registry_routes" in result.stdout


def test_version_flag(run_cli):
    from docker_registry.core import __version__

    result = run_cli("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_version_flag_lists_core_drivers_and_plugins_with_versions(run_cli):
    from importlib import metadata

    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"docker-registry {metadata.version('registry-core')} (registry-core)"
    file_version = metadata.version("registry-driver-file")
    assert f"  file         registry-driver-file {file_version}" in lines
    assert "plugins:" in lines
    assert any(line.split()[:2] == ["v2", "registry-core"] for line in lines)
