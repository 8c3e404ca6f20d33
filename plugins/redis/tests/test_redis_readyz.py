"""/readyz asks the Redis cache itself (the guard that turns its failures into misses
would hide a dead server) and names it when it does not answer."""

from __future__ import annotations

import falcon.testing


def test_readyz_names_a_redis_cache_that_went_away(own_redis, make_storage) -> None:
    server = own_redis()
    port = server.url.rsplit(":", 1)[1].split("/")[0]
    _, app = make_storage({"host": "127.0.0.1", "port": int(port)})
    client = falcon.testing.TestClient(app)
    ready = client.simulate_get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json["checks"] == {"cache": "ok", "storage": "ok"}
    server.stop()
    ready = client.simulate_get("/readyz")
    assert ready.status_code == 503
    assert ready.json["failed"] == ["cache"]
    assert "onnect" in ready.json["checks"]["cache"]
    assert client.simulate_get("/healthz").status_code == 200
