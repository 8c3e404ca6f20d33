"""Untrusted content is escaped, and no input makes a page answer 5xx.

Labels, env, annotations, authors, history, tag and repository names come from whoever
pushed; some are written straight into storage here (as another tool writing the same
layout could), past the API's own grammar checks.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from uisupport import OCI_INDEX, OCI_MANIFEST, digest, image_config, layer_tar, manifest

from docker_registry.core.v2 import layout

SCRIPT = '<script>alert("pwned")</script>'
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
HOSTILE = SCRIPT + ATTRIBUTE


def assert_escaped(page: str) -> None:
    """No markup of ours came from the content: every hostile string is inert text."""
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "onerror=alert(1)>" not in page
    # exactly our own one script element, in the head
    assert len(re.findall(r"<script\b", page)) == 1


def store(ui, name: str, tag: str, data: bytes) -> str:
    """Write a manifest and a tag straight into storage (no API checks)."""
    found = hashlib.sha256(data).hexdigest()
    ui.storage.put_content(layout.blob_data("sha256", found), data)
    ui.storage.put_content(layout.revision_link(name, "sha256", found), f"sha256:{found}".encode())
    link = f"sha256:{found}".encode()
    ui.storage.put_content(layout.tag_current_link(name, tag), link)
    ui.storage.put_content(layout.tag_index_link(name, tag, "sha256", found), link)
    return f"sha256:{found}"


def test_hostile_labels_env_annotations_and_history_are_escaped(ui):
    layer = layer_tar({"a": b"a"})
    config = json.loads(
        image_config([layer], labels={HOSTILE: HOSTILE}, env=[f"X={HOSTILE}"], cmd=[HOSTILE])
    )
    config["author"] = HOSTILE
    config["history"] = [{"created_by": HOSTILE, "comment": HOSTILE}]
    config_bytes = json.dumps(config).encode()
    data = manifest(config_bytes, [layer], annotations={HOSTILE: HOSTILE})
    ui.push.blob("team/app", layer)
    ui.push.blob("team/app", config_bytes)
    ui.push.manifest("team/app", "1.0", data)
    signature = ui.push.referrer("team/app", data, "application/vnd.example.sig", b"s")
    for path in (
        "/ui/v2/team/app/manifests/1.0",
        "/ui/v2/team/app",
        f"/ui/v2/team/app/manifests/{signature}",
    ):
        page = ui.get(path)
        assert page.status_code == 200, page.text
        assert_escaped(page.text)
    page = ui.get("/ui/v2/team/app/manifests/1.0").text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;") >= 6  # label key and value, env, cmd, author, history


def test_hostile_tag_names_written_to_storage_are_escaped(ui):
    image = ui.push.image("team/app", "1.0")
    store(ui, "team/app", "<b onclick=alert(1)>bold&x=1", image["manifest"])
    store(ui, "team/app", 'x" onmouseover="alert(1)', image["manifest"])
    page = ui.get("/ui/v2/team/app")
    assert page.status_code == 200
    assert "<b onclick" not in page.text
    assert "&lt;b onclick=alert(1)&gt;bold&amp;x=1" in page.text
    assert '" onmouseover="alert(1)' not in page.text
    assert "x&#34; onmouseover=&#34;alert(1)" in page.text
    # the tag is shown, its link is percent-encoded, and its page says the name is invalid
    assert "/manifests/%3Cb%20onclick%3Dalert%281%29%3Ebold%26x%3D1" in page.text
    assert "invalid tag" in page.text
    tag_page = ui.get("/ui/v2/team/app/manifests/%3Cb%20onclick%3Dalert%281%29%3Ebold%26x%3D1")
    assert tag_page.status_code == 400
    assert_escaped(tag_page.text)


def test_hostile_v1_repository_names_and_search_terms_are_escaped(ui):
    image_id = "d4" * 32
    ui.client.simulate_put(
        f"/v1/images/{image_id}/json", body=json.dumps({"id": image_id, "author": HOSTILE})
    )
    ui.client.simulate_put(f"/v1/images/{image_id}/layer", body=b"layer")
    name = "evil/%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    tagged = ui.client.simulate_put(f"/v1/repositories/{name}/tags/latest", body=f'"{image_id}"')
    assert tagged.status_code == 200, tagged.text
    listing = ui.get("/ui/")
    assert listing.status_code == 200
    assert_escaped(listing.text)
    assert "evil/&lt;script&gt;alert(1)&lt;/script&gt;" in listing.text
    link = re.search(r'href="(/ui/v1/evil/[^"]+)"', listing.text)
    assert link is not None
    page = ui.get(link.group(1))
    assert page.status_code == 200, page.text
    assert_escaped(page.text)
    image = ui.get(link.group(1) + f"/images/{image_id}")
    assert image.status_code == 200
    assert_escaped(image.text)
    searched = ui.get("/ui/", params={"q": SCRIPT})
    assert searched.status_code == 200
    assert_escaped(searched.text)


def test_broken_stored_content_is_shown_as_such(ui):
    store(ui, "team/broken", "not-json", b"\xff\xfe not json {")
    store(ui, "team/broken", "list", b"[1, 2, 3]")
    layer = layer_tar({"a": b"a"})
    ui.push.blob("team/broken", layer)
    for tag, config in (
        ("bad-config", b"{not json"),
        ("deep-config", b"[" * 100000 + b"]" * 100000),
        ("typed-config", json.dumps({"config": {"Env": {"a": 1}, "Labels": [1], "Cmd": 7},
                                     "history": "no", "os": 1}).encode()),
    ):  # fmt: skip
        ui.push.blob("team/broken", config)
        ui.push.manifest("team/broken", tag, manifest(config, [layer]))
    # a config that claims to be huge is never read
    huge = json.loads(manifest(b"{}", [layer]))
    huge["config"]["size"] = 10 * 1024**3
    store(ui, "team/broken", "huge-config", json.dumps(huge).encode())
    # descriptors of the wrong types, from another tool
    odd = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"mediaType": ["x"]},
           "layers": [{"digest": 5, "size": "big"}, "x"], "annotations": {"k": {"nested": 1}},
           "subject": {"digest": "md5:abc"}}  # fmt: skip
    store(ui, "team/broken", "odd", json.dumps(odd).encode())
    page = ui.get("/ui/v2/team/broken")
    assert page.status_code == 200, page.text
    assert "the manifest is not a JSON object" in page.text
    for tag in (
        "not-json",
        "list",
        "bad-config",
        "deep-config",
        "typed-config",
        "huge-config",
        "odd",
    ):
        answer = ui.get(f"/ui/v2/team/broken/manifests/{tag}")
        assert answer.status_code == 200, (tag, answer.text)
    assert (
        "the config is not a JSON object" in ui.get("/ui/v2/team/broken/manifests/bad-config").text
    )
    assert (
        "only configs up to 1 MiB are read"
        in ui.get("/ui/v2/team/broken/manifests/huge-config").text
    )


def test_huge_index_is_cut_not_failed(ui):
    children = [
        {"mediaType": OCI_MANIFEST, "digest": digest(str(n).encode()), "size": 10,
         "platform": {"os": "linux", "architecture": f"arch{n}"}}
        for n in range(5000)
    ]  # fmt: skip
    data = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    store(ui, "team/huge", "latest", data)
    page = ui.get("/ui/v2/team/huge/manifests/latest")
    assert page.status_code == 200
    assert "And 4800 more not shown." in page.text
    assert "Cut at 64 KiB." in page.text
    row = ui.get("/ui/v2/team/huge")
    assert row.status_code == 200 and "unknown" in row.text  # children not here: size unknown


HOSTILE_PATHS = [
    "/ui/v2/", "/ui/v2//x", "/ui/v2/A/B", "/ui/v2/x/manifests/", "/ui/v2/x/manifests/%00",
    "/ui/v2/x/manifests/sha256:", "/ui/v2/x/manifests/md5:abc", "/ui/v2/x/manifests/sha256:" + "a" * 64,  # noqa: E501
    "/ui/v2/" + "a/" * 200 + "b", "/ui/v2/x/manifests/" + "t" * 300, "/ui/v1/", "/ui/v1/x",
    "/ui/v1/a/b/images/zz", "/ui/v1/a/b/images/" + "e" * 64, "/ui/v1/../../etc/passwd",
    "/ui/v1/a/%0a", "/ui/v1/%2e%2e/x", "/ui/v1/a/" + "%ff" * 10, "/ui/v1/a/" + "x" * 400,
    "/ui/static/../pages.py", "/ui/static/", "/ui/login/", "/ui//", "/ui/v2/x/tags/list",
    "/ui/?page=-1", "/ui/?page=abc", "/ui/?page=99999999999999999999999", "/ui/?q=" + "%" * 10,
    "/ui/?q=" + "x" * 10000, "/ui/v2/team/app?page=0", "/ui/v2/team/app?page=%00",
]  # fmt: skip


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_no_path_or_parameter_answers_5xx(ui, path):
    ui.push.image("team/app", "1.0")
    base, _, query = path.partition("?")
    for method in ("GET", "HEAD", "POST", "PUT", "DELETE"):
        answer = ui.client.simulate_request(method, base, query_string=query or None)
        assert answer.status_code < 500, (method, path, answer.text[:500])
