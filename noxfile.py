"""The one task runner. Sessions are computed from the folders.

nox                   every default session: lint, typecheck, each package's tests,
                      each driver's conformance run, the driver template out of tree,
                      the end-to-end suite, dist (build, check and smoke-test every
                      distribution), the container image, docs
nox -l                list sessions
nox -s driver-file    one driver's conformance and unit tests
nox -s e2e -- -k v1   pass pytest options after --
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import nox
from packaging.requirements import Requirement

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
FOLDERS = ["core", *(f"drivers/{name}" for name in DRIVERS)]
FOLDERS += [f"plugins/{name}" for name in PLUGINS]

# NOTE: tool versions are pinned so that a new release cannot turn CI red on its own;
# raise them on purpose, in one commit with the fixes they ask for.
RUFF = "ruff==0.17.6"
IMPORT_LINTER = "import-linter==2.17"
TWINE = "twine==7.0.0"
DOCS = ["mkdocs==1.6.1", "mkdocstrings==1.0.8", "mkdocstrings-python==2.0.11"]


def _editable(folder: str) -> list[str]:
    extras = "[test]" if "test" in _project(folder).get("optional-dependencies", {}) else ""
    return ["-e", f"./{folder}{extras}"]


def _project(folder: str) -> dict:
    with open(ROOT / folder / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]


def _install(session: nox.Session, *folders: str) -> None:
    """Install core, the file driver and ``folders`` editable, in one resolution.

    NOTE: the distributions depend on each other by name (as published); naming every
    folder in one install lets the resolver take them from here instead of an index.
    Runtime and [test] dependencies on other distributions of this repository (glance's
    tests need the swift driver) are added the same way.
    """
    local = {_project(folder)["name"]: folder for folder in FOLDERS}
    wanted = ["core", "drivers/file", *folders]
    for folder in folders:
        project = _project(folder)
        requirements = project.get("dependencies", []) + project.get(
            "optional-dependencies", {}
        ).get("test", [])
        for requirement in requirements:
            name = Requirement(requirement).name
            if name in local:
                wanted.append(local[name])
    arguments: list[str] = []
    for folder in dict.fromkeys(wanted):
        arguments += _editable(folder)
    session.install(*arguments)


def _install_everything(session: nox.Session) -> None:
    _install(session, *FOLDERS)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole monorepo, and the core's layer rules (import-linter contracts
    in pyproject.toml); pinned versions."""
    _install(session)
    session.install(RUFF, IMPORT_LINTER)
    session.run("ruff", "check", ".")
    session.run("lint-imports")


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
    _install(session)
    session.run("pytest", "core/tests", *session.posargs)


def _driver_session(name: str) -> None:
    @nox.session(name=f"driver-{name}")
    def run(session: nox.Session) -> None:
        _install(session, f"drivers/{name}")
        session.run("pytest", f"drivers/{name}/tests", *session.posargs)

    run.__doc__ = f"the {name} driver: shared conformance suite and its own tests"


def _plugin_session(name: str) -> None:
    @nox.session(name=f"plugin-{name}")
    def run(session: nox.Session) -> None:
        _install(session, f"plugins/{name}")
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


