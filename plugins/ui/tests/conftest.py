"""Fixtures of the UI's view tests: an application on the inmemory driver with the
plugin registered, filled through its own v2 API."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import falcon.testing
import pytest

from docker_registry.core import hookimpl
from docker_registry.core.app import create_app
from docker_registry.core.config import Settings
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver

# NOTE: --import-mode=importlib puts no test folder on sys.path; the helpers need it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from uisupport import Answer, Pusher


@dataclass
class UiApp:
    client: falcon.testing.TestClient
    storage: Storage
    push: Pusher
    registry: Any

    def get(self, path: str, **kwargs: Any) -> falcon.testing.Result:
        return self.client.simulate_get(path, **kwargs)


def _pusher(client: falcon.testing.TestClient, headers: dict[str, str]) -> Pusher:
    def send(method: str, path: str, body: bytes, extra: dict[str, str]) -> Answer:
        answer = client.simulate_request(method, path, body=body, headers={**headers, **extra})
        return Answer(answer.status_code, dict(answer.headers))

    return Pusher(send)


class _Capture:
    """Keeps the application's registry (plugins, settings) for the test."""

    def __init__(self) -> None:
        self.registry: Any = None

    @hookimpl
    def registry_startup(self, app, registry):
        self.registry = registry


@pytest.fixture
def make_ui() -> Callable[..., UiApp]:
    def make(
        push_headers: dict[str, str] | None = None, extra: tuple[Any, ...] = (), **values: Any
    ) -> UiApp:
        storage = Storage(InMemoryDriver())
        config = {"storage": "inmemory", "auth_backend": "open", **values}
        capture = _Capture()
        app = create_app(
            Settings.from_mapping(config), storage=storage, extra_plugins=[capture, *extra]
        )
        client = falcon.testing.TestClient(app)
        return UiApp(client, storage, _pusher(client, push_headers or {}), capture.registry)

    return make


@pytest.fixture
def ui(make_ui) -> UiApp:
    return make_ui(delete_enabled=True)
