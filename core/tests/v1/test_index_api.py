"""Standalone index routes R20-R26 and search R27 (spec §2.4, §2.5)."""

from __future__ import annotations

import json
import re
import sys
import types

TOKEN = re.compile(r'^Token signature=[A-Z0-9]{16},repository="([^"]+)",access=(\w+)$')


def test_users(v1):
    for path in ("/v1/users", "/v1/users/"):
        assert v1.client.simulate_get(path).json == "OK"
    response = v1.client.simulate_post("/v1/users/", body='{"username": "x"}')
    assert response.status_code == 201 and response.json == "User Created"
    response = v1.client.simulate_post("/v1/users/", body="not json")
    assert response.status_code == 400 and response.json == {"error": "Error Decoding JSON"}
    response = v1.client.simulate_put("/v1/users/someone/", body="{}")
    assert response.status_code == 204 and response.content == b""


def test_index_images_lifecycle(v1):
    a, b = "a" * 16, "b" * 16
    response = v1.client.simulate_put(
        "/v1/repositories/test/repo/",
        body=json.dumps([{"id": a}, {"id": b}]),
        headers={"Host": "registry.example:5000"},
    )
    assert response.status_code == 200 and response.json == ""
    match = TOKEN.match(response.headers["X-Docker-Token"])
    assert match and match.groups() == ("test/repo", "write")
    assert response.headers["WWW-Authenticate"] == response.headers["X-Docker-Token"]
    assert response.headers["X-Docker-Endpoints"] == "registry.example:5000"
    final = [{"id": a, "checksum": "tarsum+sha256:1", "junk": 1}, {"id": b}]
    response = v1.client.simulate_put("/v1/repositories/test/repo/images", body=json.dumps(final))
    assert response.status_code == 204
    response = v1.client.simulate_get("/v1/repositories/test/repo/images")
    assert response.status_code == 200
    assert TOKEN.match(response.headers["X-Docker-Token"]).group(2) == "read"
    assert sorted(response.json, key=lambda item: item["id"]) == [
        {"checksum": "tarsum+sha256:1", "id": a},
        {"id": b},
    ]
    response = v1.client.simulate_delete("/v1/repositories/test/repo/images")
    assert response.status_code == 204
    assert TOKEN.match(response.headers["X-Docker-Token"]).group(2) == "delete"
    response = v1.client.simulate_put("/v1/repositories/test/repo/auth")
    assert response.status_code == 200 and response.json == "OK"


def test_index_errors(v1):
    response = v1.client.simulate_get("/v1/repositories/test/none/images")
    assert response.status_code == 404 and response.json == {"error": "images not found"}
    url = "/v1/repositories/test/repo/"
    response = v1.client.simulate_put(url, body="nope")
    assert response.json == {"error": "Error Decoding JSON"}
    for body in (
        '{"id": "x"}',
        '[{"id": "XYZ"}]',
        "[1]",
        '[{"id": "' + "a" * 16 + '", "checksum": 5}]',
    ):
        response = v1.client.simulate_put(url, body=body)
        assert response.status_code == 400 and response.json == {"error": "Invalid data"}


def test_registry_endpoints_setting(make_app):
    v1 = make_app(registry_endpoints="r1.example, r2.example")
    response = v1.client.simulate_put("/v1/repositories/foo/", body="[]")
    assert response.headers["X-Docker-Endpoints"] == "r1.example, r2.example"


def test_index_routes_not_mounted_without_standalone(make_app):
    v1 = make_app(standalone=False, disable_token_auth=True)
    assert v1.client.simulate_put("/v1/repositories/foo/bar/", body="[]").status_code == 405
    assert v1.client.simulate_get("/v1/repositories/foo/bar/images").status_code == 404
    assert v1.client.simulate_get("/v1/users").status_code == 404
    assert v1.client.simulate_get("/v1/repositories/foo/bar/tags").status_code == 404


def test_search_without_backend_scans_storage(v1):
    response = v1.client.simulate_get("/v1/search", params={"q": "abc"})
    assert response.status_code == 200
    assert response.json == {"num_results": 0, "query": "abc", "results": []}
    image_id, _, _ = v1.upload()
    v1.client.simulate_put("/v1/repositories/foo/abcd/tags/latest", body=json.dumps(image_id))
    v1.storage.put_content("/docker/registry/v2/repositories/v2/abc/_manifests/tags/x", b"")
    response = v1.client.simulate_get("/v1/search", params={"q": "abc"})
    assert response.json["results"] == [
        {"description": None, "name": "foo/abcd"},
        {"description": None, "name": "v2/abc"},
    ]


def test_storage_search_backend(make_app, v1):
    app = make_app(storage=v1.storage, search_backend="storage")
    image_id, _, _ = v1.upload()
    for name in ("foo/bar", "foo/baz", "other/thing", "ns/we ird"):
        v1.client.simulate_put(f"/v1/repositories/{name}/tags/latest", body=json.dumps(image_id))
    response = app.client.simulate_get("/v1/search", params={"q": "ba"})
    assert response.json == {
        "num_results": 2,
        "query": "ba",
        "results": [
            {"description": None, "name": "foo/bar"},
            {"description": None, "name": "foo/baz"},
        ],
    }
    assert app.client.simulate_get("/v1/search").json["num_results"] == 4
    assert app.client.simulate_get("/v1/search", params={"q": "we ird"}).json["results"] == [
        {"description": None, "name": "ns/we ird"}
    ]
    paged = app.client.simulate_get("/v1/search", params={"n": "1", "page": "2"}).json
    assert paged["num_results"] == 4 and paged["page"] == 2 and paged["num_pages"] == 4
    assert paged["results"] == [{"description": None, "name": "foo/baz"}]
    response = app.client.simulate_get("/v1/search", params={"n": "x"})
    assert response.status_code == 400


def test_seed_module_search_backend(make_app, monkeypatch):
    module = types.ModuleType("my_search_index")

    class Index:
        def results(self, term):
            return [{"name": "lib/" + term, "description": "from module"}]

    module.Index = Index
    monkeypatch.setitem(sys.modules, "my_search_index", module)
    v1 = make_app(search_backend="my_search_index")
    assert v1.client.simulate_get("/v1/search", params={"q": "x"}).json == {
        "num_results": 1,
        "query": "x",
        "results": [{"description": "from module", "name": "lib/x"}],
    }
