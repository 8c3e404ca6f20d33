"""The OCI distribution conformance workflows, written from the spec, against both servers.

Every test runs against our registry and against the reference registry (distribution
2.8). Where the reference lacks a feature the test asserts the reference's own
behaviour through :func:`differs`, with the reason spelled out: not a skip.
"""

from __future__ import annotations

import http.client
import json
import uuid

import pytest
from v2support import (
    DOCKER_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    Client,
    Server,
    digest,
    image_config,
    image_manifest,
    layer_tar,
)


def differs(target: Server, reason: str) -> bool:
    """True when ``target`` is the reference and known to differ from the spec for ``reason``."""
    assert reason
    return target.is_reference


def errors_of(response) -> list[str]:
    return [entry["code"] for entry in response.json()["errors"]]


@pytest.fixture(scope="module")
def client(target: Server) -> Client:
    return Client(target.url)


@pytest.fixture(scope="module")
def image(client: Client) -> dict:
    return client.push_image("conformance/pull", "latest", seed="pull")


# -- pull ------------------------------------------------------------------------------


class TestPull:
    def test_base(self, client):
        response = client.http.get(f"{client.url}/v2/")
        assert response.status_code == 200
        assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"

    @pytest.mark.parametrize("by", ["tag", "digest"])
    def test_manifest_get_and_head(self, client, image, by):
        ref = "latest" if by == "tag" else image["digest"]
        url = f"{client.url}/v2/conformance/pull/manifests/{ref}"
        response = client.http.get(url, headers={"Accept": OCI_MANIFEST})
        assert response.status_code == 200
        assert response.content == image["manifest"]
        assert response.headers["Docker-Content-Digest"] == image["digest"]
        assert response.headers["Content-Type"] == OCI_MANIFEST
        head = client.http.head(url, headers={"Accept": OCI_MANIFEST})
        assert head.status_code == 200
        assert int(head.headers["Content-Length"]) == len(image["manifest"])
        assert head.headers["Docker-Content-Digest"] == image["digest"]

    def test_manifest_unknown(self, client, image):
        for ref in ("nosuchtag", digest(b"nothing")):
            response = client.http.get(
                f"{client.url}/v2/conformance/pull/manifests/{ref}",
                headers={"Accept": OCI_MANIFEST},
            )
            assert response.status_code == 404
            assert errors_of(response) == ["MANIFEST_UNKNOWN"]

    def test_blob_get_and_head(self, client, image):
        layer = image["layer"]
        url = f"{client.url}/v2/conformance/pull/blobs/{digest(layer)}"
        response = client.http.get(url)
        assert response.status_code == 200
        assert response.content == layer
        assert response.headers["Docker-Content-Digest"] == digest(layer)
        head = client.http.head(url)
        assert head.status_code == 200
        assert int(head.headers["Content-Length"]) == len(layer)

    def test_blob_range(self, client, image):
        layer = image["layer"]
        url = f"{client.url}/v2/conformance/pull/blobs/{digest(layer)}"
        response = client.http.get(url, headers={"Range": "bytes=10-19"})
        assert response.status_code == 206
        assert response.content == layer[10:20]
        assert response.headers["Content-Range"] == f"bytes 10-19/{len(layer)}"

    def test_blob_unknown(self, client, image):
        response = client.http.get(f"{client.url}/v2/conformance/pull/blobs/{digest(b'no')}")
        assert response.status_code == 404
        assert errors_of(response) == ["BLOB_UNKNOWN"]
        head = client.http.head(f"{client.url}/v2/conformance/pull/blobs/{digest(b'no')}")
        assert head.status_code == 404

    def test_blob_invalid_digest(self, client, image):
        response = client.http.get(f"{client.url}/v2/conformance/pull/blobs/sha256:zz")
        assert response.status_code in (400, 404)
        if response.status_code == 400:
            assert errors_of(response) == ["DIGEST_INVALID"]

    def test_unknown_repository(self, client):
        response = client.http.get(f"{client.url}/v2/nobody/here/manifests/latest")
        assert response.status_code == 404
        assert errors_of(response)[0] in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN")

    def test_invalid_name(self, client):
        for name in ("UPPER/case", "a/../b", "-dash", "a//b"):
            # NOTE: http.client sends the path as is; requests would remove the '..'.
            response = raw_get(client.url, f"/v2/{name}/tags/list")
            if differs(
                client_target(client),
                "distribution 2.8 answers 500 for upper case, "
                "301 for '..' and '//', 404 for other bad names",
            ):
                assert response.status_code in (301, 404, 500), name
                continue
            assert response.status_code == 400, name
            assert json.loads(response.body)["errors"][0]["code"] == "NAME_INVALID"


