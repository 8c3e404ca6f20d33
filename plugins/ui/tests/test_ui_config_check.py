"""`docker-registry config check` checks this plugin's keys: a bad value is one line naming
the key, exit status 2 (issue 14 §3)."""

from __future__ import annotations

from docker_registry.testing.cli import config_check, error_lines, modules_of_an_app


def test_a_bad_value_is_one_line_naming_the_key(tmp_path):
    path, result = config_check(tmp_path, "  ui:\n    page_size: 501\n")
    assert result.returncode == 2, result.stdout
    (line,) = error_lines(result)
    assert "key 'ui.page_size'" in line and "from 1 to 500" in line and str(path) in line
    assert "Traceback" not in result.stderr


def test_a_worker_loads_the_pages_on_the_first_visit_only() -> None:
    """Jinja2 and the templates (~3 MiB) are loaded by the first page asked for, not at
    start: most workers never render one."""
    modules = modules_of_an_app({"storage": "inmemory"})
    assert "docker_registry" in modules
    assert {"jinja2", "markupsafe"}.isdisjoint(modules)
