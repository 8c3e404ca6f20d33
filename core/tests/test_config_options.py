"""``config check`` validates every declared key; ``serve``'s values are checked too.

Issue 14 §3: each case below once passed ``config check`` and failed later (or never).
The command runs as a real process with registry-core and the file driver; each plugin's
suite checks its own keys the same way (``docker_registry.testing.cli.config_check``).
"""

from __future__ import annotations

import pluggy
import pytest

from docker_registry.core import defaults, hookspecs
from docker_registry.core.config import ConfigError, ConfigErrors, Settings
from docker_registry.core.config.keys import CORE_DISTRIBUTION_OPTIONS
from docker_registry.core.config.options import DriverOption, Option
from docker_registry.core.config.parsers import seconds
from docker_registry.core.config_sections import section_problems
from docker_registry.core.storage.driver import DriverOption as DriverOptionFromDriver


def _check(run_cli, write_config, text: str, *extra: str, env=None):
    path = write_config(f"dev:\n  storage: file\n  storage_path: /tmp/registry-options\n{text}")
    result = run_cli("config", "check", "--config", str(path), *extra, env=env)
    return path, result


def _error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if "configuration error" in line]


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("  upload_purge_age: abc\n", "upload_purge_age", "seconds"),
        ("  search_backend: nosuch\n", "search_backend", "nosuch"),
        ("  mirroring:\n    source: ftp://hub\n", "mirroring.source", "http(s) URL"),
        ("  mirroring:\n    source: http://hub\n    timeout: 0\n", "mirroring.timeout", "0"),
        ("  index_timeout: -3\n", "index_timeout", "seconds"),
    ],
)
def test_config_check_refuses_a_bad_value_in_one_line_naming_the_key(
    run_cli, write_config, text, key, words
):
    path, result = _check(run_cli, write_config, text)
    assert result.returncode == 2, result.stdout
    lines = _error_lines(result)
    assert len(lines) == 1, result.stderr
    assert f"key '{key}'" in lines[0] and words in lines[0] and str(path) in lines[0]
    assert "Traceback" not in result.stderr


def test_config_check_reports_every_bad_core_key_one_line_each(run_cli, write_config):
    text = "  upload_purge_age: abc\n  debug: maybe\n  max_manifest_size: -1\n"
    path, result = _check(run_cli, write_config, text)
    assert result.returncode == 2
    lines = _error_lines(result)
    keys = sorted(line.split("key '")[1].split("'")[0] for line in lines)
    assert keys == ["debug", "max_manifest_size", "upload_purge_age"], result.stderr
    assert all(str(path) in line for line in lines)
    with pytest.raises(ConfigErrors) as error:
        Settings.from_mapping({"debug": "maybe", "upload_purge_age": "abc"})
    assert [problem.key for problem in error.value.problems] == ["debug", "upload_purge_age"]


def test_config_check_reports_keys_and_sections_together(run_cli, write_config):
    text = "  search_backend: nosuch\n  mirroring:\n    source: x\n"
    _, result = _check(run_cli, write_config, text)
    assert result.returncode == 2
    keys = sorted(line.split("key '")[1].split("'")[0] for line in _error_lines(result))
    # NOTE: each plugin's tests check its own keys the same way (docker_registry.testing.cli).
    assert keys == ["mirroring.source", "search_backend"], result.stderr


def test_a_typo_is_a_warning_the_user_sees_with_the_key_meant(run_cli, write_config):
    path, result = _check(run_cli, write_config, "  storage_pth: /srv/registry\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == (
        f"warning: {path}, flavor 'dev', key 'storage_pth': not a known key: "
        "did you mean 'storage_path'?"
    )


def test_a_typo_inside_a_section_is_named_with_its_section(run_cli, write_config):
    text = "  mirroring:\n    source: http://hub\n    timout: 5\n"
    _, result = _check(run_cli, write_config, text)
    assert result.returncode == 0, result.stderr
    assert "key 'mirroring.timout': not a known key: did you mean 'mirroring.timeout'?" in (
        result.stderr
    )


def test_unset_keys_and_the_packaged_defaults_warn_about_nothing(run_cli, write_config, tmp_path):
    _, result = _check(run_cli, write_config, "  cache:\n    host:\n  somewhere_else: ''\n")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    packaged = run_cli("config", "check", cwd=tmp_path)
    assert packaged.returncode == 0 and packaged.stderr == "", packaged.stderr