# -- push ------------------------------------------------------------------------------


class TestPush:
    def test_post_then_put(self, client):
        data = b"monolithic " + uuid.uuid4().bytes
        client.push_blob("conformance/push", data)
        head = client.http.head(f"{client.url}/v2/conformance/push/blobs/{digest(data)}")
        assert head.status_code == 200

    def test_single_post(self, client):
        data = b"single post " + uuid.uuid4().bytes
        response = client.http.post(
            f"{client.url}/v2/conformance/push/blobs/uploads/?digest={digest(data)}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert response.status_code in (201, 202)
        if response.status_code == 201:
            assert response.headers["Location"]
            head = client.http.head(f"{client.url}/v2/conformance/push/blobs/{digest(data)}")
            assert head.status_code == 200

    def test_chunked(self, client):
        data = bytes(range(256)) * 40
        first, second = data[:4000], data[4000:]
        start = client.http.post(f"{client.url}/v2/conformance/push/blobs/uploads/")
        assert start.status_code == 202
        location = client.absolute(start.headers["Location"])
        patch = client.http.patch(
            location,
            data=first,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"0-{len(first) - 1}",
                "Content-Length": str(len(first)),
            },
        )
        assert patch.status_code == 202
        assert patch.headers["Range"] == f"0-{len(first) - 1}"
        location = client.absolute(patch.headers["Location"])
        status = client.http.get(location)
        assert status.status_code == 204
        assert status.headers["Range"] == f"0-{len(first) - 1}"
        # out of order: starts past the end of what was received
        wrong = client.http.patch(
            location,
            data=second,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{len(first) + 10}-{len(first) + 9 + len(second)}",
                "Content-Length": str(len(second)),
            },
        )
        if differs(client_target(client), "distribution 2.8 ignores Content-Range on PATCH"):
            assert wrong.status_code == 202
            return
        assert wrong.status_code == 416
        patch = client.http.patch(
            location,
            data=second,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{len(first)}-{len(data) - 1}",
                "Content-Length": str(len(second)),
            },
        )
        assert patch.status_code == 202
        location = client.absolute(patch.headers["Location"])
        sep = "&" if "?" in location else "?"
        done = client.http.put(f"{location}{sep}digest={digest(data)}")
        assert done.status_code == 201
        got = client.http.get(f"{client.url}/v2/conformance/push/blobs/{digest(data)}")
        assert got.content == data

    def test_put_with_final_chunk(self, client):
        data = b"0123456789" * 100
        start = client.http.post(f"{client.url}/v2/conformance/push/blobs/uploads/")
        location = client.absolute(start.headers["Location"])
        patch = client.http.patch(
            location, data=data[:500], headers={"Content-Type": "application/octet-stream"}
        )
        assert patch.status_code == 202
        location = client.absolute(patch.headers["Location"])
        sep = "&" if "?" in location else "?"
        done = client.http.put(
            f"{location}{sep}digest={digest(data)}",
            data=data[500:],
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201

    def test_wrong_digest(self, client):
        data = b"some content"
        start = client.http.post(f"{client.url}/v2/conformance/push/blobs/uploads/")
        location = client.absolute(start.headers["Location"])
        sep = "&" if "?" in location else "?"
        done = client.http.put(
            f"{location}{sep}digest={digest(b'other')}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 400
        assert errors_of(done) == ["DIGEST_INVALID"]
        head = client.http.head(f"{client.url}/v2/conformance/push/blobs/{digest(b'other')}")
        assert head.status_code == 404

    def test_upload_unknown(self, client):
        missing = str(uuid.uuid4())
        url = f"{client.url}/v2/conformance/push/blobs/uploads/{missing}"
        response = client.http.get(url)
        assert response.status_code == 404
        if differs(client_target(client), "distribution 2.8 says BLOB_UPLOAD_INVALID"):
            assert errors_of(response) == ["BLOB_UPLOAD_INVALID"]
            return
        assert errors_of(response) == ["BLOB_UPLOAD_UNKNOWN"]

    def test_cancel_upload(self, client):
        start = client.http.post(f"{client.url}/v2/conformance/push/blobs/uploads/")
        location = client.absolute(start.headers["Location"])
        assert client.http.delete(location).status_code == 204
        assert client.http.get(location).status_code == 404

    def test_mount_from(self, client):
        data = b"mount me " + uuid.uuid4().bytes
        client.push_blob("conformance/mount-source", data)
        response = client.http.post(
            f"{client.url}/v2/conformance/mount-target/blobs/uploads/"
            f"?mount={digest(data)}&from=conformance/mount-source"
        )
        assert response.status_code == 201
        assert response.headers["Docker-Content-Digest"] == digest(data)
        head = client.http.head(f"{client.url}/v2/conformance/mount-target/blobs/{digest(data)}")
        assert head.status_code == 200

    def test_mount_unknown_falls_back_to_upload(self, client):
        response = client.http.post(
            f"{client.url}/v2/conformance/mount-target/blobs/uploads/"
            f"?mount={digest(b'absent')}&from=conformance/mount-source"
        )
        assert response.status_code == 202
        assert response.headers["Location"]

    def test_mount_without_from(self, client):
        data = b"mount anywhere " + uuid.uuid4().bytes
        client.push_blob("conformance/mount-source", data)
        response = client.http.post(
            f"{client.url}/v2/conformance/mount-other/blobs/uploads/?mount={digest(data)}"
        )
        if differs(client_target(client), "distribution 2.8 ignores mount without from"):
            assert response.status_code == 202
        else:
            assert response.status_code == 201

    def test_manifest_put(self, client):
        pushed = client.push_image("conformance/push", "v1", seed="push")
        response = client.http.get(
            f"{client.url}/v2/conformance/push/manifests/v1", headers={"Accept": OCI_MANIFEST}
        )
        assert response.content == pushed["manifest"]
        by_digest = client.push_manifest("conformance/push", pushed["digest"], pushed["manifest"])
        assert by_digest.status_code == 201
        assert by_digest.headers["Docker-Content-Digest"] == pushed["digest"]
        assert by_digest.headers["Location"]

    def test_docker_schema2_and_list(self, client):
        pushed = client.push_image("conformance/docker", "amd64", docker=True, seed="docker")
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_LIST,
                "manifests": [
                    {
                        "mediaType": pushed_type(True),
                        "digest": pushed["digest"],
                        "size": len(pushed["manifest"]),
                        "platform": {"architecture": "amd64", "os": "linux"},
                    }
                ],
            }
        ).encode()
        response = client.push_manifest("conformance/docker", "multi", index, DOCKER_LIST)
        assert response.status_code == 201
        got = client.http.get(
            f"{client.url}/v2/conformance/docker/manifests/multi", headers={"Accept": DOCKER_LIST}
        )
        assert got.content == index
        assert got.headers["Content-Type"] == DOCKER_LIST

    def test_accept_negotiation(self, client):
        image = client.push_image("conformance/accept", "amd64", docker=True, seed="accept")
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_LIST,
                "manifests": [
                    {
                        "mediaType": pushed_type(True),
                        "digest": image["digest"],
                        "size": len(image["manifest"]),
                        "platform": {"architecture": "amd64", "os": "linux"},
                    }
                ],
            }
        ).encode()
        assert (
            client.push_manifest("conformance/accept", "list", index, DOCKER_LIST).status_code
            == 201
        )
        oci = client.push_image("conformance/accept", "oci", seed="accept-oci")
        url = f"{client.url}/v2/conformance/accept/manifests"
        docker_only = {"Accept": pushed_type(True)}
        # a list, to a client that reads image manifests only: the linux/amd64 entry
        got = client.http.get(f"{url}/list", headers=docker_only)
        assert got.status_code == 200
        assert got.headers["Docker-Content-Digest"] == image["digest"]
        # an OCI manifest, to a client that reads Docker types only
        got = client.http.get(f"{url}/oci", headers=docker_only)
        assert got.status_code == 404
        assert errors_of(got) == ["MANIFEST_UNKNOWN"]
        # wildcard or several types: as stored
        for accept in ("*/*", f"{DOCKER_LIST}, {OCI_MANIFEST}"):
            got = client.http.get(f"{url}/oci", headers={"Accept": accept})
            if accept == "*/*" and differs(
                client_target(client),
                "distribution 2.8 serves OCI manifests only when the "
                "OCI type is named explicitly, not for */*",
            ):
                assert got.status_code == 404
                continue
            assert got.content == oci["manifest"]

    def test_oci_index(self, client):
        pushed = client.push_image("conformance/index", "one", seed="index")
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": pushed["digest"],
                        "size": len(pushed["manifest"]),
                    }
                ],
            }
        ).encode()
        response = client.push_manifest("conformance/index", "all", index, OCI_INDEX)
        assert response.status_code == 201
        got = client.http.get(
            f"{client.url}/v2/conformance/index/manifests/all", headers={"Accept": OCI_INDEX}
        )
        assert got.content == index
        assert got.headers["Content-Type"] == OCI_INDEX

    def test_manifest_blob_unknown(self, client):
        layer = layer_tar({"x": b"not pushed"})
        config = image_config([layer])
        client.push_blob("conformance/push", config)
        response = client.push_manifest(
            "conformance/push", "broken", image_manifest(config, [layer])
        )
        assert response.status_code == 400
        assert errors_of(response) == ["MANIFEST_BLOB_UNKNOWN"]

    def test_manifest_invalid(self, client):
        for body in (b"{", b"[]", b'{"schemaVersion": 2, "config": 5, "layers": []}'):
            response = client.push_manifest("conformance/push", "invalid", body)
            assert response.status_code == 400, body
            assert errors_of(response)[0] in ("MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN")

    def test_manifest_digest_mismatch(self, client):
        pushed = client.push_image("conformance/push", "mismatch", seed="mm")
        response = client.push_manifest("conformance/push", digest(b"other"), pushed["manifest"])
        assert response.status_code == 400
        assert errors_of(response)[0] in ("DIGEST_INVALID", "MANIFEST_INVALID")

    def test_empty_layers_manifest(self, client):
        config = b"{}"
        client.push_blob("conformance/push", config)
        manifest = image_manifest(
            config,
            [],
            config_type="application/vnd.oci.empty.v1+json",
            artifact_type="application/vnd.example+type",
        )
        response = client.push_manifest("conformance/push", "artifact", manifest)
        assert response.status_code == 201


