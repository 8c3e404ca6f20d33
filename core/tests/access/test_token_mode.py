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


def test_a_token_refused_without_the_index_is_refused_before_the_body(index_url, tmp_path):
    """Malformed tokens, tokens of another repository and read tokens on a write are
    refused at header time (no spooling, the index never asked); a well-formed token
    waits for the index, after the body."""
    from waitress.adjustments import Adjustments

    from docker_registry.core.spool import body_refused, spooled
    from docker_registry.core.transport import INBUF_OVERFLOW, channel_class

    settings = Settings.from_mapping({"standalone": False, "index_endpoint": index_url})
    app = create_app(settings, storage=Storage(InMemoryDriver()))
    gate = app.access.refuses_early
    asked: list[str] = []
    backend = app.access.backend
    ask = backend._get_json
    backend._get_json = lambda path, authorization: asked.append(path) or ask(path, authorization)
    body = b"x" * (2 * INBUF_OVERFLOW)
    path = "/v1/repositories/team/app/tags/latest"
    refused_early = {
        "not a token": "Basic d3JpdGVyOm5vcGU=",
        "no repository": "Token signature=GOOD,access=write",
        "no namespace": 'Token signature=GOOD,repository="app",access=write',
        "another repository": 'Token signature=GOOD,repository="team/other",access=write',
        "read token on a write": READ,
        "garbage": 'Token ,,,===""',
    }
    staging = tmp_path / "staging"
    for reason, authorization in {**refused_early, "well-formed": WRITE}.items():
        parser = channel_class(str(staging), gate=gate).parser_class(
            Adjustments(inbuf_overflow=INBUF_OVERFLOW)
        )
        head = (
            f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            f"Authorization: {authorization}\r\n\r\n"
        ).encode()
        data = head + body
        while data and not parser.completed:
            data = data[parser.received(data) :]
        stream = parser.get_body_stream()
        if reason == "well-formed":
            assert spooled(stream) is not None and not body_refused(stream)
        else:
            assert body_refused(stream), reason
        # the app decides the same without the body, in full
        answer = falcon.testing.TestClient(app).simulate_put(
            path, body=b'"' + b"a" * 64 + b'"', headers={"Authorization": authorization}
        )
        expected = 404 if reason == "well-formed" else 401  # 404: no such image
        assert answer.status_code == expected, (reason, answer.status_code, answer.text)
    # the index was asked only for the well-formed token (by the app's own decision)
    assert asked == ["/v1/repositories/team/app/images"]
