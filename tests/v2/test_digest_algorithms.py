"""Digests of algorithms we do not implement, on every route that takes a digest, compared
with the reference registry (issue 15 §4).

A well-formed digest of an unknown algorithm (``md5:<hex>``, ``sha1:<hex>``) is
``400 DIGEST_INVALID``, the code clients map to "bad digest", as the reference answers
where it parses the digest at all. ``sha384`` is registered in the reference (go-digest)
and here: an unknown sha384 blob is ``BLOB_UNKNOWN`` on both.

Where the reference answers something else, the difference is listed in ``DIVERGENT``
with the reason and both answers are asserted, so a change on either side shows.
"""

from __future__ import annotations

import hashlib

import pytest
import requests
from v2support import OCI_MANIFEST, Client, with_digest

MD5 = "md5:" + hashlib.md5(b"hello").hexdigest()
SHA1 = "sha1:" + hashlib.sha1(b"hello").hexdigest()
SHA384 = "sha384:" + hashlib.sha384(b"not pushed").hexdigest()
REPO = "digests/app"

#: route -> the reference's answer, where ours is 400 DIGEST_INVALID and the reference's
#: is not: (status, error code or None), and why we do not copy it.
DIVERGENT = {
    # The reference takes an unparsable digest for a tag name and fails reading it.
    "GET manifest": ((500, "UNKNOWN"), "the reference reads md5:... as a tag: a 500"),
    "HEAD manifest": ((500, None), "same, without a body"),
    "PUT manifest": ((500, "UNKNOWN"), "same, on write"),
    # The reference ignores a digest it cannot parse and opens an upload session.
    "POST monolithic": ((202, None), "the body would be dropped; the client learns nothing"),
    "POST mount": ((202, None), "ours refuses a malformed mount the same way"),
    # distribution 2.8 has no referrers API.
    "GET referrers": ((404, None), "no such route in distribution 2.8"),
}


def answer(server, route: str, digest: str, manifest: bytes = b"") -> tuple[int, str | None]:
    """Send ``route`` with ``digest`` to ``server``; return (status, first error code)."""
    url = f"{server.url}/v2/{REPO}"
    http = requests.Session()
    if route == "PUT upload":
        started = http.post(f"{url}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = Client(server.url).absolute(started.headers["Location"])
        response = http.put(with_digest(location, digest), data=b"hello")
    elif route == "PATCH+PUT upload":
        started = http.post(f"{url}/blobs/uploads/")
        location = Client(server.url).absolute(started.headers["Location"])
        patched = http.patch(location, data=b"hello")
        assert patched.status_code == 202, patched.text
        location = Client(server.url).absolute(patched.headers["Location"])
        response = http.put(with_digest(location, digest))
    elif route == "POST monolithic":
        response = http.post(f"{url}/blobs/uploads/?digest={digest}", data=b"hello")
    elif route == "POST mount":
        response = http.post(f"{url}/blobs/uploads/?mount={digest}&from=other/app")
    elif route == "PUT manifest":
        response = http.put(
            f"{url}/manifests/{digest}", data=manifest, headers={"Content-Type": OCI_MANIFEST}
        )
    else:
        method, kind = route.split()
        path = {"blob": "blobs", "manifest": "manifests", "referrers": "referrers"}[kind]
        response = http.request(method, f"{url}/{path}/{digest}")
    code = None
    if method_has_body(route) and response.content:
        try:
            code = response.json()["errors"][0]["code"]
        except (ValueError, KeyError, IndexError):
            code = None
    return response.status_code, code


def method_has_body(route: str) -> bool:
    return not route.startswith("HEAD")


ROUTES = [
    "GET blob",
    "HEAD blob",
    "DELETE blob",
    "GET manifest",
    "HEAD manifest",
    "DELETE manifest",
    "PUT manifest",
    "PUT upload",
    "PATCH+PUT upload",
    "POST monolithic",
    "POST mount",
    "GET referrers",
]


@pytest.mark.parametrize("digest", [MD5, SHA1], ids=["md5", "sha1"])
def test_unsupported_algorithm_is_digest_invalid_like_the_reference(ours, reference, digest):
    # NOTE: a manifest whose blobs are in the repository, so only the digest is wrong.
    manifest = Client(ours.url).push_image(REPO, "latest")["manifest"]
    assert Client(reference.url).push_image(REPO, "latest")["manifest"] == manifest
    mismatches = []
    for route in ROUTES:
        mine = answer(ours, route, digest, manifest)
        theirs = answer(reference, route, digest, manifest)
        expected_mine = (400, None if route.startswith("HEAD") else "DIGEST_INVALID")
        if mine != expected_mine:
            mismatches.append(f"{route}: ours {mine}, expected {expected_mine}")
        expected_theirs = DIVERGENT[route][0] if route in DIVERGENT else expected_mine
        if theirs != expected_theirs:
            mismatches.append(f"{route}: reference {theirs}, expected {expected_theirs}")
    assert not mismatches, "\n".join(mismatches)


def test_sha384_is_an_algorithm_like_in_the_reference(ours, reference):
    for server in (ours, reference):
        assert answer(server, "GET blob", SHA384) == (404, "BLOB_UNKNOWN"), server.kind
    # and a blob can be pushed and read back under its sha384 digest
    data = b"sha384 content"
    sha384 = "sha384:" + hashlib.sha384(data).hexdigest()
    for server in (ours, reference):
        client = Client(server.url)
        started = client.http.post(f"{server.url}/v2/{REPO}/blobs/uploads/")
        location = client.absolute(started.headers["Location"])
        done = client.http.put(with_digest(location, sha384), data=data)
        assert done.status_code == 201, (server.kind, done.text)
        fetched = client.http.get(f"{server.url}/v2/{REPO}/blobs/{sha384}")
        assert (fetched.status_code, fetched.content) == (200, data), server.kind