# -- content discovery -----------------------------------------------------------------


@pytest.fixture(scope="class")
def tagged(client):
    """One image under six tags, pushed once for the discovery checks."""
    pushed = client.push_image("conformance/discovery", "base", seed="disc")
    for tag in ["a", "b", "c", "d", "e"]:
        response = client.push_manifest("conformance/discovery", tag, pushed["manifest"])
        assert response.status_code == 201
    return pushed


class TestContentDiscovery:
    def test_tags_list(self, client, tagged):
        response = client.http.get(f"{client.url}/v2/conformance/discovery/tags/list")
        assert response.status_code == 200
        body = response.json()
        assert body["name"] == "conformance/discovery"
        if differs(client_target(client), "distribution 2.8 lists tags in directory order"):
            assert sorted(body["tags"]) == ["a", "b", "base", "c", "d", "e"]
            return
        assert body["tags"] == ["a", "b", "base", "c", "d", "e"]

    def test_tags_pagination(self, client, tagged):
        response = client.http.get(f"{client.url}/v2/conformance/discovery/tags/list?n=2")
        if differs(client_target(client), "distribution 2.8 ignores n and last on tags/list"):
            assert len(response.json()["tags"]) == 6
            assert "Link" not in response.headers
            return
        assert response.json()["tags"] == ["a", "b"]
        assert 'rel="next"' in response.headers["Link"]
        response = client.http.get(f"{client.url}/v2/conformance/discovery/tags/list?n=3&last=b")
        assert response.json()["tags"] == ["base", "c", "d"]
        response = client.http.get(f"{client.url}/v2/conformance/discovery/tags/list?n=10&last=d")
        assert response.json()["tags"] == ["e"]
        assert "Link" not in response.headers

    def test_tags_unknown_repository(self, client):
        response = client.http.get(f"{client.url}/v2/conformance/nothing/tags/list")
        assert response.status_code == 404
        assert errors_of(response) == ["NAME_UNKNOWN"]

    def test_catalog(self, client, tagged):
        # NOTE: a second repository, so that n=1 has a next page whatever ran before.
        client.push_image("conformance/discovery-other", "x", seed="catalog")
        response = client.http.get(f"{client.url}/v2/_catalog")
        assert response.status_code == 200
        assert "conformance/discovery" in response.json()["repositories"]
        first = client.http.get(f"{client.url}/v2/_catalog?n=1")
        assert len(first.json()["repositories"]) == 1
        assert 'rel="next"' in first.headers["Link"]

    def test_referrers(self, client, tagged):
        config = b"{}"
        client.push_blob("conformance/discovery", config)
        subject = {
            "mediaType": OCI_MANIFEST,
            "digest": tagged["digest"],
            "size": len(tagged["manifest"]),
        }
        signature = image_manifest(
            config,
            [],
            config_type="application/vnd.oci.empty.v1+json",
            artifact_type="application/vnd.example.sig",
            subject=subject,
        )
        sbom = image_manifest(
            config,
            [],
            config_type="application/vnd.oci.empty.v1+json",
            artifact_type="application/vnd.example.sbom",
            subject=subject,
        )
        for manifest in (signature, sbom):
            response = client.push_manifest("conformance/discovery", digest(manifest), manifest)
            assert response.status_code == 201
            if differs(client_target(client), "distribution 2.8 predates OCI-Subject"):
                assert "OCI-Subject" not in response.headers
            else:
                assert response.headers["OCI-Subject"] == tagged["digest"]
        url = f"{client.url}/v2/conformance/discovery/referrers/{tagged['digest']}"
        response = client.http.get(url)
        if differs(client_target(client), "distribution 2.8 has no referrers API"):
            assert response.status_code == 404
            return
        assert response.status_code == 200
        assert response.headers["Content-Type"] == OCI_INDEX
        found = {entry["digest"]: entry for entry in response.json()["manifests"]}
        assert set(found) == {digest(signature), digest(sbom)}
        assert found[digest(signature)]["artifactType"] == "application/vnd.example.sig"
        filtered = client.http.get(url, params={"artifactType": "application/vnd.example.sbom"})
        assert [e["digest"] for e in filtered.json()["manifests"]] == [digest(sbom)]
        assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
        empty = client.http.get(
            f"{client.url}/v2/conformance/discovery/referrers/{digest(b'none')}"
        )
        assert empty.status_code == 200
        assert empty.json()["manifests"] == []


