"""Read-only mode: every write of both APIs refused with a clear error, reads served,
and the switch flipped in a running application."""

from __future__ import annotations

import hashlib

import falcon.testing

from docker_registry.core import hookimpl
from docker_registry.core.app import create_app
from docker_registry.core.config import Settings
from docker_registry.core.ops import readonly
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver

V1_IMAGE = "a" * 64


def _push_blob(client: falcon.testing.TestClient, data: bytes) -> falcon.testing.Result:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = client.simulate_post("/v2/ro/app/blobs/uploads/")
    if start.status_code != 202:
        return start
    return client.simulate_put(start.headers["Location"] + f"&digest={digest}", body=data)


def test_writes_are_refused_and_reads_served_and_the_switch_flips():
    storage = Storage(InMemoryDriver())
    settings = Settings.from_mapping({"storage": "inmemory", "delete_enabled": True})
    client = falcon.testing.TestClient(create_app(settings, storage=storage))
    assert _push_blob(client, b"before").status_code == 201
    digest = "sha256:" + hashlib.sha256(b"before").hexdigest()

    readonly.apply(True)
    try:
        refused = client.simulate_post("/v2/ro/app/blobs/uploads/")
        assert refused.status_code == 405
        error = refused.json["errors"][0]
        assert error["code"] == "UNSUPPORTED"
        assert "read-only" in error["message"]
        for method, path in [
            ("PUT", "/v2/ro/app/manifests/latest"),
            ("DELETE", f"/v2/ro/app/blobs/{digest}"),
            ("PATCH", "/v2/ro/app/blobs/uploads/x"),
        ]:
            answer = client.simulate_request(method, path, body=b"{}")
            assert answer.status_code == 405, (method, path, answer.text)
            assert answer.json["errors"][0]["code"] == "UNSUPPORTED"
        v1 = client.simulate_put(f"/v1/images/{V1_IMAGE}/json", body=b"{}")
        assert v1.status_code == 503
        assert "read-only" in v1.json["error"]
        tag = client.simulate_put("/v1/repositories/ro/app/tags/latest", body=f'"{V1_IMAGE}"')
        assert tag.status_code == 503
        gone = client.simulate_delete("/v1/repositories/ro/app/tags/latest")
        assert gone.status_code == 503
        # reads are unaffected
        assert client.simulate_get(f"/v2/ro/app/blobs/{digest}").content == b"before"
        assert client.simulate_get("/v2/").status_code == 200
        assert client.simulate_get("/v1/_ping").status_code == 200
        assert client.simulate_get("/v1/repositories/ro/app/tags").status_code in (200, 404)
        # nothing was written
        assert not any(item.path.endswith("latest") for item in storage.walk("/"))
    finally:
        readonly.apply(False)
    assert _push_blob(client, b"after").status_code == 201


def test_readonly_from_the_configuration():
    settings = Settings.from_mapping({"storage": "inmemory", "readonly": "true"})
    client = falcon.testing.TestClient(create_app(settings, storage=Storage(InMemoryDriver())))
    try:
        assert _push_blob(client, b"x").status_code == 405
        assert client.simulate_get("/v2/").status_code == 200
    finally:
        readonly.apply(False)


class _SwitchProbe:
    """A plugin that keeps what ``registry.services["readonly"]`` offers."""

    def __init__(self) -> None:
        self.switch = None

    @hookimpl
    def registry_startup(self, app, registry):
        self.switch = registry.services["readonly"]


def test_the_switch_is_offered_to_plugins_and_follows_sighup():
    probe = _SwitchProbe()
    settings = Settings.from_mapping({"storage": "inmemory", "readonly": True})
    create_app(settings, storage=Storage(InMemoryDriver()), extra_plugins=[probe])
    assert probe.switch is not None and probe.switch.enabled is True
    readonly.apply(False)
    assert probe.switch.enabled is False
