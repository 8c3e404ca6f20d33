"""The pages read what was pushed: repository list, tags, manifests, referrers, v1."""

from __future__ import annotations

import html
import json
import re

import falcon.testing
import pytest

from docker_registry.core import hookimpl
from docker_registry.core.app import create_app
from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.hookspecs import SearchBackendSpec
from docker_registry.core.http_errors import RegistryError
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.plugins.ui.options import UiOptions

V1_IMAGE = "a1" * 32
V1_PARENT = "b2" * 32


def text_of(page: str) -> str:
    """What a person reads: the page without tags, entities decoded, spaces collapsed."""
    without = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", without))).strip()


def push_v1(ui, name: str, tag: str, images: list[tuple[str, str | None]]) -> None:
    """Push v1 images (id, parent) base first and tag the last, through the v1 API."""
    for image_id, parent in images:
        body = {"id": image_id, "created": "2014-10-01T00:00:00Z",
                "config": {"Cmd": ["/bin/echo", "v1"], "Env": ["MODE=legacy"]},
                "os": "linux", "architecture": "amd64"}  # fmt: skip
        if parent:
            body["parent"] = parent
        put = ui.client.simulate_put(f"/v1/images/{image_id}/json", body=json.dumps(body))
        assert put.status_code == 200, put.text
        layer = ui.client.simulate_put(
            f"/v1/images/{image_id}/layer", body=b"layer " + image_id.encode()
        )
        assert layer.status_code == 200, layer.text
        checksum = ui.client.simulate_put(
            f"/v1/images/{image_id}/checksum",
            headers={"X-Docker-Checksum-Payload": "sha256:" + "0" * 64},
        )
        assert checksum.status_code in (200, 400), checksum.text
    tagged = ui.client.simulate_put(
        f"/v1/repositories/{name}/tags/{tag}", body=json.dumps(images[-1][0])
    )
    assert tagged.status_code == 200, tagged.text


def test_repository_list_searches_and_pages(make_ui):
    ui = make_ui(ui={"page_size": 2})
    for name in ("team/alpha", "team/beta", "other/gamma"):
        ui.push.image(name, "1", seed=name)
    first = text_of(ui.get("/ui/").text)
    assert "3 repositories you may pull" in first
    assert "other/gamma" in first and "team/alpha" in first and "team/beta" not in first
    assert "Page 1 of 2" in first
    second = ui.get("/ui/", params={"page": "2"})
    assert "team/beta" in text_of(second.text) and "Page 2 of 2" in text_of(second.text)
    found = text_of(ui.get("/ui/", params={"q": "alp"}).text)
    assert "1 repository matching “alp”" in found or "1 repository matching" in found
    assert "team/alpha" in found and "gamma" not in found
    # a page past the end shows the last one, not an error
    assert "team/beta" in text_of(ui.get("/ui/", params={"page": "99"}).text)


def test_tags_show_digest_type_platforms_size_and_push_time(ui):
    image = ui.push.image("team/app", "1.0")
    index = ui.push.multi_platform("team/app", "latest")
    page = ui.get("/ui/v2/team/app")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "2 tags" in text
    assert image["digest"][:19] in text and index["digest"][:19] in text
    assert "image" in text and "index" in text
    assert "linux/amd64, linux/arm64" in text
    assert "application/vnd.oci.image.index.v1+json" in text
    size = len(image["config"]) + len(image["layer"])
    assert f'title="{size} bytes"' in page.text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", text)
    assert "podman pull --tls-verify=false falconframework.org/team/app:latest" in text