# -- content management ----------------------------------------------------------------


class TestContentManagement:
    def test_delete_tag(self, client):
        pushed = client.push_image("conformance/manage", "gone", seed="tagdel")
        response = client.http.delete(f"{client.url}/v2/conformance/manage/manifests/gone")
        if differs(client_target(client), "distribution 2.8 deletes manifests by digest only"):
            assert response.status_code in (400, 405)
            return
        assert response.status_code == 202
        assert (
            client.http.get(f"{client.url}/v2/conformance/manage/manifests/gone").status_code == 404
        )
        by_digest = client.http.get(
            f"{client.url}/v2/conformance/manage/manifests/{pushed['digest']}"
        )
        assert by_digest.status_code == 200

    def test_delete_manifest(self, client):
        pushed = client.push_image("conformance/manage", "doomed", seed="mdel")
        url = f"{client.url}/v2/conformance/manage/manifests/{pushed['digest']}"
        assert client.http.delete(url).status_code == 202
        assert client.http.get(url).status_code == 404
        tags = client.http.get(f"{client.url}/v2/conformance/manage/tags/list")
        assert "doomed" not in (tags.json().get("tags") or []) if tags.ok else True
        assert client.http.delete(url).status_code == 404

    def test_delete_blob(self, client):
        data = b"delete me " + uuid.uuid4().bytes
        client.push_blob("conformance/manage", data)
        url = f"{client.url}/v2/conformance/manage/blobs/{digest(data)}"
        assert client.http.delete(url).status_code == 202
        assert client.http.get(url).status_code == 404
        assert client.http.delete(url).status_code == 404


class RawResponse:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.body = body


def raw_get(base: str, path: str) -> RawResponse:
    """GET ``path`` exactly as written (no dot-segment removal)."""
    host = base.split("//", 1)[1]
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return RawResponse(response.status, response.read())
    finally:
        connection.close()


def pushed_type(docker: bool) -> str:
    from v2support import DOCKER_MANIFEST

    return DOCKER_MANIFEST if docker else OCI_MANIFEST


_TARGETS: dict[str, Server] = {}


def client_target(client: Client) -> Server:
    return _TARGETS[client.url]


@pytest.fixture(scope="module", autouse=True)
def _register_target(target: Server):
    _TARGETS[target.url] = target
    yield
    _TARGETS.pop(target.url, None)
