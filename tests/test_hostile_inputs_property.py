"""Property: whatever a client sends to whatever route, the live server answers below 500,
writes nothing outside its storage root, and keeps serving (issue 11, section 3).

Requests go out through http.client, which sends the target as written: ``..`` segments
and percent-encoded slashes reach the server raw (requests would normalise them away).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_http import send

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REPOSITORY = "fuzz/app"
IMAGE_ID = "f" * 64
METHODS = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"]
HUGE_NUMBER = "9" * 5000
DEEP = 100_000


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def files_outside(root: Path) -> dict[str, int]:
    """Every file and folder beside the storage root (its parent, minus the root), with
    sizes: what must not change while the server runs."""
    return {
        str(path.relative_to(root.parent)): path.stat().st_size if path.is_file() else -1
        for path in root.parent.rglob("*")
        if root not in (path, *path.parents)
    }


# -- seeded content: the routes that read something find it ---------------------------


def seed(url: str) -> dict[str, str]:
    """A blob, a tagged manifest, an open upload and a tagged v1 image; what hostile
    requests may name."""
    config, layer = b"{}", b"layer bytes"
    for data in (config, layer):
        status, _, body = send(
            url, "POST", f"/v2/{REPOSITORY}/blobs/uploads/?digest={sha256(data)}", data
        )
        assert status == 201, body
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer),
                    "size": 11,
                }
            ],
        }
    ).encode()
    status, _, body = send(
        url, "PUT", f"/v2/{REPOSITORY}/manifests/latest", manifest, {"Content-Type": OCI_MANIFEST}
    )
    assert status == 201, body
    status, headers, body = send(url, "POST", f"/v2/{REPOSITORY}/blobs/uploads/")
    assert status == 202, body
    upload = headers["Location"]
    image_json = json.dumps({"id": IMAGE_ID}).encode()
    assert send(url, "PUT", f"/v1/images/{IMAGE_ID}/json", image_json)[0] == 200
    assert send(url, "PUT", f"/v1/images/{IMAGE_ID}/layer", layer)[0] == 200
    payload = {"X-Docker-Checksum-Payload": sha256(image_json + b"\n" + layer)}
    assert send(url, "PUT", f"/v1/images/{IMAGE_ID}/checksum", b"", payload)[0] == 200
    assert (
        send(url, "PUT", "/v1/repositories/fuzz/app/tags/latest", json.dumps(IMAGE_ID).encode())[0]
        == 200
    )
    return {
        "blob": sha256(layer),
        "manifest": sha256(manifest),
        "upload_id": upload.split("/")[-1].split("?")[0],
        "state": upload.split("_state=", 1)[1],
    }


# -- strategies ---------------------------------------------------------------------------
#
# NOTE: a bug needs a route, a method, a name and an id that get past validation, *and*
# the hostile value. Each placeholder is therefore the seeded value two times in three,
# and each hostile header or query value comes from a list of known edges two times in
# three; random text fills the rest.

#: Path segments a hostile client tries: traversal (raw and encoded), encoded slashes,
#: NUL, non-ASCII, huge numbers, over-long names.
HOSTILE_SEGMENTS = [
    "..",
    ".",
    "%2e%2e",
    "%2E%2E%2F%2E%2E%2Fcanary",
    "..%2f..%2fcanary",
    "..%5c..%5ccanary",
    "%00",
    "a%00b",
    "%E6%97%A5",
    "%C3%A9",
    "%FF%FE",
    "%",
    "%zz",
    HUGE_NUMBER,
    "a" * 300,
    "sha256:" + "0" * 64,
    "sha512:" + "0" * 128,
    "sha256:" + "../" * 10,
    "_uploads",
    "_manifests",
]
HOSTILE_NAMES = ["../../canary", "fuzz/../../..", "a/%2e%2e/b", "../canary/x", "%E6%97%A5/app"]

#: Every route with the methods it serves. Placeholders: ``{name}`` a repository,
#: ``{reference}`` a tag or digest, ``{digest}``, ``{upload}`` an upload id, ``{image}``
#: a v1 image id, ``{tag}``, ``{user}``, ``{other}`` anything.
ROUTES = [
    ("/", "GET"),
    ("/_ping", "GET"),
    ("/v1/_ping", "GET"),
    ("/v2", "GET HEAD"),
    ("/v2/", "GET HEAD"),
    ("/v2/_catalog", "GET"),
    ("/v2/{name}/manifests/{reference}", "GET HEAD PUT DELETE"),
    ("/v2/{name}/blobs/{digest}", "GET HEAD DELETE"),
    ("/v2/{name}/blobs/uploads/", "POST"),
    ("/v2/{name}/blobs/uploads/{upload}", "GET PATCH PUT DELETE"),
    ("/v2/{name}/tags/list", "GET"),
    ("/v2/{name}/referrers/{digest}", "GET"),
    ("/v1/images/{image}/json", "GET HEAD PUT"),
    ("/v1/images/{image}/layer", "GET HEAD PUT"),
    ("/v1/images/{image}/checksum", "PUT"),
    ("/v1/images/{image}/ancestry", "GET"),
    ("/v1/images/{image}/files", "GET"),
    ("/v1/images/{image}/diff", "GET"),
    ("/v1/repositories/{name}/", "PUT DELETE"),
    ("/v1/repositories/{name}", "PUT"),
    ("/v1/repositories/{name}/tags", "GET DELETE"),
    ("/v1/repositories/{name}/tags/{tag}", "GET PUT DELETE"),
    ("/v1/repositories/{name}/tags/{tag}/json", "GET"),
    ("/v1/repositories/{name}/images", "GET PUT DELETE"),
    ("/v1/repositories/{name}/auth", "PUT"),
    ("/v1/repositories/{name}/properties", "GET PUT"),
    ("/v1/repositories/{name}/json", "GET"),
    ("/v1/search", "GET"),
    ("/v1/users/", "GET POST"),
    ("/v1/users/{user}/", "PUT"),
    ("/{other}/{other}", "GET"),
]


def mostly(seeded: st.SearchStrategy, hostile: st.SearchStrategy) -> st.SearchStrategy:
    """``seeded`` two times in three, else ``hostile``."""
    return st.one_of(seeded, seeded, hostile)


def any_segment() -> st.SearchStrategy[str]:
    random_text = st.text(max_size=40).map(lambda text: quote(text, safe=""))
    raw_ascii = st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#"),
        max_size=20,
    )
    return st.one_of(st.sampled_from(HOSTILE_SEGMENTS), random_text, raw_ascii)


def placeholders(seeded: dict[str, str]) -> dict[str, st.SearchStrategy[str]]:
    names = st.one_of(
        st.sampled_from(HOSTILE_NAMES),
        st.lists(any_segment(), min_size=1, max_size=4).map("/".join),
    )
    digests = st.sampled_from([seeded["blob"], seeded["manifest"]])
    return {
        "name": mostly(st.just(REPOSITORY), names),
        "reference": mostly(st.sampled_from(["latest", seeded["manifest"]]), any_segment()),
        "digest": mostly(digests, any_segment()),
        "upload": mostly(st.just(seeded["upload_id"]), any_segment()),
        "image": mostly(st.just(IMAGE_ID), any_segment()),
        "tag": mostly(st.just("latest"), any_segment()),
        "user": any_segment(),
        "other": any_segment(),
    }


#: ``(method, route)`` pairs, each given its own examples: every method a route serves,
#: and ``None`` (any method) once per route.
SKELETONS = [
    (method, template) for template, methods in ROUTES for method in [*methods.split(), None]
]
EXAMPLES_PER_SKELETON = 10


@st.composite
def request_lines(draw, seeded: dict[str, str], skeleton) -> tuple[str, str]:
    """``(method, path)`` of ``skeleton`` with its placeholders filled."""
    method, template = skeleton
    values = {key: draw(strategy) for key, strategy in placeholders(seeded).items()}
    return method or draw(st.sampled_from(METHODS)), template.format(**values)


HOSTILE_NUMBERS = [HUGE_NUMBER, "9223372036854775808", "-1", "0", "1", "²", "٣", "", "%"]


@st.composite
def queries(draw, seeded: dict[str, str]) -> str:
    hostile = [*HOSTILE_NUMBERS, seeded["blob"], seeded["manifest"], "a" * 500, "latest"]
    values = mostly(st.sampled_from(hostile), st.text(max_size=30))
    pairs = [("_state", seeded["state"])] if draw(st.booleans()) else []
    keys = st.sampled_from(["n", "last", "digest", "mount", "from", "tag", "artifactType", "q"])
    pairs += draw(st.lists(st.tuples(keys, values), max_size=4))
    pairs += [("page", value) for value in draw(st.lists(values, max_size=1))]
    return "?" + "&".join(f"{key}={quote(value, safe='')}" for key, value in pairs)


#: Header values http.client can send: Latin-1 without CR and LF.
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=60,
)
HOSTILE_HEADERS = {
    "Range": [
        f"bytes={HUGE_NUMBER}-",
        f"bytes=0-{HUGE_NUMBER}",
        f"bytes=-{HUGE_NUMBER}",
        "bytes=0-9223372036854775808",
        "bytes=5-1",
        "bytes=0-0,2-3",
        "bytes=-0",
        "bytes=²-",
        "bytes=1-2",
    ],
    "Content-Range": [
        f"{HUGE_NUMBER}-{HUGE_NUMBER}",
        f"0-{HUGE_NUMBER}",
        "0-0",
        "5-1",
        "bytes 0-3/*",
        "0-18446744073709551616",
    ],
    "Content-Type": [
        OCI_MANIFEST,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    ],
    "Accept": [OCI_MANIFEST, "*/*", f"{OCI_MANIFEST};q={HUGE_NUMBER}"],
    "Authorization": [
        'Token signature=X,repository="fuzz/app",access=write',
        "Basic %%%",
        "Token " + "a=" * 200,
    ],
    "X-Docker-Checksum-Payload": ["sha256:" + "0" * 64, "tarsum+sha256:xyz"],
    "If-Modified-Since": ["Thu, 01 Jan 1970 00:00:00 GMT", HUGE_NUMBER],
}


@st.composite
def headers(draw) -> dict[str, str]:
    """Each header of :data:`HOSTILE_HEADERS` one time in two, mostly a known edge."""
    chosen = {}
    for name, edges in HOSTILE_HEADERS.items():
        if draw(st.booleans()):
            chosen[name] = draw(mostly(st.sampled_from(edges), header_text))
    return chosen


HOSTILE_BODIES = [
    b"",
    b"[" * DEEP + b"]" * DEEP,
    b'{"schemaVersion": 2, "a": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}",
    b"[" + HUGE_NUMBER.encode() + b"]",
    json.dumps({"id": IMAGE_ID, "parent": "../" * 20}).encode(),
    json.dumps(
        {
            "schemaVersion": 2,
            "config": {"digest": "sha256:" + "../" * 30, "size": -1},
            "layers": [{}],
        }
    ).encode(),
    json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [{"digest": "sha256:" + "0" * 64, "size": 1, "platform": "x"}],
        }
    ).encode(),
    json.dumps(
        {
            "schemaVersion": 2,
            "subject": {"digest": "sha256:" + "0" * 64, "size": 10**30},
            "config": {},
            "layers": [],
        }
    ).encode(),
    json.dumps([{"id": IMAGE_ID, "checksum": 1}]).encode(),
    json.dumps({"access": "private"}).encode(),
    json.dumps(IMAGE_ID).encode(),
    b"\xff\xfe\x00",
]
bodies = st.one_of(st.none(), mostly(st.sampled_from(HOSTILE_BODIES), st.binary(max_size=2048)))


# -- the property -------------------------------------------------------------------------


def test_no_request_answers_5xx_or_writes_outside_the_storage_root(start_registry):
    registry = start_registry(delete_enabled=True)
    root = registry.storage_path
    assert root is not None
    canary = root.parent / "canary"
    canary.mkdir()
    (canary / "keep").write_text("unchanged")
    seeded = seed(registry.url)
    outside = files_outside(root)
    statuses: list[int] = []

    def no_5xx(skeleton) -> None:
        @settings(
            max_examples=EXAMPLES_PER_SKELETON,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            line=request_lines(seeded, skeleton),
            query=queries(seeded),
            request_headers=headers(),
            body=bodies,
        )
        def property(line, query, request_headers, body):
            method, path = line
            status, _, answer = send(registry.url, method, path + query, body, request_headers)
            statuses.append(status)
            assert status < 500, (
                f"{method} {path + query} -> {status}: {answer[:300]!r}\n{registry.log()}"
            )
            assert files_outside(root) == outside, f"{method} {path + query} wrote outside {root}"

        property()

    for skeleton in SKELETONS:
        no_5xx(skeleton)
    # NOTE: proof that the requests went through and mostly reached the handlers.
    assert len(statuses) >= len(SKELETONS) * EXAMPLES_PER_SKELETON // 2
    assert sum(status < 300 for status in statuses) > len(statuses) // 10
    status, _, answer = send(registry.url, "GET", "/v2/")
    assert (status, answer) == (200, b"{}")
    assert (canary / "keep").read_text() == "unchanged"
