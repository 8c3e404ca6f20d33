"""Fixtures: htpasswd files written by Apache's ``htpasswd -B``, the real application with
the bearer backend and this issuer on the file driver."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import falcon.testing
import pytest

from docker_registry.core.app import create_app
from docker_registry.core.config import Settings

# NOTE: --import-mode=importlib puts no test folder on sys.path; the helpers need it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from issuersupport import ACCESS, ISSUER, PASSWORDS, SERVICE, basic, write_htpasswd

__all__ = ["ISSUER", "PASSWORDS"]


@dataclass
class IssuerApp:
    client: falcon.testing.TestClient
    storage_path: Path
    htpasswd: Path

    def token(self, account: str | None, *scopes: str) -> dict[str, Any]:
        headers = {"Authorization": basic(account)} if account else {}
        response = self.client.simulate_get(
            "/token", params={"service": SERVICE, "scope": list(scopes)}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json


@pytest.fixture
def htpasswd(tmp_path) -> Path:
    return write_htpasswd(tmp_path / "htpasswd", PASSWORDS)


@pytest.fixture
def make_issuer_app(tmp_path, htpasswd):
    def make(token_issuer: dict[str, Any] | None = None, **values: Any) -> IssuerApp:
        storage_path = tmp_path / "data"
        config = {
            "storage": "file",
            "storage_path": str(storage_path),
            "auth_backend": "bearer",
            "delete_enabled": True,
            "bearer": {"service": SERVICE, "issuer": ISSUER},
            "htpasswd": {"path": str(htpasswd), "access": ACCESS, "max_failed_logins": 3},
            "token_issuer": token_issuer if token_issuer is not None else {},
        }
        config.update(values)
        app = create_app(Settings.from_mapping(config))
        return IssuerApp(falcon.testing.TestClient(app), storage_path, htpasswd)

    return make


@pytest.fixture
def issuer_app(make_issuer_app) -> IssuerApp:
    return make_issuer_app()