def test_manifest_page_of_an_image_summarises_its_config_and_layers(ui):
    image = ui.push.image(
        "team/app",
        "1.0",
        labels={"org.opencontainers.image.source": "https://example.com/app"},
        env=["PATH=/usr/bin", "MODE=prod"],
        entrypoint=["/entry.sh"],
        cmd=["serve", "--port", "80"],
    )
    text = text_of(ui.get("/ui/v2/team/app/manifests/1.0").text)
    assert "Image team/app:1.0" in text
    assert image["digest"] in text
    assert "Created 2026-11-30T12:00:00Z" in text and "Platform linux/amd64" in text
    assert '["/entry.sh"]' in text and '["serve", "--port", "80"]' in text
    assert "MODE=prod" in text and "org.opencontainers.image.source https://example.com/app" in text
    assert "ADD layer0 /" in text
    assert "application/vnd.oci.image.layer.v1.tar+gzip" in text
    assert f"{len(image['layer'])} B" in text
    assert "No signatures, SBOMs or other artifacts refer to this manifest." in text
    by_digest = ui.get(f"/ui/v2/team/app/manifests/{image['digest']}")
    assert by_digest.status_code == 200 and "Tags 1.0" in text_of(by_digest.text)


def test_manifest_page_of_an_index_lists_its_platforms(ui):
    index = ui.push.multi_platform("team/multi", "latest")
    page = ui.get("/ui/v2/team/multi/manifests/latest")
    text = text_of(page.text)
    assert "Index team/multi:latest" in text
    for _data, arch in index["children"]:
        assert f"linux/{arch}" in text
    child = re.search(r'href="(/ui/v2/team/multi/manifests/sha256:[0-9a-f]{64})"', page.text)
    assert child is not None
    assert "Image config" in text_of(ui.get(child.group(1)).text)


def test_referrers_are_grouped_by_artifact_type_and_link_to_their_page(ui):
    image = ui.push.image("team/app", "1.0")
    signature = ui.push.referrer("team/app", image["manifest"], "application/vnd.example.sig", b"s")
    sbom = ui.push.referrer("team/app", image["manifest"], "application/spdx+json", b"{}x")
    page = ui.get("/ui/v2/team/app/manifests/1.0")
    text = text_of(page.text)
    assert "application/spdx+json" in text and "application/vnd.example.sig" in text
    assert text.index("application/spdx+json") < text.index("application/vnd.example.sig")
    assert signature[:19] in text and sbom[:19] in text
    artifact = text_of(ui.get(f"/ui/v2/team/app/manifests/{signature}").text)
    assert "Artifact team/app" in artifact
    assert "Artifact type application/vnd.example.sig" in artifact
    assert f"Refers to {image['digest'][:19]}" in artifact
    assert "oras pull --plain-http" in artifact


def test_v1_repository_and_image_pages(ui):
    push_v1(ui, "legacy/tool", "latest", [(V1_PARENT, None), (V1_IMAGE, V1_PARENT)])
    listing = text_of(ui.get("/ui/").text)
    assert "legacy/tool" in listing and "v1" in listing
    page = ui.get("/ui/v1/legacy/tool")
    text = text_of(page.text)
    assert "v1 repository legacy/tool" in text
    assert "latest" in text and V1_IMAGE[:12] in text and "linux/amd64" in text
    image = text_of(ui.get(f"/ui/v1/legacy/tool/images/{V1_IMAGE}").text)
    assert V1_IMAGE in image and "Tags latest" in image
    assert '["/bin/echo", "v1"]' in image and "MODE=legacy" in image
    assert f"{V1_IMAGE[:12]} (this image)" in image and V1_PARENT[:12] in image
    parent = ui.get(f"/ui/v1/legacy/tool/images/{V1_PARENT}")
    assert parent.status_code == 200 and "Tags none" in text_of(parent.text)


def test_v1_image_of_another_repository_is_not_shown(ui):
    push_v1(ui, "legacy/tool", "latest", [(V1_IMAGE, None)])
    push_v1(ui, "legacy/other", "latest", [(V1_PARENT, None)])
    assert ui.get(f"/ui/v1/legacy/tool/images/{V1_PARENT}").status_code == 404


