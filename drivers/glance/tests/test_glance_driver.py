"""What only the ``glance`` driver promises: layers are Glance images, the rest delegated."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from docker_registry.core.config import load_settings
from docker_registry.core.config.errors import ConfigError
from docker_registry.core.storage import (
    InvalidOffsetError,
    PathNotFoundError,
    StorageError,
    create_driver,
    load_driver_class,
)
from docker_registry.drivers.glance import GlanceDriver, is_layer_path
from docker_registry.drivers.glance.testing import GlanceService
from docker_registry.drivers.swift.testing import SwiftService, TcpForwarder
from docker_registry.testing.conformance import make_data, read_all
from docker_registry.testing.services import wait_until

MIB = 1024 * 1024
HEX = "ab" + "0" * 62
V1_LAYER = f"/images/{HEX}/layer"
V2_BLOB = f"/docker/registry/v2/blobs/sha256/ab/{HEX}/data"
Make = Callable[..., GlanceDriver]


def _images(glance: GlanceService, driver: GlanceDriver) -> list[dict[str, object]]:
    return glance.images(docker_registry_namespace=driver.namespace)


def test_layer_shaped_paths() -> None:
    assert is_layer_path(V1_LAYER)
    assert is_layer_path(V2_BLOB)
    assert is_layer_path("/docker/registry/v2/blobs/sha512/0f/0f12/data")
    for path in (
        f"/images/{HEX}/json",
        f"/images/{HEX}/layer/x",
        f"/x/images/{HEX}/layer",
        f"/docker/registry/v2/blobs/sha256/ab/{HEX}",
        "/docker/registry/v2/repositories/r/_uploads/u/data",
        f"/docker/registry/v2/blobs/sha256/AB/{HEX}/data",
    ):
        assert not is_layer_path(path), path


@pytest.mark.parametrize("path", [V1_LAYER, V2_BLOB])
def test_layers_are_glance_images_read_at_any_offset(
    make_driver: Make, glance: GlanceService, path: str
) -> None:
    driver = make_driver()
    data = make_data(2 * MIB + 333, seed=1)
    with driver.writer(path) as writer:
        for start in range(0, len(data), 300_000):
            writer.write(data[start : start + 300_000])
        writer.commit()
    (image,) = _images(glance, driver)
    assert (image["status"], image["size"]) == ("active", len(data))
    assert (image["disk_format"], image["container_format"]) == ("raw", "docker")
    assert image["docker_registry_path"] == path
    with pytest.raises(PathNotFoundError):
        driver.alternate.stat(path)
    assert driver.get_content(path) == data
    assert driver.stat(path).size == len(data)
    stream = driver.reader(path, MIB + 1)
    try:
        assert stream.read(5) == data[MIB + 1 : MIB + 6]
        assert stream.read(MIB) == data[MIB + 6 : 2 * MIB + 6]
    finally:
        stream.close()
    assert read_all(driver.reader(path, len(data) - 3)) == data[-3:]
    assert read_all(driver.reader(path, len(data) + 10)) == b""
    with pytest.raises(InvalidOffsetError):
        driver.reader(path, -1)
    driver.delete(path)
    assert _images(glance, driver) == []
    with pytest.raises(PathNotFoundError):
        driver.stat(path)


def test_an_upload_is_a_queued_image_nobody_finds_before_commit(
    make_driver: Make, glance: GlanceService
) -> None:
    driver = make_driver()
    writer = driver.writer(V1_LAYER)
    try:
        writer.write(b"layer bytes")
        (pending,) = _images(glance, driver)
        assert pending["status"] in ("queued", "saving")
        assert "docker_registry_path" not in pending
        with pytest.raises(PathNotFoundError):
            driver.stat(V1_LAYER)
        with pytest.raises(PathNotFoundError):
            driver.list("/images")
        writer.commit()
    finally:
        writer.close()
    (image,) = _images(glance, driver)
    assert image["id"] == pending["id"]
    assert image["docker_registry_path"] == V1_LAYER
    assert driver.list("/images") == [f"/images/{HEX}"]
    driver.delete("/images")


def test_cancel_deletes_the_uploading_image(make_driver: Make, glance: GlanceService) -> None:
    driver = make_driver()
    driver.put_content(V1_LAYER, b"old")
    for append in (False, True):
        writer = driver.writer(V1_LAYER, append=append)
        writer.write(make_data(MIB, seed=2))
        writer.cancel()
        writer.close()
    assert [image["docker_registry_path"] for image in _images(glance, driver)] == [V1_LAYER]
    assert driver.get_content(V1_LAYER) == b"old"
    driver.delete(V1_LAYER)


def test_overwrite_and_append_leave_one_image(make_driver: Make, glance: GlanceService) -> None:
    driver = make_driver()
    driver.put_content(V2_BLOB, b"first")
    driver.put_content(V2_BLOB, b"second,")
    with driver.writer(V2_BLOB, append=True) as writer:
        assert writer.size == 7
        writer.write(b"third")
        writer.commit()
    assert driver.get_content(V2_BLOB) == b"second,third"
    assert len(_images(glance, driver)) == 1
    driver.put_content(V1_LAYER, b"")
    assert driver.get_content(V1_LAYER) == b""
    assert driver.stat(V1_LAYER).size == 0
    driver.delete("/images")
    driver.delete("/docker")
    assert _images(glance, driver) == []


def test_directories_are_the_union_of_alternate_and_glance(make_driver: Make) -> None:
    driver = make_driver()
    other = "cd" * 32
    driver.put_content(f"/images/{HEX}/json", b"{}")
    driver.put_content(V1_LAYER, b"layer")
    driver.put_content(f"/images/{other}/layer", b"only a layer")
    assert driver.list(f"/images/{HEX}") == [f"/images/{HEX}/json", V1_LAYER]
    assert driver.list("/images") == [f"/images/{HEX}", f"/images/{other}"]
    assert "/images" in driver.list("/")
    assert driver.stat(f"/images/{other}").is_dir
    walked = {info.path: info.size for info in driver.walk("/images")}
    assert walked == {f"/images/{HEX}/json": 2, V1_LAYER: 5, f"/images/{other}/layer": 12}
    driver.delete(f"/images/{other}")
    with pytest.raises(PathNotFoundError):
        driver.stat(f"/images/{other}")
    driver.delete("/images")
    with pytest.raises(PathNotFoundError):
        driver.list("/images")
    with pytest.raises(PathNotFoundError):
        driver.delete(V1_LAYER)


def test_moves_between_uploads_blobs_and_other_paths(
    make_driver: Make, glance: GlanceService
) -> None:
    driver = make_driver()
    upload = "/docker/registry/v2/repositories/r/_uploads/u/data"
    data = make_data(MIB + 7, seed=3)
    driver.put_content(upload, data)
    driver.move(upload, V2_BLOB)
    with pytest.raises(PathNotFoundError):
        driver.stat(upload)
    (image,) = _images(glance, driver)
    assert driver.get_content(V2_BLOB) == data
    other_blob = V2_BLOB.replace("/ab/ab", "/ab/abc")
    driver.move(V2_BLOB, other_blob)
    (moved,) = _images(glance, driver)
    assert moved["id"] == image["id"], "a move inside Glance only changes a property"
    assert moved["docker_registry_path"] == other_blob
    driver.move(other_blob, "/elsewhere/data")
    assert _images(glance, driver) == []
    assert driver.alternate.get_content("/elsewhere/data") == data
    with pytest.raises(PathNotFoundError):
        driver.move(V1_LAYER, V2_BLOB)
    driver.delete("/elsewhere")
    driver.delete("/docker")


def test_glance_going_away_mid_upload(make_driver: Make, glance: GlanceService) -> None:
    parts = urllib.parse.urlsplit(glance.url)
    relay = TcpForwarder((parts.hostname or "127.0.0.1", parts.port or 80)).start()
    driver = make_driver(glance_endpoint=f"http://127.0.0.1:{relay.port}", glance_timeout=5)
    writer = driver.writer(V1_LAYER)
    try:
        writer.write(make_data(MIB, seed=4))
        wait_until(
            lambda: _images(glance, driver)[0]["status"] == "saving", 10, "the upload to start"
        )
        relay.stop()
        with pytest.raises(StorageError) as failure:
            for _ in range(64):
                writer.write(make_data(MIB, seed=5))
            writer.commit()
        error = failure.value
        assert error.driver == "glance"
        assert error.path == V1_LAYER
        assert error.operation in ("write", "commit")
        assert "cannot reach Glance" in str(error)
    finally:
        writer.close()
    # NOTE: the relay is down for good: look through the real endpoint.
    assert [image.get("docker_registry_path") for image in _images(glance, driver)] in (
        [],
        [None],
    )
    with pytest.raises(PathNotFoundError):
        make_driver(glance_namespace=driver.namespace).stat(V1_LAYER)
    for image in _images(glance, driver):
        make_driver().client.delete(str(image["id"]))


class _FakeKeystone(http.server.BaseHTTPRequestHandler):
    """Keystone v3 password auth: one user, a catalog pointing at the real Glance."""

    glance_url = ""
    seen: list[dict[str, object]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        user = body["auth"]["identity"]["password"]["user"]
        if (user["name"], user["password"]) != ("registry", "secret"):
            self.send_response(401)
            self.end_headers()
            return
        catalog = [
            {
                "type": "image",
                "endpoints": [
                    {"interface": "public", "region": "RegionOne", "url": self.glance_url}
                ],
            }
        ]
        answer = json.dumps({"token": {"catalog": catalog}}).encode()
        self.send_response(201)
        self.send_header("X-Subject-Token", "a-keystone-token")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def keystone(glance: GlanceService) -> Iterator[str]:
    _FakeKeystone.glance_url = glance.url
    _FakeKeystone.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeKeystone)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v3"
    server.shutdown()
    server.server_close()


def test_keystone_credentials_from_the_seeds_environment(
    make_driver: Make, keystone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "OS_AUTH_URL": keystone,
        "OS_USERNAME": "registry",
        "OS_PASSWORD": "secret",
        "OS_TENANT_NAME": "docker",
    }.items():
        monkeypatch.setenv(name, value)
    driver = make_driver(glance_endpoint=None)
    driver.put_content(V1_LAYER, b"via keystone")
    assert driver.get_content(V1_LAYER) == b"via keystone"
    auth = _FakeKeystone.seen[0]["auth"]
    assert auth["scope"]["project"]["name"] == "docker"  # type: ignore[index]
    driver.delete(V1_LAYER)

    refused = make_driver(glance_endpoint=None, os_password="wrong")
    with pytest.raises(StorageError, match="refused the credentials") as failure:
        refused.put_content(V1_LAYER, b"x")
    assert (failure.value.driver, failure.value.path) == ("glance", V1_LAYER)


def test_configuration(
    make_driver: Make, glance: GlanceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_driver_class("glance") is GlanceDriver
    with pytest.raises(ConfigError, match="storage_alternate"):
        make_driver(storage_alternate="glance")
    with pytest.raises(ConfigError, match="pip install"):
        make_driver(storage_alternate="nosuchdriver")
    monkeypatch.setenv("OS_GLANCE_URL", glance.url)
    driver = make_driver(glance_endpoint=None)
    assert driver.client.credentials.endpoint == glance.url
    swift_options = {option.name for option in load_driver_class("swift").options}
    assert swift_options <= {option.name for option in GlanceDriver.options}
    built = create_driver("glance", {"glance_endpoint": glance.url, "storage_path": "/tmp/x"})
    assert isinstance(built, GlanceDriver)
    assert built.namespace == "/tmp/x"
    built.close()


def test_glance_swift_flavor_keeps_the_rest_in_swift(
    make_driver: Make, swift: SwiftService, glance: GlanceService
) -> None:
    """The seed's ``glance-swift`` flavor: layers in Glance, metadata in a Swift container."""
    container = f"glance-alt-{uuid.uuid4().hex[:8]}"
    driver = make_driver(
        storage_alternate="swift",
        storage_path="/registry",
        swift_authurl=swift.auth_url,
        swift_user=swift.user,
        swift_password=swift.key,
        swift_auth_version="1",
        swift_container=container,
    )
    assert type(driver.alternate).__name__ == "SwiftDriver"
    driver.put_content(f"/images/{HEX}/json", b'{"id": "x"}')
    driver.put_content(V1_LAYER, b"layer in glance")
    assert driver.list(f"/images/{HEX}") == [f"/images/{HEX}/json", V1_LAYER]
    conn = swift.connection()
    try:
        _, objects = conn.get_container(container)
    finally:
        conn.close()
    assert [entry["name"] for entry in objects] == [f"registry/images/{HEX}/json"]
    assert [image["docker_registry_path"] for image in _images(glance, driver)] == [V1_LAYER]
    driver.delete("/images")
    assert driver.alternate.list("/") == []
    assert _images(glance, driver) == []