def _core_only() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(defaults)
    return manager


def test_cache_lru_without_the_redis_plugin_names_cache_lru():
    settings = Settings.from_mapping({"storage": "file", "cache_lru": {"host": "127.0.0.1"}})
    problems = section_problems(settings, _core_only())
    assert [problem.key for problem in problems] == ["cache_lru"]
    assert "pip install registry-plugin-redis" in str(problems[0])
    explicit = Settings.from_mapping({"storage": "file", "cache_backend": "memcached"})
    assert [problem.key for problem in section_problems(explicit, _core_only())] == [
        "cache_backend"
    ]


def test_server_values_are_checked_in_one_line(run_cli, write_config):
    path = write_config("dev:\n  storage: file\n  storage_path: /tmp/registry-options\n")
    cases = [
        ((["--port", "99999"], {}), "--port 99999"),
        ((["--port", "-1"], {}), "--port -1"),
        ((["--port", "http"], {}), "--port http"),
        ((["--threads", "0"], {}), "--threads 0"),
        (([], {"REGISTRY_THREADS": "0"}), "REGISTRY_THREADS=0"),
        (([], {"REGISTRY_WORKERS": "-2"}), "REGISTRY_WORKERS=-2"),
        (([], {"REGISTRY_PORT": "65536"}), "REGISTRY_PORT=65536"),
    ]
    for (args, env), named in cases:
        result = run_cli("serve", "--config", str(path), *args, env=env, timeout=20)
        assert result.returncode == 2, (named, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0], (named, result.stderr)


def test_option_types_ranges_defaults_and_secrets():
    ttl = Option("x.ttl", seconds, 3.0, max=10)
    assert ttl.read({"x": {"ttl": "4"}}) == 4.0
    assert ttl.read({"x": {"ttl": " "}}) == 3.0
    assert ttl.read({}) == 3.0
    with pytest.raises(ConfigError, match="at most 10") as error:
        ttl.read({"x": {"ttl": 11}})
    assert error.value.key == "x.ttl"
    with pytest.raises(ConfigError, match="finite"):
        Option("x", float, max=10).read({"x": float("nan")})
    # NOTE: without bounds a plain float stays as YAML gave it (a driver's `.inf`).
    assert Option("x", float).read({"x": float("inf")}) == float("inf")
    flag = Option("flag", bool)
    assert flag.read({"flag": 1}) is True
    with pytest.raises(ConfigError, match="expected bool, got str 'yes please'"):
        flag.read({"flag": "yes please"})
    hidden = Option("pass", int, secret=True)
    with pytest.raises(ConfigError) as error:
        hidden.read({"pass": "hunter2"})
    assert "hunter2" not in str(error.value) and "hidden" in str(error.value)
    with pytest.raises(ConfigError, match="required"):
        Option("needed", str, required=True).read({})
    count = Option("n", int, min=1)
    with pytest.raises(ConfigError, match="expected int"):
        count.read({"n": True})


def test_driver_option_is_the_option_type_for_out_of_tree_drivers():
    assert DriverOption is Option is DriverOptionFromDriver
    legacy = DriverOption("sqlite_path", str, "/tmp/x.db", False, True, "database file")
    assert (legacy.default, legacy.secret, legacy.help) == ("/tmp/x.db", True, "database file")


def test_every_core_key_is_declared_once():
    names = [option.name for option in CORE_DISTRIBUTION_OPTIONS]
    assert len(names) == len(set(names))
    assert all(option.help for option in CORE_DISTRIBUTION_OPTIONS)


def test_serve_logs_a_typo_once_logging_is_set_up(tmp_path, write_config):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = write_config(
        f"dev:\n  storage: file\n  storage_path: {tmp_path / 'data'}\n  storage_pth: x\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "docker_registry.core", "serve", "--config", str(path)],
        env={"REGISTRY_HOST": "127.0.0.1", "REGISTRY_PORT": str(port), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_ping", timeout=2):
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "registry did not answer /_ping in 20 s"
                time.sleep(0.1)
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    warnings = [line for line in output.splitlines() if "storage_pth" in line]
    assert len(warnings) == 1, output
    assert "WARNING" in warnings[0] and "did you mean 'storage_path'?" in warnings[0]
