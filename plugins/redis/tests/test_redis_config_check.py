"""`docker-registry config check` checks this plugin's keys: a bad value is one line naming
the key, exit status 2 (issue 14 §3)."""

from __future__ import annotations

from docker_registry.testing.cli import config_check, error_lines


def test_a_bad_value_is_one_line_naming_the_key(tmp_path):
    path, result = config_check(tmp_path, "  cache_lru:\n    host: h\n    port: 99999\n")
    assert result.returncode == 2, result.stdout
    (line,) = error_lines(result)
    assert "key 'cache_lru.port'" in line and "65535" in line and str(path) in line
    assert "Traceback" not in result.stderr