def test_layers_stored_before_the_switch_to_glance_are_still_served(
    make_driver: Make, glance: GlanceService
) -> None:
    driver = make_driver()
    driver.alternate.put_content(V1_LAYER, b"written by the file driver")
    assert driver.get_content(V1_LAYER) == b"written by the file driver"
    assert read_all(driver.reader(V1_LAYER, 11)) == b"the file driver"
    assert driver.stat(V1_LAYER).size == 26
    driver.put_content(V1_LAYER, b"now in glance")
    assert driver.get_content(V1_LAYER) == b"now in glance"
    driver.delete(V1_LAYER)
    with pytest.raises(PathNotFoundError):
        driver.stat(V1_LAYER)
    driver.alternate.put_content(V2_BLOB, b"blob")
    driver.move(V2_BLOB, V1_LAYER)
    assert [image["docker_registry_path"] for image in _images(glance, driver)] == [V1_LAYER]
    with pytest.raises(PathNotFoundError):
        driver.stat(V2_BLOB)
    driver.delete("/images")
    driver.delete("/docker")


def test_the_seeds_glance_flavor_builds_a_working_driver(
    glance: GlanceService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``config/config_sample.yml``'s ``glance`` flavor; Glance from ``OS_GLANCE_URL``."""
    for name in ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_TENANT_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OS_GLANCE_URL", glance.url)
    sample = Path(__file__).parents[3] / "config" / "config_sample.yml"
    settings = load_settings(
        sample, flavor="glance", environ={"STORAGE_PATH": str(tmp_path / "seed")}
    )
    driver = create_driver(settings.storage, settings.values)
    assert isinstance(driver, GlanceDriver)
    assert driver.namespace == str(tmp_path / "seed")
    driver.put_content(f"/images/{HEX}/json", b"{}")
    driver.put_content(V1_LAYER, b"layer")
    assert (tmp_path / "seed" / "images" / HEX / "json").read_bytes() == b"{}"
    assert [image["docker_registry_path"] for image in _images(glance, driver)] == [V1_LAYER]
    driver.delete("/images")
    assert _images(glance, driver) == []
    driver.close()
