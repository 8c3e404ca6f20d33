"""The default index lives with the data: two registries never share one.

Built from the packaged defaults (the quick start's configuration), not from a test
mapping, so a change of the shipped default is caught here.
"""

from __future__ import annotations

from pathlib import Path

import falcon.testing
import pytest

from docker_registry.core.app import create_app
from docker_registry.core.config import Settings, load_settings
from docker_registry.core.storage import Storage, create_driver
from docker_registry.plugins.sqlalchemy.index import DEFAULT_FILE, database_url


def quick_start_client(
    storage_path: Path, monkeypatch: pytest.MonkeyPatch
) -> falcon.testing.TestClient:
    monkeypatch.setenv("STORAGE_PATH", str(storage_path))
    settings = load_settings(None, None)
    storage = Storage(create_driver(settings.storage, settings.values))
    return falcon.testing.TestClient(create_app(settings, storage=storage))


def names(client: falcon.testing.TestClient) -> list[str]:
    result = client.simulate_get("/v1/search", params={"q": ""})
    assert result.status_code == 200, result.text
    return [item["name"] for item in result.json["results"]]


@pytest.fixture
def quick_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The README's environment: packaged defaults, SEARCH_BACKEND=sqlalchemy."""
    for name in ("DOCKER_REGISTRY_CONFIG", "SETTINGS_FLAVOR", "SQLALCHEMY_INDEX_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("STORAGE_PATH", raising=False)
    monkeypatch.setenv("SEARCH_BACKEND", "sqlalchemy")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_second_instance_with_other_storage_does_not_see_the_first_ones_repositories(
    quick_start: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = quick_start_client(quick_start / "first", monkeypatch)
    created = first.simulate_put("/v1/repositories/team/web/", body="[]")
    assert created.status_code == 200, created.text
    assert names(first) == ["team/web"]

    second = quick_start_client(quick_start / "second", monkeypatch)
    assert names(second) == []
    assert (quick_start / "first" / DEFAULT_FILE).is_file()
    assert (quick_start / "second" / DEFAULT_FILE).is_file()
    assert not list(quick_start.glob("*.sqlite")), "nothing outside the storage folders"


def test_default_index_of_a_relative_storage_path_is_in_that_folder(quick_start: Path) -> None:
    settings = load_settings(None, None)  # STORAGE_PATH unset: ./registry-data
    expected = quick_start / "registry-data" / DEFAULT_FILE
    assert database_url(settings) == f"sqlite:///{expected}"


def test_default_index_of_another_driver_is_in_the_working_folder(quick_start: Path) -> None:
    settings = Settings.from_mapping({"storage": "inmemory"})
    assert database_url(settings) == f"sqlite:///{quick_start / DEFAULT_FILE}"


def test_configured_database_wins() -> None:
    url = "postgresql+psycopg://registry@db.example/registry"
    settings = Settings.from_mapping({"sqlalchemy_index_database": url})
    assert database_url(settings) == url
