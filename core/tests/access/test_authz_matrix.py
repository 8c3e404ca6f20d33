"""The authorization matrix: five identities against every route family of both APIs.

Each cell runs on a fresh registry holding the same content, so deletes in one cell do
not change another. Every cell asserts the status of the table; every refused cell also
asserts that storage is byte for byte unchanged (no unauthorized write) and that the
body is the API's error envelope (no unauthorized read: nothing of the content leaks).

Repositories: ``team/app`` (v2) and ``team/old`` (v1) are readable by reader, writer,
deleter; writable by writer; deletable by deleter; ``public/app`` readable by anyone;
``secret/x`` only by admin. See ``conftest.ACCESS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from authsupport import basic
from content import OCI_MANIFEST, V2Image, push_v1, push_v2

TEAM = V2Image.make("team")
PUBLIC = V2Image.make("public")
SECRET = V2Image.make("secret")
NEW = V2Image.make("new")
V1_ID = "a" * 64
V1_NEW_ID = "b" * 64
V1_SECRET_ID = "c" * 64

IDENTITIES = ["anonymous", "reader", "writer", "deleter", "admin"]

Request = Callable[[Any, dict[str, str]], Any]


def _get(path: str, **kwargs: Any) -> Request:
    return lambda client, headers: client.simulate_get(path, headers=headers, **kwargs)


def _head(path: str) -> Request:
    return lambda client, headers: client.simulate_head(path, headers=headers)


def _delete(path: str) -> Request:
    return lambda client, headers: client.simulate_delete(path, headers=headers)


def _post(path: str, body: bytes = b"", **params: str) -> Request:
    return lambda client, headers: client.simulate_post(
        path, params=params, body=body, headers=headers
    )


def _put(path: str, body: bytes, content_type: str | None = None) -> Request:
    def request(client, headers):
        extra = {"Content-Type": content_type} if content_type else {}
        return client.simulate_put(path, body=body, headers={**headers, **extra})

    return request


#: route family -> (request, expected status for anonymous, reader, writer, deleter, admin)
MATRIX: dict[str, tuple[Request, tuple[int, int, int, int, int]]] = {
    # -- v2 ---------------------------------------------------------------------------------
    "v2 ping (login)": (_get("/v2/"), (401, 200, 200, 200, 200)),
    "v2 catalog": (_get("/v2/_catalog"), (401, 403, 403, 403, 200)),
    "v2 manifest GET": (_get("/v2/team/app/manifests/latest"), (401, 200, 200, 200, 200)),
    "v2 manifest HEAD": (_head("/v2/team/app/manifests/latest"), (401, 200, 200, 200, 200)),
    "v2 blob GET": (_get(f"/v2/team/app/blobs/{TEAM.layer_digest}"), (401, 200, 200, 200, 200)),
    "v2 blob HEAD": (_head(f"/v2/team/app/blobs/{TEAM.layer_digest}"), (401, 200, 200, 200, 200)),
    "v2 tags/list": (_get("/v2/team/app/tags/list"), (401, 200, 200, 200, 200)),
    "v2 referrers": (
        _get(f"/v2/team/app/referrers/{TEAM.manifest_digest}"),
        (401, 200, 200, 200, 200),
    ),
    "v2 upload start": (_post("/v2/team/app/blobs/uploads/"), (401, 403, 202, 403, 202)),
    "v2 monolithic upload": (
        _post("/v2/team/app/blobs/uploads/", NEW.layer, digest=NEW.layer_digest),
        (401, 403, 201, 403, 201),
    ),
    "v2 manifest PUT": (
        _put("/v2/team/app/manifests/again", TEAM.manifest, OCI_MANIFEST),
        (401, 403, 201, 403, 201),
    ),
    "v2 manifest DELETE": (
        _delete(f"/v2/team/app/manifests/{TEAM.manifest_digest}"),
        (401, 403, 403, 202, 202),
    ),
    "v2 tag DELETE": (_delete("/v2/team/app/manifests/latest"), (401, 403, 403, 202, 202)),
    "v2 blob DELETE": (
        _delete(f"/v2/team/app/blobs/{TEAM.layer_digest}"),
        (401, 403, 403, 202, 202),
    ),
    # mount: push on the target and pull on `from`; without pull on `from`, an upload (202)
    "v2 mount from a readable repository": (
        _post("/v2/public/copy/blobs/uploads/", mount=TEAM.layer_digest, **{"from": "team/app"}),
        (401, 403, 201, 403, 201),
    ),
    "v2 mount from an unreadable repository": (
        _post("/v2/team/copy/blobs/uploads/", mount=SECRET.layer_digest, **{"from": "secret/x"}),
        (401, 403, 202, 403, 201),
    ),
    # without `from` the registry would mount any blob it holds: only open access may
    "v2 mount without from": (
        _post("/v2/team/copy/blobs/uploads/", mount=SECRET.layer_digest),
        (401, 403, 202, 403, 202),
    ),
    # what anonymous may, any account may (deleter has no rule of its own for public/**)
    "v2 public manifest GET": (_get("/v2/public/app/manifests/latest"), (200, 200, 200, 200, 200)),
    "v2 public push": (_post("/v2/public/app/blobs/uploads/"), (401, 403, 202, 403, 202)),
    "v2 secret manifest GET": (_get("/v2/secret/x/manifests/latest"), (401, 403, 403, 403, 200)),
    "v2 v1 image through the bridge": (
        _get("/v2/team/old/manifests/latest"),
        (401, 200, 200, 200, 200),
    ),
    # -- v1 ---------------------------------------------------------------------------------
    "v1 ping": (_get("/v1/_ping"), (200, 200, 200, 200, 200)),
    "v1 tags (R11)": (_get("/v1/repositories/team/old/tags"), (401, 200, 200, 200, 200)),
    "v1 tag (R12)": (_get("/v1/repositories/team/old/tags/latest"), (401, 200, 200, 200, 200)),
    "v1 tag PUT (R13)": (
        _put("/v1/repositories/team/old/tags/new", json.dumps(V1_ID).encode()),
        (401, 403, 200, 403, 200),
    ),
    "v1 tag DELETE (R14)": (
        _delete("/v1/repositories/team/old/tags/latest"),
        (401, 403, 403, 200, 200),
    ),
    "v1 tag json (R15)": (
        _get("/v1/repositories/team/old/tags/latest/json"),
        (401, 200, 200, 200, 200),
    ),
    "v1 repository json (R16)": (
        _get("/v1/repositories/team/old/json"),
        (401, 200, 200, 200, 200),
    ),
    "v1 properties (R17)": (
        _get("/v1/repositories/team/old/properties"),
        (401, 200, 200, 200, 200),
    ),
    "v1 properties PUT (R18)": (
        _put("/v1/repositories/team/old/properties", b'{"access": "private"}'),
        (401, 403, 200, 403, 200),
    ),
    "v1 repository DELETE (R19)": (
        _delete("/v1/repositories/team/old/"),
        (401, 403, 403, 200, 200),
    ),
    "v1 index PUT (R22)": (
        _put("/v1/repositories/team/old/", json.dumps([{"id": V1_ID}]).encode()),
        (401, 403, 200, 403, 200),
    ),
    "v1 index images GET (R24)": (
        _get("/v1/repositories/team/old/images"),
        (401, 200, 200, 200, 200),
    ),
    "v1 index images DELETE (R25)": (
        _delete("/v1/repositories/team/old/images"),
        (401, 403, 403, 204, 204),
    ),
    "v1 index auth (R26, open)": (
        _put("/v1/repositories/team/old/auth", b""),
        (200, 200, 200, 200, 200),
    ),
    "v1 users (R20, open)": (_post("/v1/users/", b"{}"), (201, 201, 201, 201, 201)),
    # an image is read with pull on a repository holding it (v1/image_access.py)
    "v1 image json (R3)": (_get(f"/v1/images/{V1_ID}/json"), (401, 200, 200, 200, 200)),
    "v1 image layer (R5)": (_get(f"/v1/images/{V1_ID}/layer"), (401, 200, 200, 200, 200)),
    "v1 image ancestry (R8)": (
        _get(f"/v1/images/{V1_ID}/ancestry"),
        (401, 200, 200, 200, 200),
    ),
    "v1 image files (R9)": (_get(f"/v1/images/{V1_ID}/files"), (401, 200, 200, 200, 200)),
    "v1 secret image json (R3)": (
        _get(f"/v1/images/{V1_SECRET_ID}/json"),
        (401, 403, 403, 403, 200),
    ),
    "v1 secret image layer (R5)": (
        _get(f"/v1/images/{V1_SECRET_ID}/layer"),
        (401, 403, 403, 403, 200),
    ),
    "v1 secret image ancestry (R8)": (
        _get(f"/v1/images/{V1_SECRET_ID}/ancestry"),
        (401, 403, 403, 403, 200),
    ),
    "v1 secret image files (R9)": (
        _get(f"/v1/images/{V1_SECRET_ID}/files"),
        (401, 403, 403, 403, 200),
    ),
    "v1 secret image diff (R10)": (
        _get(f"/v1/images/{V1_SECRET_ID}/diff"),
        (401, 403, 403, 403, 400),  # 400: the diff queue is off
    ),
    "v1 image PUT json (R4)": (
        _put(f"/v1/images/{V1_NEW_ID}/json", json.dumps({"id": V1_NEW_ID}).encode()),
        (401, 403, 200, 403, 200),
    ),
    # a parent is used with pull on a repository holding it (400: the spec's answer)
    "v1 image PUT json on a secret parent (R4)": (
        _put(
            f"/v1/images/{V1_NEW_ID}/json",
            json.dumps({"id": V1_NEW_ID, "parent": V1_SECRET_ID}).encode(),
        ),
        (401, 403, 400, 403, 200),
    ),
    # writes to a held image need push on a repository holding it (409: complete)
    "v1 secret image PUT layer (R6)": (
        _put(f"/v1/images/{V1_SECRET_ID}/layer", b"other bytes"),
        (401, 403, 403, 403, 409),
    ),
    # naming an image claims it for the repository: only images the caller may pull
    "v1 tag PUT of a secret image (R13)": (
        _put("/v1/repositories/team/old/tags/stolen", json.dumps(V1_SECRET_ID).encode()),
        (401, 403, 403, 403, 200),
    ),
    "v1 index PUT listing a secret image (R22)": (
        _put("/v1/repositories/team/old/", json.dumps([{"id": V1_SECRET_ID}]).encode()),
        (401, 403, 403, 403, 200),
    ),
    "v1 search (R27)": (_get("/v1/search"), (200, 200, 200, 200, 200)),
    # -- anything else ---------------------------------------------------------------------
    "unknown route, write": (_put("/v2/team/app/nowhere", b"x"), (401, 403, 403, 403, 403)),
    "unknown route, read": (_get("/v2/team/app/nowhere"), (404, 404, 404, 404, 404)),
}


@pytest.fixture
def seeded(make_auth_app):
    def make():
        app = make_auth_app(search_backend="storage")
        admin = basic("admin")
        push_v2(app.client, "team/app", "latest", TEAM, admin)
        push_v2(app.client, "public/app", "latest", PUBLIC, admin)
        push_v2(app.client, "secret/x", "latest", SECRET, admin)
        push_v1(app.client, "team/old", "latest", V1_ID, admin)
        push_v1(app.client, "secret/old", "latest", V1_SECRET_ID, admin)
        return app

    return make


def _snapshot(storage) -> dict[str, bytes]:
    return {info.path: storage.get_content(info.path) for info in storage.walk("/")}


def _credentials(identity: str) -> dict[str, str]:
    return {} if identity == "anonymous" else basic(identity)


@pytest.mark.parametrize("family", list(MATRIX))
@pytest.mark.parametrize("identity", IDENTITIES)
def test_matrix(seeded, family, identity):
    request, expected = MATRIX[family]
    want = expected[IDENTITIES.index(identity)]
    app = seeded()
    before = _snapshot(app.storage)
    response = request(app.client, _credentials(identity))
    assert response.status_code == want, (family, identity, response.status_code, response.text)
    if want not in (401, 403):
        return
    assert _snapshot(app.storage) == before, "a refused request changed storage"
    if response.headers.get("Content-Length") == "0" or not response.content:
        return  # HEAD
    v2 = "/v2/" in response.headers.get("Docker-Distribution-API-Version", "") or family.startswith(
        ("v2", "unknown")
    )
    if v2:
        code = {401: "UNAUTHORIZED", 403: "DENIED"}[want]
        assert [error["code"] for error in response.json["errors"]] == [code]
    else:
        assert set(response.json) == {"error"}
    if want == 401:
        assert response.headers["WWW-Authenticate"] == 'Basic realm="test registry"'
    else:
        assert "WWW-Authenticate" not in response.headers
    # no content of the repository in a refusal
    assert TEAM.manifest not in response.content and V1_ID.encode() not in response.content
    assert b"v1file" not in response.content  # the v1 layers' only file
