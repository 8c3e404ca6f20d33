"""The plugin inside the application: /v1/search, events from v1 and v2, faults."""

from __future__ import annotations

import json
import logging
from typing import Any

import falcon.testing
import pytest

from docker_registry.core.app import create_app
from docker_registry.core.config import Settings
from docker_registry.core.hookspecs import Event, hookimpl
from docker_registry.core.registry import Registry
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.plugins.sqlalchemy import SERVICE_KEY

IMAGE_ID = "a" * 64
V2 = "/docker/registry/v2/repositories"


class CaptureRegistry:
    """A test plugin keeping the running registry, to emit events as the APIs do."""

    registry: Registry | None = None

    @hookimpl
    def registry_startup(self, app: Any, registry: Registry) -> None:
        self.registry = registry


def make_client(url: str, storage: Storage | None = None, **values: Any):
    capture = CaptureRegistry()
    settings = Settings.from_mapping(
        {"search_backend": "sqlalchemy", "sqlalchemy_index_database": url, **values}
    )
    app = create_app(
        settings, storage=storage or Storage(InMemoryDriver()), extra_plugins=[capture]
    )
    assert capture.registry is not None
    return falcon.testing.TestClient(app), capture.registry


def search(client: falcon.testing.TestClient, query: str, **params: Any) -> dict:
    result = client.simulate_get("/v1/search", params={"q": query, **params})
    assert result.status_code == 200, result.text
    return result.json


def test_v1_index_push_tag_and_delete_update_the_index(database_url: str) -> None:
    client, _ = make_client(database_url, delete_enabled=True)
    assert search(client, "") == {"num_results": 0, "query": "", "results": []}
    created = client.simulate_put("/v1/repositories/team/web/", body="[]")
    assert created.status_code == 200, created.text
    assert search(client, "WEB")["results"] == [{"description": "", "name": "team/web"}]

    client.simulate_put(f"/v1/images/{IMAGE_ID}/json", body=json.dumps({"id": IMAGE_ID}))
    tagged = client.simulate_put("/v1/repositories/other/app/tags/latest", body=f'"{IMAGE_ID}"')
    assert tagged.status_code == 200, tagged.text
    assert search(client, "app")["results"] == [{"description": None, "name": "other/app"}]

    deleted = client.simulate_delete("/v1/repositories/team/web/")
    assert deleted.status_code == 200, deleted.text
    assert search(client, "")["results"] == [{"description": None, "name": "other/app"}]


def test_search_route_pages_with_n_and_page(sqlite_url: str) -> None:
    client, registry = make_client(sqlite_url)
    for number in range(5):
        registry.emit(Event("tag", f"ns/r{number}", "v1", tag="latest"))
    body = search(client, "ns/", n=2, page=2)
    assert body["num_results"] == 5
    assert body["page"] == 2 and body["page_size"] == 2 and body["num_pages"] == 3
    assert [item["name"] for item in body["results"]] == ["ns/r2", "ns/r3"]


def test_v2_manifest_events_index_and_unindex(database_url: str) -> None:
    storage = Storage(InMemoryDriver())
    client, registry = make_client(database_url, storage=storage)
    registry.emit(
        Event("push", "deep/name/space", "v2", reference="sha256:1", details={"kind": "blob"})
    )
    assert search(client, "")["num_results"] == 0  # a blob alone is no repository
    link = f"{V2}/deep/name/space/_manifests/revisions/sha256/{'1' * 64}/link"
    storage.put_content(link, b"sha256:" + b"1" * 64)
    registry.emit(Event("push", "deep/name/space", "v2", reference="sha256:1"))
    assert search(client, "name/sp")["results"] == [
        {"description": None, "name": "deep/name/space"}
    ]
    registry.emit(Event("delete", "deep/name/space", "v2", reference="sha256:1"))
    assert search(client, "")["num_results"] == 1  # a revision is still stored
    storage.delete(f"{V2}/deep/name/space/_manifests")
    registry.emit(Event("delete", "deep/name/space", "v2", reference="sha256:1"))
    assert search(client, "")["num_results"] == 0


def test_new_index_is_filled_from_storage_v1_and_v2(database_url: str) -> None:
    storage = Storage(InMemoryDriver())
    storage.put_content("/repositories/library/ubuntu/tag_latest", IMAGE_ID.encode())
    storage.put_content("/repositories/team/foo%2525%2524_-test/_index_images", b"[]")
    storage.put_content(f"{V2}/v2only/app/_manifests/tags/1.0/current/link", b"sha256:x")
    storage.put_content(f"{V2}/v2only/app/_layers/sha256/{'2' * 64}/link", b"sha256:x")
    storage.put_content(f"{V2}/uploadonly/_uploads/u1/startedat", b"now")
    client, _ = make_client(database_url, storage=storage)
    names = [item["name"] for item in search(client, "")["results"]]
    assert names == ["library/ubuntu", "team/foo%$_-test", "v2only/app"]


def test_search_metacharacters_and_bad_input_over_http(sqlite_url: str) -> None:
    client, registry = make_client(sqlite_url)
    registry.emit(Event("tag", "ns/100%_real", "v1", tag="latest"))
    registry.emit(Event("tag", "ns/other", "v1", tag="latest"))
    assert [r["name"] for r in search(client, "%_")["results"]] == ["ns/100%_real"]
    assert search(client, "x" * 100_000)["num_results"] == 0
    raw = client.simulate_get("/v1/search", query_string="q=%FF%FE%00abc")
    assert raw.status_code == 200
    assert raw.json["num_results"] == 0


def test_database_lost_while_running(own_postgres, new_database, caplog) -> None:
    url = new_database(own_postgres.url)
    client, _ = make_client(url)
    assert client.simulate_put("/v1/repositories/team/one/", body="[]").status_code == 200
    assert search(client, "one")["num_results"] == 1
    own_postgres.stop()

    result = client.simulate_get("/v1/search", params={"q": "one"})
    assert result.status_code == 503
    assert result.headers["content-type"].startswith("application/json")
    assert "search index unavailable" in result.json["error"]

    with caplog.at_level(logging.WARNING):
        pushed = client.simulate_put("/v1/repositories/team/two/", body="[]")
    assert pushed.status_code == 200  # the push itself never fails because of the index
    assert any("search index not updated" in record.message for record in caplog.records)
    assert client.simulate_get("/v1/repositories/team/two/images").status_code == 200
    assert client.simulate_get("/_ping").status_code == 200


def test_other_backend_leaves_the_plugin_idle(sqlite_url: str) -> None:
    settings = Settings.from_mapping({"search_backend": "storage"})
    capture = CaptureRegistry()
    create_app(settings, storage=Storage(InMemoryDriver()), extra_plugins=[capture])
    assert capture.registry is not None
    assert SERVICE_KEY not in capture.registry.services
    capture.registry.emit(Event("tag", "a/b", "v1", tag="latest"))  # no index: no error


@pytest.mark.parametrize("backend", ["sqlalchemy", "SQLAlchemy"])
def test_hook_registry_search_backends(backend: str, sqlite_url: str) -> None:
    client, registry = make_client(sqlite_url, search_backend=backend)
    assert "sqlalchemy" in registry.search_backends()
    assert registry.services[SERVICE_KEY].search("", 1, None) == (0, [])
    assert search(client, "")["num_results"] == 0