def test_static_files_and_security_headers(ui):
    css = ui.get("/ui/static/ui.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert ":focus-visible" in css.text and "@media" in css.text
    script = ui.get("/ui/static/ui.js")
    assert script.status_code == 200 and "navigator.clipboard" in script.text
    page = ui.get("/ui/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    assert ui.get("/ui/static/other.js").status_code == 404
    assert ui.get("/ui").headers["Location"].endswith("/ui/")


def test_unknown_pages_and_methods_are_4xx_pages(ui):
    assert ui.get("/ui/nothing").status_code == 404
    missing = ui.get("/ui/v2/team/none")
    assert missing.status_code == 404 and "There is no v2 repository team/none" in missing.text
    assert ui.get("/ui/v2/team/none/manifests/latest").status_code == 404
    bad = ui.get("/ui/v2/team/app/manifests/sha256:xyz")
    assert bad.status_code == 400
    assert ui.client.simulate_post("/ui/").status_code == 405
    assert ui.get("/ui/v2/team/app/tags/x/delete").status_code == 405


def test_prefix_and_enabled_are_configurable(make_ui):
    moved = make_ui(ui={"prefix": "/browse/"})
    assert moved.get("/browse/").status_code == 200
    assert 'href="/browse/static/ui.css"' in moved.get("/browse/").text
    assert moved.get("/ui/").status_code == 404
    off = make_ui(ui={"enabled": False})
    assert off.get("/ui/").status_code == 404


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"prefix": "/v2"}, "ui.prefix"),
        ({"prefix": "/a b"}, "ui.prefix"),
        ({"prefix": "/../x"}, "ui.prefix"),
        ({"page_size": 0}, "ui.page_size"),
        ({"page_size": "many"}, "ui.page_size"),
        ({"enabled": "perhaps"}, "ui.enabled"),
        ("on", "ui"),
    ],
)
def test_bad_options_name_their_key(section, key):
    with pytest.raises(ConfigError) as caught:
        UiOptions.from_settings(Settings.from_mapping({"ui": section}))
    assert caught.value.key == key
    with pytest.raises(ConfigError):
        create_app(Settings.from_mapping({"ui": section}), storage=Storage(InMemoryDriver()))


def test_no_delete_buttons_when_deletes_are_off(make_ui):
    ui = make_ui()
    ui.push.image("team/app", "1.0")
    for path in ("/ui/v2/team/app", "/ui/v2/team/app/manifests/1.0"):
        page = ui.get(path)
        assert page.status_code == 200
        assert "Delete" not in page.text and 'method="post"' not in page.text
        assert "registry_ui_csrf" not in page.headers.get("Set-Cookie", "")


def test_the_ui_is_mounted_by_its_entry_point():
    client = falcon.testing.TestClient(
        create_app(
            Settings.from_mapping({"storage": "inmemory"}), storage=Storage(InMemoryDriver())
        )
    )
    assert client.simulate_get("/ui/").status_code == 200


class _FixedSearch:
    """A search backend offered by a plugin: the UI must list what it answers."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.queries: list[tuple[str, int, int | None]] = []

    @hookimpl
    def registry_search_backends(self):
        yield SearchBackendSpec("fixed", lambda registry: self)

    def search(self, query: str, page: int, per_page: int | None):
        self.queries.append((query, page, per_page))
        if self.fail:
            raise RegistryError(503, "the search index does not answer")
        results = [{"name": "team/indexed", "description": "found by <the> index"}]
        return len(results), results


def test_the_configured_search_backend_answers_the_list(make_ui):
    backend = _FixedSearch()
    ui = make_ui(search_backend="fixed", extra=[backend])
    page = ui.get("/ui/", params={"q": "idx"})
    assert page.status_code == 200
    assert "team/indexed" in page.text and "found by &lt;the&gt; index" in page.text
    assert ("idx", 1, 50) in backend.queries
    failing = make_ui(search_backend="fixed", extra=[_FixedSearch(fail=True)])
    down = failing.get("/ui/")
    assert down.status_code == 503 and "the search index does not answer" in down.text
    assert down.headers["Content-Type"].startswith("text/html")
