"""The issue's example in v1 token mode: what v1 decides, v2 honours.

A repository pushed and marked private over v1 answers 401 to anonymous v1 tags; v2
manifests, blobs, ``_catalog`` and pushes into it answer 401 as well; the index token for
it opens it on v2 for what the token grants, and for that repository only.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import falcon.testing
import pytest
from content import V2Image, push_v2

from docker_registry.core.app import create_app
from docker_registry.core.config import Settings
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver

WRITE = 'Token signature=GOOD,repository="team/app",access=write'
READ = 'Token signature=GOOD,repository="team/app",access=read'
OTHER = 'Token signature=GOOD,repository="team/other",access=read'
IMAGE = V2Image.make("token mode")


@pytest.fixture
def index_url():
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if "signature=GOOD" not in (self.headers.get("Authorization") or ""):
                self.send_response(401)
                self.end_headers()
                return
            data = json.dumps([]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_v2_honours_v1_token_mode(index_url):
    storage = Storage(InMemoryDriver())
    open_app = falcon.testing.TestClient(create_app(Settings.from_mapping({}), storage=storage))
    push_v2(open_app, "team/app", "latest", IMAGE, {})
    storage.put_content("/repositories/team/app/tag_latest", b"a" * 64)
    storage.put_content("/repositories/team/app/_private", b"")
    settings = Settings.from_mapping({"standalone": False, "index_endpoint": index_url})
    client = falcon.testing.TestClient(create_app(settings, storage=storage))

    response = client.simulate_get("/v1/repositories/team/app/tags")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Token"
    for path in (
        "/v2/team/app/manifests/latest",
        f"/v2/team/app/blobs/{IMAGE.layer_digest}",
        "/v2/team/app/tags/list",
        "/v2/_catalog",
        "/v2/",
    ):
        response = client.simulate_get(path)
        assert response.status_code == 401, path
        assert response.json["errors"][0]["code"] == "UNAUTHORIZED"
        assert response.headers["WWW-Authenticate"] == "Token"
    assert client.simulate_post("/v2/team/app/blobs/uploads/").status_code == 401
    response = client.simulate_put("/v2/team/app/manifests/x", body=IMAGE.manifest)
    assert response.status_code == 401

    # the index token for the repository opens it on v2 too, for what it grants
    read = {"Authorization": READ}
    assert client.simulate_get("/v2/team/app/manifests/latest", headers=read).status_code == 200
    assert client.simulate_head("/v2/team/app/manifests/latest", headers=read).status_code == 200
    assert client.simulate_post("/v2/team/app/blobs/uploads/", headers=read).status_code == 401
    write = {"Authorization": WRITE}
    assert client.simulate_post("/v2/team/app/blobs/uploads/", headers=write).status_code == 202
    # ... and for that repository only: catalog lists it alone, others stay closed
    catalog = client.simulate_get("/v2/_catalog", headers=read)
    assert catalog.json == {"repositories": ["team/app"]}
    other = {"Authorization": OTHER}
    assert client.simulate_get("/v2/team/app/manifests/latest", headers=other).status_code == 401