@nox.session
def dist(session: nox.Session) -> None:
    """Build, check and install every distribution as an index would serve it.

    sdist + wheel of each (the wheel built from the sdist), ``twine check --strict``,
    metadata an index needs (.ci/packaging/check_metadata.py), then fresh venvs from the built
    wheels only, each running ``docker-registry plugins`` and a serve + push + pull; last,
    the README's command 1 in a fresh copy of the repository.
    """
    session.install("uv", TWINE, "requests", "pytest")
    session.run(
        "pytest", "-q", "-o", "pythonpath=.ci/packaging", ".ci/packaging/test_check_metadata.py"
    )
    out = Path(session.create_tmp()) / "dist"
    shutil.rmtree(out, ignore_errors=True)
    session.run("uv", "build", "--all-packages", "--quiet", "--out-dir", str(out))
    built = sorted(str(path) for path in out.iterdir() if path.suffix in (".whl", ".gz"))
    if len(built) != 2 * len(FOLDERS):
        session.error(f"expected an sdist and a wheel for each of {len(FOLDERS)} folders: {built}")
    session.run("twine", "check", "--strict", *built)
    session.run("python", ".ci/packaging/check_metadata.py", *built)
    names = [_project(folder)["name"] for folder in FOLDERS]
    # NOTE: the mission's promise first, then every other driver and plugin on its own.
    sets = ["registry-core,registry-driver-gcs"]
    sets += [name for name in names if name not in ("registry-core", "registry-driver-gcs")]
    session.run("python", ".ci/packaging/smoke.py", str(out), *sets)
    # NOTE: the README's command 1 in a fresh copy: pip, no uv, everything in one folder.
    session.run("python", ".ci/packaging/quick_start.py")


#: podman's storage for the image session: the imported base and the layers of earlier
#: builds are kept there, apart from the user's own images.
CONTAINER_STORAGE = Path("/var/tmp/docker-registry-container")


@nox.session
def container(session: nox.Session) -> None:
    """The container image (deploy/container) and the deployment files (deploy/).

    deploy/container/build.sh makes the Debian base with mmdebstrap (cached under
    /var/tmp/docker-registry-container, keyed on base-packages.txt) and builds the image
    from this repository's wheels; then deploy/tests runs it with podman (as root) and
    pushes and pulls through it with skopeo, oras and a v1 client, and checks the
    Kubernetes manifests and the systemd unit. Pass pytest options after ``--``.
    """
    # NOTE: the S3 driver for its test helpers (moto), which the replicas test uses.
    _install(session, "drivers/s3")
    session.install("uv", "pip")
    image = "localhost/docker-registry:nox"
    env = {
        "IMAGE": image,
        "DOCKER_REGISTRY_IMAGE": image,
        "PYTHON": "python",
        "UV": "uv",
        "PODMAN_OPTIONS": f"--root {CONTAINER_STORAGE / 'storage'} "
        f"--runroot {CONTAINER_STORAGE / 'run'}",
    }
    session.run("bash", "deploy/container/build.sh", env=env, external=True)
    # NOTE: each build leaves the previous image untagged; the storage is this session's.
    session.run(
        "podman", *env["PODMAN_OPTIONS"].split(), "image", "prune", "--force",
        external=True, silent=True,
    )  # fmt: skip
    session.run("pytest", "deploy/tests", *session.posargs, env=env)


@nox.session(name="driver-template")
def driver_template(session: nox.Session) -> None:
    """The driver template (docs/examples/driver-template), as a third party uses it.

    Copied out of the repository, installed against registry-core and the file driver
    built as wheels (not this checkout), then its tests: the whole conformance suite and
    its streaming test. Pass pytest options after ``--``.
    """
    session.install("uv")
    tmp = Path(session.create_tmp())
    wheels = tmp / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    for folder in ("core", "drivers/file"):
        session.run("uv", "build", "--wheel", "--quiet", "--out-dir", str(wheels), folder)
    core_wheel, file_wheel = (
        next(wheels.glob(f"{name}-*.whl")) for name in ("registry_core", "registry_driver_file")
    )
    project = tmp / "driver-template"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(ROOT / "docs" / "examples" / "driver-template", project)
    # NOTE: --force-reinstall: a reused venv holds the previous build under the same version.
    session.install("--force-reinstall", f"{core_wheel}[testing]", str(file_wheel), str(project))
    session.chdir(project)
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", "tests", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, strict: a broken link or an unresolved reference fails; and
    configuration.md's key tables are those every distribution declares."""
    _install_everything(session)
    session.run("docker-registry", "config", "docs", "--check", "docs/configuration.md")
    session.install(*DOCS)
    site = Path(session.create_tmp()) / "site"
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site))
