"""Fixtures for the black-box suite: live `docker-registry serve` processes over HTTP."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from docker_registry.testing.services import ServiceProcess

# NOTE: --import-mode=importlib puts no test folder on sys.path; the helpers need it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from registry_process import start_registry_process


@dataclass
class LiveRegistry:
    """A registry process serving on loopback.

    :param url: base URL, e.g. ``http://127.0.0.1:41234``.
    :param host: ``127.0.0.1:41234``, as clients such as skopeo want it.
    :param storage_path: the file driver's root (``None`` for other drivers).
    :param process: the running service (``process.pid`` for RSS measurements).
    """

    url: str
    host: str
    storage_path: Path | None
    config_path: Path
    process: ServiceProcess

    def log(self) -> str:
        return self.process.log_tail(200)


StartRegistry = Callable[..., LiveRegistry]


@pytest.fixture
def start_registry(tmp_path_factory) -> Iterator[StartRegistry]:
    """Start registries with ``start_registry(**config_values)``; all stop at teardown.

    Values are written to a config file (flavor ``test``) on top of file storage in a
    fresh folder; pass ``storage_path=`` to serve an existing tree, or ``storage=`` and the
    driver's keys for another driver.
    """
    started: list[ServiceProcess] = []

    def start(
        *, threads: int = 4, workers: int = 1, env: dict[str, str] | None = None, **values
    ) -> LiveRegistry:
        workdir = tmp_path_factory.mktemp("registry")
        config: dict = {
            "storage": "file",
            "storage_path": str(workdir / "data"),
            "loglevel": "info",
            "standalone": True,
        }
        config.update(values)
        process, port = start_registry_process(
            workdir, config, threads=threads, workers=workers, env=env
        )
        started.append(process)
        storage = config.get("storage_path") if config["storage"] in ("file", "local") else None
        return LiveRegistry(
            url=f"http://127.0.0.1:{port}",
            host=f"127.0.0.1:{port}",
            storage_path=Path(storage) if storage else None,
            config_path=workdir / "config.yml",
            process=process,
        )

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def registry(start_registry: StartRegistry) -> LiveRegistry:
    """One registry on file storage with default settings."""
    return start_registry()
