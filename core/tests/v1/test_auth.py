"""Token auth against a real HTTP index, privileged RSA signatures, _private (§1.6)."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from docker_registry.core.config import ConfigError

GOOD = 'Token signature=GOOD,repository="foo/bar",access=write'
READ = 'Token signature=GOOD,repository="foo/bar",access=read'


class FakeIndex:
    """A Hub-like index: validates tokens with signature=GOOD, lists images, grants
    layer access to ids in ``allowed``."""

    def __init__(self):
        self.images = []
        self.allowed = set()
        self.calls = []
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                index.calls.append((self.path, self.headers.get("Authorization")))
                if "signature=GOOD" not in (self.headers.get("Authorization") or ""):
                    self.send_response(401)
                    self.end_headers()
                    return
                if self.path.endswith("/access"):
                    image = self.path.split("/")[-2]
                    body = {"access": image in index.allowed}
                else:
                    body = [{"id": image} for image in index.images]
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def index():
    fake = FakeIndex()
    yield fake
    fake.close()


@pytest.fixture
def token_app(make_app, index):
    return make_app(standalone=False, index_endpoint=index.url)


def test_token_required(token_app):
    response = token_app.client.simulate_get("/v1/repositories/foo/bar/tags")
    assert response.status_code == 401
    assert response.json == {"error": "Requires authorization"}
    assert response.headers["WWW-Authenticate"] == "Token"
    response = token_app.client.simulate_get(
        "/v1/repositories/foo/bar/tags", headers={"Authorization": "Basic eDp5"}
    )
    assert response.status_code == 401


def test_token_checks(token_app, index):
    image_id = token_app.new_id()
    index.images = [image_id]
    client = token_app.client
    body = json.dumps({"id": image_id})
    url = f"/v1/images/{image_id}/json"
    assert client.simulate_put(url, body=body, headers={"Authorization": GOOD}).status_code == 200
    assert index.calls[-1] == ("/v1/repositories/foo/bar/images", GOOD)
    assert token_app.storage.get_content("/repositories/foo/bar/_images_list") == (
        json.dumps([image_id]).encode()
    )
    # wrong signature, wrong access for the method, wrong repository
    bad = GOOD.replace("GOOD", "BAD")
    assert client.simulate_put(url, body=body, headers={"Authorization": bad}).status_code == 401
    assert client.simulate_put(url, body=body, headers={"Authorization": READ}).status_code == 401
    response = client.simulate_get(
        "/v1/repositories/other/repo/tags", headers={"Authorization": READ}
    )
    assert response.status_code == 401
    response = client.simulate_get("/v1/repositories/foo/bar/tags", headers={"Authorization": READ})
    assert response.status_code == 200 and response.json == {}  # _images_list only
    response = client.simulate_head(
        "/v1/repositories/foo/bar/tags", headers={"Authorization": READ}
    )
    assert response.status_code == 401  # access=read allows GET only (seed)


def test_image_must_belong_to_repository(token_app, index):
    index.images = ["1" * 16]
    image_id = token_app.new_id()
    response = token_app.client.simulate_put(
        f"/v1/images/{image_id}/json",
        body=json.dumps({"id": image_id}),
        headers={"Authorization": GOOD},
    )
    assert response.status_code == 400
    assert response.json == {"error": "This image does not belong to the repository"}


def test_parent_access_and_private_gate(make_app, token_app, index):
    parent = token_app.new_id()
    child = token_app.new_id()
    index.images = [parent, child]
    open_app = make_app(storage=token_app.storage)
    open_app.upload(parent)
    response = token_app.client.simulate_put(
        f"/v1/images/{child}/json",
        body=json.dumps({"id": child, "parent": parent}),
        headers={"Authorization": GOOD},
    )
    assert response.json == {"error": "Image depends on an unauthorized parent"}
    index.allowed.add(parent)
    response = token_app.client.simulate_put(
        f"/v1/images/{child}/json",
        body=json.dumps({"id": child, "parent": parent}),
        headers={"Authorization": GOOD},
    )
    assert response.status_code == 200
    # private repository: the image is readable only with index-granted access
    token_app.storage.put_content("/repositories/foo/bar/_private", b"")
    index.allowed.clear()
    response = token_app.client.simulate_get(
        f"/v1/images/{parent}/json", headers={"Authorization": READ}
    )
    assert response.status_code == 404 and response.json == {"error": "Image not found"}
    index.allowed.add(parent)
    response = token_app.client.simulate_get(
        f"/v1/images/{parent}/json", headers={"Authorization": READ}
    )
    assert response.status_code == 200


def test_disable_token_auth(make_app, index):
    app = make_app(standalone=False, index_endpoint=index.url, disable_token_auth=True)
    assert app.client.simulate_get("/v1/repositories/foo/bar/tags").status_code == 404


def test_unknown_auth_backend(make_app):
    with pytest.raises(ConfigError, match="unknown auth_backend"):
        make_app(auth_backend="nope")


def _keys(tmp_path, pkcs1: bool):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fmt = (
        serialization.PublicFormat.PKCS1
        if pkcs1
        else serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, fmt)
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    return key, str(path)


def _sign(key, method, path, docker_headers):
    parts = [method, path] + [f"{name}:{value}" for name, value in sorted(docker_headers.items())]
    signature = key.sign(",".join(parts).encode(), padding.PKCS1v15(), hashes.SHA1())
    return "key=1;data=" + base64.b64encode(signature).decode()


@pytest.mark.parametrize("pkcs1", [True, False], ids=["pkcs1", "spki"])
def test_privileged_signature(make_app, index, tmp_path, pkcs1):
    key, path = _keys(tmp_path, pkcs1)
    app = make_app(standalone=False, index_endpoint=index.url, privileged_key=path)
    url = "/v1/repositories/foo/bar/tags"
    headers = {"X-Docker-Token": "true", "X-Docker-Endpoints": "x"}
    signature = _sign(key, "GET", url, headers)
    response = app.client.simulate_get(url, headers={**headers, "X-Signature": signature})
    assert response.status_code == 404  # passed auth
    response = app.client.simulate_get(
        url, headers={**headers, "X-Docker-Token": "false", "X-Signature": signature}
    )
    assert response.status_code == 401
    response = app.client.simulate_get(url, headers={"X-Signature": "data=!!!"})
    assert response.status_code == 401


def test_privileged_key_errors(make_app, tmp_path):
    with pytest.raises(ConfigError, match="missing"):
        make_app(privileged_key=str(tmp_path / "absent.pem"))
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ConfigError, match="not a valid RSA key"):
        make_app(privileged_key=str(bad))
