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


@pytest.fixture(scope="module")
def missing_dependency_site(tmp_path_factory, install_distribution) -> Path:
    """A driver distribution whose entry point is installed but whose import fails."""
    return install_distribution(
        tmp_path_factory.mktemp("missingdep"),
        "registry-missingdep",
        "import no_such_backend_library\n\nclass MissingDepDriver:\n    pass\n",
        """
        [project.entry-points."docker_registry.drivers"]
        missingdep = "registry_missingdep:MissingDepDriver"
        """,
    )


def test_driver_that_cannot_be_imported_is_marked_not_hidden(run_cli, missing_dependency_site):
    from docker_registry.core.storage.factory import IMPORT_FAILURE_MARK

    result = run_cli("plugins", env={"PYTHONPATH": str(missing_dependency_site)})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    broken = next(line for line in lines if line.split()[:1] == ["missingdep"])
    assert "registry-missingdep 1.2.3" in broken
    assert f"[{IMPORT_FAILURE_MARK}: ModuleNotFoundError: No module named " in broken
    assert "no_such_backend_library" in broken
    assert "pip install --force-reinstall registry-missingdep" in broken
    # NOTE: the drivers that import are listed without the mark.
    good = next(line for line in lines if line.split()[:1] == ["file"])
    assert IMPORT_FAILURE_MARK not in good


def test_packaging_smoke_test_looks_for_the_same_mark():
    """.ci/packaging/smoke.py fails a wheel whose driver `plugins` marks: same words."""
    from docker_registry.core.storage.factory import IMPORT_FAILURE_MARK

    smoke = Path(__file__).parents[2] / ".ci" / "packaging" / "smoke.py"
    assert f'"{IMPORT_FAILURE_MARK}" in line' in smoke.read_text()
