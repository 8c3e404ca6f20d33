"""The one task runner. Sessions are computed from the folders.

nox                   every default session: lint, typecheck, each package's tests,
                      each driver's conformance run, the end-to-end suite
nox -l                list sessions
nox -s driver-file    one driver's conformance and unit tests
nox -s e2e -- -k v1   pass pytest options after --
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True


def _packages(folder: str) -> list[str]:
    base = ROOT / folder
    if not base.is_dir():
        return []
    return sorted(path.name for path in base.iterdir() if (path / "pyproject.toml").is_file())


DRIVERS = _packages("drivers")
PLUGINS = _packages("plugins")


def _install_core(session: nox.Session) -> None:
    # NOTE: core depends on the file driver by direct reference; reinstall the driver
    # editable afterwards so changes to it are picked up without a rebuild.
    session.install("-e", "./core[test]")
    session.install("--no-deps", "-e", "./drivers/file")


def _install_package(session: nox.Session, folder: str) -> None:
    extras = "[test]" if "test" in (ROOT / folder / "pyproject.toml").read_text() else ""
    session.install("-e", f"./{folder}{extras}")


def _install_everything(session: nox.Session) -> None:
    _install_core(session)
    for name in DRIVERS:
        if name != "file":
            _install_package(session, f"drivers/{name}")
    for name in PLUGINS:
        _install_package(session, f"plugins/{name}")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole monorepo."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over every package's sources."""
    _install_everything(session)
    session.install("mypy", "types-PyYAML", "types-requests")
    sources = ["core/src/docker_registry"]
    sources += [f"drivers/{name}/src/docker_registry" for name in DRIVERS]
    sources += [f"plugins/{name}/src/docker_registry" for name in PLUGINS]
    session.run("mypy", *sources)


@nox.session
def core(session: nox.Session) -> None:
    """registry-core's unit tests, incl. the conformance suite on the inmemory driver."""
    _install_core(session)
    session.run("pytest", "core/tests", *session.posargs)


def _driver_session(name: str) -> None:
    @nox.session(name=f"driver-{name}")
    def run(session: nox.Session) -> None:
        _install_core(session)
        if name != "file":
            _install_package(session, f"drivers/{name}")
        session.run("pytest", f"drivers/{name}/tests", *session.posargs)

    run.__doc__ = f"the {name} driver: shared conformance suite and its own tests"


def _plugin_session(name: str) -> None:
    @nox.session(name=f"plugin-{name}")
    def run(session: nox.Session) -> None:
        _install_core(session)
        _install_package(session, f"plugins/{name}")
        session.run("pytest", f"plugins/{name}/tests", *session.posargs)

    run.__doc__ = f"the {name} plugin's tests"


for _name in DRIVERS:
    _driver_session(_name)
for _name in PLUGINS:
    _plugin_session(_name)


@nox.session
def e2e(session: nox.Session) -> None:
    """Black-box tests: a live `docker-registry serve` over HTTP, real clients."""
    _install_everything(session)
    session.run("pytest", "tests", *session.posargs)
