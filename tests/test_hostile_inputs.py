"""Hostile input against a live server: every answer is a 4xx in the API's error envelope.

Issue 11, section 3 ("no input answers 500") and the ``?tag=`` cap of section 4. Each
test below is one input that answered 500 (or an unbounded push) before the fix.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest
from raw_http import send

#: More digits than Python's int-string conversion accepts (4,300 by default).
HUGE_NUMBER = "9" * 5000
#: Deep enough to exhaust the JSON parser's recursion.
DEEP = 100_000
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def oci_errors(body: bytes) -> list[str]:
    """The codes of an OCI error envelope (fails when the body is not one)."""
    document = json.loads(body)
    return [entry["code"] for entry in document["errors"]]


def v1_error(body: bytes) -> str:
    """The message of a v1 error body ``{"error": "..."}``."""
    document = json.loads(body)
    assert set(document) == {"error"}, document
    return document["error"]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def registry(start_registry):
    return start_registry()


def push_blob(url: str, name: str, data: bytes) -> str:
    digest = sha256(data)
    status, _, body = send(url, "POST", f"/v2/{name}/blobs/uploads/?digest={digest}", data)
    assert status == 201, body
    return digest


def start_upload(url: str, name: str) -> str:
    status, headers, body = send(url, "POST", f"/v2/{name}/blobs/uploads/")
    assert status == 202, body
    return headers["Location"]


def image_manifest(url: str, name: str) -> bytes:
    """A valid OCI image manifest whose config and layer are pushed to ``name``."""
    config = push_blob(url, name, b"{}")
    layer = push_blob(url, name, b"layer bytes")
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config,
                "size": 2,
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 11}
            ],
        }
    ).encode()


# -- (a) a manifest nested 100,000 levels deep -----------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        b"[" * DEEP + b"]" * DEEP,
        b'{"schemaVersion": 2, "annotations": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}",
    ],
    ids=["array", "inside-an-object"],
)
def test_deeply_nested_manifest_is_manifest_invalid(registry, document):
    status, _, body = send(
        registry.url,
        "PUT",
        "/v2/deep/app/manifests/latest",
        document,
        {"Content-Type": OCI_MANIFEST},
    )
    assert status == 400, body
    assert oci_errors(body) == ["MANIFEST_INVALID"]
    assert b"nested" in body


# -- (b) integers of more than 4,300 digits --------------------------------------------


@pytest.mark.parametrize(
    "range_header",
    [f"bytes={HUGE_NUMBER}-", f"bytes=0-{HUGE_NUMBER}", f"bytes=-{HUGE_NUMBER}"],
    ids=["start", "end", "suffix"],
)
def test_huge_integer_in_range_of_a_blob_get_is_416(registry, range_header):
    digest = push_blob(registry.url, "ranges/app", b"hello")
    status, headers, body = send(
        registry.url, "GET", f"/v2/ranges/app/blobs/{digest}", headers={"Range": range_header}
    )
    assert status == 416, body
    assert oci_errors(body) == ["SIZE_INVALID"]
    assert headers["Content-Range"] == "bytes */5"


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_huge_integer_in_content_range_of_an_upload_is_4xx(registry, method):
    location = start_upload(registry.url, "chunks/app")
    if method == "PUT":
        location += "&digest=" + sha256(b"x")
    status, _, body = send(
        registry.url,
        method,
        location,
        b"x",
        {
            "Content-Range": f"{HUGE_NUMBER}-{HUGE_NUMBER}",
            "Content-Type": "application/octet-stream",
        },
    )
    assert status in (400, 416), body
    assert oci_errors(body) == ["BLOB_UPLOAD_INVALID"]
    # NOTE: the session is still usable from offset 0 afterwards.
    status, headers, _ = send(registry.url, "GET", location.split("&digest=")[0])
    assert (status, headers["Range"]) == (204, "0-0")


@pytest.mark.parametrize(
    "target", ["/v2/_catalog?n={n}", "/v2/paged/app/tags/list?n={n}"], ids=["catalog", "tags"]
)
@pytest.mark.parametrize(
    "n",
    [HUGE_NUMBER, "9223372036854775808", "%C2%B2", "%D9%A3"],
    ids=["5000-digits", "2**63", "superscript-two", "arabic-indic-three"],
)
def test_n_that_is_not_a_63_bit_ascii_number_is_pagination_invalid(registry, target, n):
    push_blob(registry.url, "paged/app", b"so the repository exists")
    status, _, body = send(registry.url, "GET", target.format(n=n))
    assert status == 400, body
    assert oci_errors(body) == ["PAGINATION_NUMBER_INVALID"]


@pytest.mark.parametrize(
    ("range_header", "answer"),
    [
        (f"bytes={HUGE_NUMBER}-", (416, b"")),
        (f"bytes=0-{HUGE_NUMBER}", (206, b"layer bytes")),
        (f"bytes=-{HUGE_NUMBER}", (206, b"layer bytes")),
    ],
    ids=["start", "end", "suffix"],
)
def test_huge_integer_in_range_of_a_v1_layer_is_a_position(registry, range_header, answer):
    image_id = "a" * 64
    image_json = json.dumps({"id": image_id}).encode()
    assert send(registry.url, "PUT", f"/v1/images/{image_id}/json", image_json)[0] == 200
    assert send(registry.url, "PUT", f"/v1/images/{image_id}/layer", b"layer bytes")[0] == 200
    payload = sha256(image_json + b"\n" + b"layer bytes")
    checksum = {"X-Docker-Checksum-Payload": payload}
    assert send(registry.url, "PUT", f"/v1/images/{image_id}/checksum", b"", checksum)[0] == 200
    status, _, body = send(
        registry.url, "GET", f"/v1/images/{image_id}/layer", headers={"Range": range_header}
    )
    # NOTE: RFC 9110 positions are 1*DIGIT: a huge one is past the end of the layer (every
    # case of the grammar: tests/v1/test_v1_layer_ranges.py).
    assert status == answer[0]
    if status == 206:
        assert body == answer[1]


# -- (c) a non-ASCII namespace on PUT /v1/repositories/<ns>/<repo>/ --------------------


@pytest.mark.parametrize("suffix", ["/", "/images"])
def test_namespace_that_cannot_be_sent_in_x_docker_token_is_400(registry, suffix):
    storage = registry.storage_path
    status, _, body = send(registry.url, "PUT", f"/v1/repositories/%E6%97%A5/app{suffix}", b"[]")
    assert status == 400, body
    assert "X-Docker-Token" in v1_error(body)
    # NOTE: refused before anything is stored.
    assert not any("app" in path.name for path in storage.rglob("*"))


def test_latin1_namespace_still_gets_its_token(registry):
    status, headers, body = send(registry.url, "PUT", "/v1/repositories/%C3%A9t%C3%A9/app/", b"[]")
    assert status == 200, body
    assert 'repository="\xe9t\xe9/app"' in headers["X-Docker-Token"]


# -- section 4: the ?tag= cap ------------------------------------------------------------


def test_manifest_put_with_more_tags_than_the_cap_is_400(start_registry):
    registry = start_registry(v2_max_tags_per_push=3)
    manifest = image_manifest(registry.url, "many/tags")
    target = f"/v2/many/tags/manifests/{sha256(manifest)}?"
    headers = {"Content-Type": OCI_MANIFEST}

    status, _, body = send(
        registry.url, "PUT", target + "tag=a&tag=b&tag=c&tag=d", manifest, headers
    )
    assert status == 400, body
    assert oci_errors(body) == ["TAG_INVALID"]
    assert b"v2_max_tags_per_push" in body
    status, _, body = send(registry.url, "GET", "/v2/many/tags/tags/list")
    assert json.loads(body)["tags"] == []

    status, _, body = send(registry.url, "PUT", target + "tag=a&tag=b&tag=c", manifest, headers)
    assert status == 201, body
    status, _, body = send(registry.url, "GET", "/v2/many/tags/tags/list")
    assert json.loads(body)["tags"] == ["a", "b", "c"]


def test_tag_cap_defaults_to_100(registry):
    manifest = image_manifest(registry.url, "default/cap")
    target = f"/v2/default/cap/manifests/{sha256(manifest)}?"
    headers = {"Content-Type": OCI_MANIFEST}
    tags = [f"t{index}" for index in range(101)]

    status, _, body = send(
        registry.url, "PUT", target + "&".join(f"tag={t}" for t in tags), manifest, headers
    )
    assert status == 400, body
    assert oci_errors(body) == ["TAG_INVALID"]
    status, _, body = send(
        registry.url, "PUT", target + "&".join(f"tag={t}" for t in tags[:100]), manifest, headers
    )
    assert status == 201, body


# -- found while looking for the same classes: a PAX mtime of 1e999 in a v1 layer ----------


@pytest.mark.parametrize("mtime", ["1e999", "9" * 5000])
def test_layer_with_an_infinite_pax_mtime_is_layer_format_not_supported(registry, mtime):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
        member = tarfile.TarInfo("file")
        member.size, member.pax_headers = 3, {"mtime": mtime}
        tar.addfile(member, io.BytesIO(b"abc"))
    layer = archive.getvalue()
    image_id = "b" * 64
    image_json = json.dumps({"id": image_id}).encode()
    assert send(registry.url, "PUT", f"/v1/images/{image_id}/json", image_json)[0] == 200
    assert send(registry.url, "PUT", f"/v1/images/{image_id}/layer", layer)[0] == 200
    payload = {"X-Docker-Checksum-Payload": sha256(image_json + b"\n" + layer)}
    assert send(registry.url, "PUT", f"/v1/images/{image_id}/checksum", b"", payload)[0] == 200

    status, _, body = send(registry.url, "GET", f"/v1/images/{image_id}/files")
    assert status == 400, body
    assert v1_error(body) == "Layer format not supported"
