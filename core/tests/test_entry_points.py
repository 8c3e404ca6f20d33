"""Real entry-point discovery: distributions installed into a temporary environment.

Each test distribution is built and installed by pip into its own folder, which a real
``docker-registry`` process then sees through ``PYTHONPATH``: the same metadata lookup a
user's ``pip install registry-driver-x`` goes through, without monkeypatching.
"""

from __future__ import annotations

from pathlib import Path

import pytest

GOOD_MODULE = """
from docker_registry.core import hookimpl
from docker_registry.core.hookspecs import SearchBackendSpec
from docker_registry.core.storage import DriverOption
from docker_registry.core.storage.inmemory import InMemoryDriver


class NeedyDriver(InMemoryDriver):
    name = "needy"
    options = (DriverOption("needy_bucket", str, required=True, help="bucket to use"),
               DriverOption("needy_token", str, secret=True))

    def __init__(self, *, needy_bucket, needy_token):
        super().__init__()
        self.bucket = needy_bucket


@hookimpl
def registry_search_backends():
    yield SearchBackendSpec("sample", lambda registry: None, "a sample backend")


@hookimpl
def registry_startup(app, registry):
    pass
"""


@pytest.fixture(scope="module")
def good_site(tmp_path_factory, install_distribution) -> Path:
    return install_distribution(
        tmp_path_factory.mktemp("good"),
        "registry-sample-ext",
        GOOD_MODULE,
        """
        [project.entry-points."docker_registry.drivers"]
        needy = "registry_sample_ext:NeedyDriver"

        [project.entry-points."docker_registry.plugins"]
        sample = "registry_sample_ext"
        """,
    )


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory, install_distribution) -> Path:
    return install_distribution(
        tmp_path_factory.mktemp("broken"),
        "registry-broken-ext",
        "import no_such_module_anywhere\n",
        """
        [project.entry-points."docker_registry.plugins"]
        broken = "registry_broken_ext"
        """,
    )


def test_installed_driver_and_plugin_are_listed_with_versions(run_cli, good_site):
    result = run_cli("plugins", env={"PYTHONPATH": str(good_site)})
    assert result.returncode == 0, result.stderr
    assert "needy" in result.stdout
    lines = result.stdout.splitlines()
    driver_line = next(line for line in lines if line.strip().startswith("needy"))
    assert "registry-sample-ext 1.2.3" in driver_line
    plugin_line = next(line for line in lines if line.strip().startswith("sample"))
    assert "registry-sample-ext 1.2.3" in plugin_line
    assert "registry_search_backends" in plugin_line and "registry_startup" in plugin_line


def test_installed_driver_is_chosen_by_config(run_cli, good_site, write_config):
    path = write_config("dev:\n  storage: needy\n  needy_bucket: b1\n")
    result = run_cli("config", "check", "--config", str(path), env={"PYTHONPATH": str(good_site)})
    assert result.returncode == 0, result.stderr
    assert "storage 'needy'" in result.stdout
    assert result.stderr == ""


def test_misspelt_driver_option_is_named(run_cli, good_site, write_config):
    path = write_config("dev:\n  storage: needy\n  needy_bucket: b1\n  needy_tokn: t\n")
    result = run_cli("config", "check", "--config", str(path), env={"PYTHONPATH": str(good_site)})
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == (
        f"warning: {path}, flavor 'dev', key 'needy_tokn': not an option of the 'needy' "
        "storage driver (its options: needy_bucket, needy_token)"
    )


def test_missing_required_driver_option_is_one_line(run_cli, good_site, write_config):
    path = write_config("dev:\n  storage: needy\n")
    result = run_cli("config", "check", "--config", str(path), env={"PYTHONPATH": str(good_site)})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"docker-registry: configuration error: {path}, flavor 'dev', key 'needy_bucket': "
        "required by the 'needy' storage driver (bucket to use)"
    )


def test_broken_plugin_fails_startup_naming_it_and_its_distribution(run_cli, broken_site, tmp_path):
    result = run_cli("config", "check", cwd=tmp_path, env={"PYTHONPATH": str(broken_site)})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert "plugin 'broken'" in message
    assert "registry-broken-ext 1.2.3" in message
    assert "no_such_module_anywhere" in message
