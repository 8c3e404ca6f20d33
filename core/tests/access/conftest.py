"""Fixtures of the access-control tests: htpasswd files written by Apache's own
``htpasswd -B``, an app on the inmemory driver with the htpasswd backend."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import falcon.testing
import pytest

from docker_registry.core.app import create_app
from docker_registry.core.config import Settings
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver

# NOTE: --import-mode=importlib puts no test folder on sys.path; the helpers need it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from authsupport import ACCESS, PASSWORDS, write_htpasswd


@dataclass
class AuthApp:
    client: falcon.testing.TestClient
    storage: Storage


@pytest.fixture(scope="session")
def htpasswd_file(tmp_path_factory) -> Path:
    return write_htpasswd(tmp_path_factory.mktemp("htpasswd") / "htpasswd", PASSWORDS)


@pytest.fixture
def make_auth_app(htpasswd_file):
    def make(storage: Storage | None = None, **values: Any) -> AuthApp:
        storage = storage or Storage(InMemoryDriver())
        htpasswd = {
            "path": str(htpasswd_file),
            "realm": "test registry",
            "groups": {"admins": ["admin"]},
            "access": ACCESS,
            **values.pop("htpasswd", {}),
        }
        config = {"auth_backend": "htpasswd", "delete_enabled": True, "htpasswd": htpasswd}
        config.update(values)
        app = create_app(Settings.from_mapping(config), storage=storage)
        return AuthApp(falcon.testing.TestClient(app), storage)

    return make
