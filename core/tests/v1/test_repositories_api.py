"""Tag and repository routes R11-R19 (spec §2.3)."""

from __future__ import annotations

import json

import pytest

from docker_registry.core.hookspecs import hookimpl

UA = "docker/0.7.2-dev go/go1.2 os/ostest arch/archtest"


class _Events:
    def __init__(self):
        self.events = []

    @hookimpl
    def registry_event(self, event, registry):
        self.events.append(event)


def _put_tag(v1, repo, tag, image_id, ua=UA):
    return v1.client.simulate_put(
        f"/v1/repositories/{repo}/tags/{tag}", body=json.dumps(image_id), headers={"User-Agent": ua}
    )


@pytest.mark.parametrize("name", ["foo/bar", "foo/abcde%$_-test"])
def test_tag_lifecycle(v1, name):
    image_id, _, _ = v1.upload()
    assert _put_tag(v1, name, "latest", image_id).status_code == 200
    assert _put_tag(v1, name, "test", image_id).status_code == 200
    assert v1.client.simulate_get(f"/v1/repositories/{name}/tags/latest").json == image_id
    metadata = v1.client.simulate_get(f"/v1/repositories/{name}/json").json
    assert metadata["arch"] == "archtest" and metadata["os"] == "ostest"
    assert metadata["docker_version"] == "0.7.2-dev"
    assert metadata["docker_go_version"] == "go1.2"
    assert isinstance(metadata["last_update"], int)
    _put_tag(v1, name, "latest", image_id, ua=UA.replace("archtest", "changedarch"))
    for path in ("json", "tags/latest/json"):
        data = v1.client.simulate_get(f"/v1/repositories/{name}/{path}").json
        assert data["arch"] == "changedarch"
    tags = v1.client.simulate_get(f"/v1/repositories/{name}/tags").json
    assert tags == {"latest": image_id, "test": image_id}
    assert v1.client.simulate_delete(f"/v1/repositories/{name}/tags/latest").status_code == 200
    assert v1.client.simulate_get(f"/v1/repositories/{name}/tags").status_code == 200
    response = v1.client.simulate_get(f"/v1/repositories/{name}/tags/latest")
    assert response.status_code == 404 and response.json == {"error": "Tag not found"}
    assert v1.client.simulate_delete(f"/v1/repositories/{name}/").status_code == 200
    response = v1.client.simulate_get(f"/v1/repositories/{name}/tags")
    assert response.status_code == 404 and response.json == {"error": "Repository not found"}


def test_storage_paths_of_tags(v1):
    image_id, _, _ = v1.upload()
    _put_tag(v1, "ns/foo%$_-test", "latest", image_id)
    assert v1.storage.get_content("/repositories/ns/foo%2525%2524_-test/tag_latest") == (
        image_id.encode()
    )
    assert v1.storage.exists("/repositories/ns/foo%2525%2524_-test/taglatest_json")
    _put_tag(v1, "ubuntu", "v1", image_id)
    assert v1.storage.exists("/repositories/library/ubuntu/tag_v1")
    assert v1.client.simulate_get("/v1/repositories/library/ubuntu/tags").json == {"v1": image_id}


def test_tag_names(v1):
    image_id, _, _ = v1.upload()
    for bad in ("$invalid", ".invalid", "-invalid", "x" * 129):
        response = _put_tag(v1, "foo/bar", bad, image_id)
        assert response.status_code == 400, bad
        assert response.json["error"].startswith("Invalid tag name")
    assert _put_tag(v1, "foo/bar", "_valid", image_id).status_code == 200
    # NOTE: the seed showed a phantom tag "valid_json" here (Q8)
    assert v1.client.simulate_get("/v1/repositories/foo/bar/tags").json == {"_valid": image_id}


def test_tag_body_errors(v1):
    for body in (b"", b"nope", b"{}", b'""', b"42", b"\xff"):
        response = v1.client.simulate_put("/v1/repositories/foo/bar/tags/t", body=body)
        assert response.status_code == 400 and response.json == {"error": "Invalid data"}
    response = v1.client.simulate_put("/v1/repositories/foo/bar/tags/t", body='"ABC"')
    assert response.status_code == 400
    response = _put_tag(v1, "foo/bar", "t", "0" * 16)
    assert response.status_code == 404 and response.json == {"error": "Image not found"}


def test_unknown_repository_and_tags(v1):
    assert v1.client.simulate_get("/v1/repositories/no/such/tags").status_code == 404
    response = v1.client.simulate_delete("/v1/repositories/no/such/tags/x")
    assert response.status_code == 404 and response.json == {"error": "Tag not found: x"}
    assert v1.client.simulate_delete("/v1/repositories/no/such/").status_code == 404
    default = {
        "arch": "amd64",
        "docker_go_version": None,
        "docker_version": None,
        "kernel": None,
        "last_update": None,
        "os": "linux",
    }
    assert v1.client.simulate_get("/v1/repositories/no/such/json").json == default
    assert v1.client.simulate_get("/v1/repositories/no/such/tags/x/json").json == default


def test_properties(v1):
    url = "/v1/repositories/foo/priv/properties"
    assert v1.client.simulate_get(url).json == {"access": "public"}
    assert v1.client.simulate_put(url, body='{"access": "private"}').status_code == 200
    assert v1.client.simulate_get(url).json == {"access": "private"}
    assert v1.storage.get_content("/repositories/foo/priv/_private") == b""
    assert v1.client.simulate_put(url, body='{"access": "public"}').status_code == 200
    assert v1.client.simulate_get(url).json == {"access": "public"}
    for body in ("", "[]", "{}", '{"other": 1}', "nope"):
        response = v1.client.simulate_put(url, body=body)
        assert response.status_code == 400 and response.json == {"error": "Invalid data"}


def test_bad_names_and_routes(v1):
    for path in (
        "/v1/repositories/foo/../bar/tags",
        "/v1/repositories/foo/%00/tags",
        "/v1/repositories//tags",
        "/v1/repositories/a//b/tags",
        "/v1/repositories/" + "x" * 300 + "/tags",
    ):
        response = v1.client.simulate_get(path)
        assert response.status_code in (400, 404), path
        assert "error" in response.json
    response = v1.client.simulate_get("/v1/repositories/foo/bar/nothing-here")
    # NOTE: standalone: PUT would create a repository "foo/bar/nothing-here"
    assert response.status_code == 405 and "error" in response.json
    response = v1.client.simulate_post("/v1/repositories/foo/bar/tags")
    assert response.status_code == 405 and "error" in response.json
    response = v1.client.simulate_get("/v1/repositories/foo/bar/tags/" + "t" * 400)
    assert response.status_code == 404


def test_most_specific_route_wins(v1):
    image_id, _, _ = v1.upload()
    _put_tag(v1, "foo/bar", "latest", image_id)
    data = v1.client.simulate_get("/v1/repositories/foo/bar/tags/latest/json").json
    assert data["arch"] == "archtest"
    # a repository literally named "bar/tags" in namespace foo is not confused
    assert v1.client.simulate_get("/v1/repositories/foo/bar/tags/latest").json == image_id


def test_events(make_app):
    events = _Events()
    v1 = make_app(extra_plugins=[events])
    image_id, _, _ = v1.upload()
    _put_tag(v1, "foo/bar", "latest", image_id)
    v1.client.simulate_delete("/v1/repositories/foo/bar/tags")
    kinds = [(event.kind, event.repository, event.tag) for event in events.events]
    assert kinds == [
        ("tag", "foo/bar", "latest"),
        ("tag_delete", "foo/bar", "latest"),
        ("repository_delete", "foo/bar", None),
    ]
