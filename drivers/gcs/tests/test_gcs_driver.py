"""What only the ``gcs`` driver promises: the seed's keys, resumable writes, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from docker_registry.core.config.errors import ConfigError
from docker_registry.core.storage import (
    Capability,
    InvalidPathError,
    PathNotFoundError,
    StorageError,
    load_driver_class,
)
from docker_registry.core.storage.factory import resolve_options
from docker_registry.drivers.gcs import HMAC_MESSAGE, STAGING_DIR, GCSDriver
from docker_registry.drivers.gcs.settings import gcs_settings
from docker_registry.testing.services import ServiceProcess

MIB = 1024 * 1024

# -- options ---------------------------------------------------------------------------


def test_seed_keys_and_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    settings = gcs_settings(
        {"boto_bucket": "seed", "storage_path": "registry/", "oauth2": True, "gs_secure": True}
    )
    assert (settings.bucket, settings.prefix, settings.endpoint_url) == ("seed", "registry/", None)
    assert gcs_settings({"boto_bucket": "seed", "gcs_bucket": "new"}).bucket == "new"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9023/")
    assert gcs_settings({"boto_bucket": "b"}).endpoint_url == "http://127.0.0.1:9023"


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"boto_bucket": "b", "gs_access_key": "GOOG1E..."}, "gs_access_key"),
        ({"boto_bucket": "b", "gs_secret_key": "secret"}, "gs_secret_key"),
        ({}, "boto_bucket"),
        ({"boto_bucket": "b", "gcs_chunk_size": 1000}, "gcs_chunk_size"),
        ({"boto_bucket": "b", "gcs_credentials_file": "/no/such/key.json"}, "gcs_credentials_file"),
        ({"boto_bucket": "b", "gcs_endpoint_url": "localhost"}, "gcs_endpoint_url"),
        # the JSON API is HTTPS only: the seed's `gs_secure: false` cannot be honoured
        ({"boto_bucket": "b", "gs_secure": False}, "gs_secure"),
    ],
)
def test_unusable_options_fail_config_check_naming_the_key(
    values: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_options(GCSDriver, values)
    assert caught.value.key == key


def test_config_check_refuses_hmac_keys_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        "gcs:\n  storage: gcs\n  boto_bucket: bucket\n  gs_access_key: GOOG1EXAMPLE\n"
        "  gs_secret_key: secret\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("REGISTRY_")}
    command = ["config", "check", "--config", str(config), "--flavor", "gcs"]
    result = subprocess.run(
        [sys.executable, "-m", "docker_registry.core", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "key 'gs_access_key'" in lines[0]
    assert HMAC_MESSAGE in lines[0]
    assert "storage: s3" in lines[0]


def test_entry_point_and_capabilities(signing_key: str) -> None:
    assert load_driver_class("gcs") is GCSDriver
    unsigned = GCSDriver(boto_bucket="b", gcs_endpoint_url="http://127.0.0.1:1")
    assert Capability.REDIRECT not in unsigned.capabilities
    assert unsigned.redirect_url("/blob") is None
    signed = GCSDriver(
        boto_bucket="b", gcs_endpoint_url="http://127.0.0.1:1", gcs_credentials_file=signing_key
    )
    assert Capability.REDIRECT in signed.capabilities


# -- the page loop and HTTP errors, against a scripted transport -------------------------


class _ScriptedTransport(requests.adapters.BaseAdapter):
    """Answers the JSON API from a script: ``(status, body)`` per request, in order."""

    def __init__(self, answers: list[tuple[int, dict[str, Any]]]) -> None:
        super().__init__()
        self.answers = answers
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if urllib.parse.urlsplit(str(request.url)).path == "/storage/v1/b/b":
            # NOTE: the client may fetch bucket metadata in a background thread; not scripted.
            return self._respond(request, 200, {"name": "b", "location": "EU"})
        self.requests.append(request)
        if not self.answers:
            raise AssertionError(f"unscripted request {request.method} {request.url}")
        status, body = self.answers.pop(0)
        return self._respond(request, status, body)

    def _respond(
        self, request: requests.PreparedRequest, status: int, body: dict[str, Any]
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = str(request.url)
        return response

    def close(self) -> None:
        pass


def _scripted_driver(answers: list[tuple[int, dict[str, Any]]]) -> tuple[GCSDriver, Any]:
    transport = _ScriptedTransport(answers)
    session = requests.Session()
    session.mount("http://", transport)
    driver = GCSDriver(boto_bucket="b", gcs_endpoint_url="http://gcs.invalid")
    driver._local.client = storage.Client(
        project="p",
        credentials=AnonymousCredentials(),
        _http=session,
        client_options={"api_endpoint": "http://gcs.invalid"},
    )
    driver._bucket_checked = True
    return driver, transport


def _item(name: str) -> dict[str, Any]:
    return {"name": name, "size": "1", "updated": "2026-01-01T00:00:00Z"}


def test_listing_follows_page_tokens() -> None:
    """The emulator ignores ``page_size``: the loop over pages is proven here."""
    first = {
        "items": [_item(f"registry/d/{index:04d}") for index in range(1000)],
        "prefixes": ["registry/d/sub-a/"],
        "nextPageToken": "token-1",
    }
    second = {
        "items": [_item(f"registry/d/{index:04d}") for index in range(1000, 1500)],
        "prefixes": ["registry/d/sub-b/"],
    }
    driver, transport = _scripted_driver([(200, first), (200, second)])
    listing = driver.list("/d")
    assert len(listing) == 1502
    assert listing[:2] == ["/d/0000", "/d/0001"]
    assert listing[-3:] == ["/d/1499", "/d/sub-a", "/d/sub-b"]
    queries = [
        urllib.parse.parse_qs(urllib.parse.urlsplit(r.url).query) for r in transport.requests
    ]
    assert [query.get("pageToken") for query in queries] == [None, ["token-1"]]
    assert all(query["maxResults"] == ["1000"] for query in queries)
    assert all(query["prefix"] == ["registry/d/"] for query in queries)


def test_access_denied_says_which_credentials_to_check() -> None:
    driver, _ = _scripted_driver([(403, {"error": {"code": 403, "message": "denied"}})])
    with pytest.raises(StorageError) as caught:
        driver.get_content("/file")
    error = caught.value
    assert not isinstance(error, PathNotFoundError)
    assert (error.driver, error.operation, error.path) == ("gcs", "get_content", "/file")
    assert "access denied (HTTP 403)" in str(error)
    assert "gcs_credentials_file" in str(error)


# -- against the emulator ----------------------------------------------------------------


def test_missing_bucket_is_named(make_driver: Callable[..., GCSDriver]) -> None:
    driver = make_driver(boto_bucket="no-such-bucket-here")
    for call, operation in (
        (lambda: driver.get_content("/file"), "get_content"),
        (lambda: driver.put_content("/file", b"x"), "put_content"),
        (lambda: driver.list("/"), "list"),
    ):
        with pytest.raises(StorageError) as caught:
            call()
        error = caught.value
        assert not isinstance(error, PathNotFoundError)
        assert (error.driver, error.operation) == ("gcs", operation)
        assert "bucket 'no-such-bucket-here' does not exist" in str(error)


def test_chunks_are_sent_as_the_buffer_fills(make_driver: Callable[..., GCSDriver]) -> None:
    driver = make_driver(storage_path="/chunks")
    data = os.urandom(2 * MIB + 5)
    writer = driver.writer("/big")
    try:
        for start in range(0, len(data), 300_000):
            writer.write(data[start : start + 300_000])
            assert len(writer._buffer) < MIB, "never more than one chunk in memory"
        assert writer._sent == 2 * MIB
        with pytest.raises(PathNotFoundError):
            driver.stat("/big")
        writer.commit()
    finally:
        writer.close()
    assert driver.get_content("/big") == data
    driver.delete("/big")


def test_large_append_composes_and_leaves_no_staging_object(
    make_driver: Callable[..., GCSDriver],
    gcs_admin: storage.Client,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # NOTE: the emulator does not report componentCount: record the compose calls instead.
    composed: list[str] = []
    real_compose = storage.Blob.compose

    def recording_compose(blob: storage.Blob, sources: list[storage.Blob], **kwargs: Any) -> None:
        composed.append(f"{blob.name} <- {[source.name.split('/')[1] for source in sources]}")
        real_compose(blob, sources, **kwargs)

    monkeypatch.setattr(storage.Blob, "compose", recording_compose)
    driver = make_driver(storage_path="/compose")
    first = os.urandom(MIB + 7)
    driver.put_content("/upload", first)
    with driver.writer("/upload", append=True) as writer:
        assert writer.size == len(first)
        writer.write(b"tail")
        assert driver.list("/") == ["/upload"]
        writer.commit()
    assert driver.get_content("/upload") == first + b"tail"
    assert composed == [f"compose/upload <- ['upload', '{STAGING_DIR}']"]
    staged = list(gcs_admin.list_blobs(bucket, prefix=f"compose/{STAGING_DIR}/"))
    assert staged == []
    with pytest.raises(InvalidPathError, match="reserved"):
        driver.put_content(f"/{STAGING_DIR}/x", b"x")
    driver.delete("/upload")


def test_redirect_url_is_signed_and_fetchable(make_driver: Callable[..., GCSDriver]) -> None:
    driver = make_driver(storage_path="/redirect")
    driver.put_content("/blob", b"layer bytes")
    url = driver.redirect_url("/blob")
    assert url is not None
    assert "X-Goog-Signature=" in url
    assert "X-Goog-Expires=1200" in url
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    assert response.content == b"layer bytes"
    driver.delete("/blob")


def test_emulator_stopped_mid_upload_leaves_no_partial_object(
    private_emulator: Callable[..., ServiceProcess],
    make_driver: Callable[..., GCSDriver],
    tmp_path: Path,
) -> None:
    """Stop the emulator after one chunk, fail the write, restart it: nothing changed."""
    service = private_emulator(tmp_path)
    storage.Client(
        project="p",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": service.url},
    ).create_bucket("interrupted")
    driver = make_driver(gcs_endpoint_url=service.url, boto_bucket="interrupted")
    driver.retry = driver.retry.with_timeout(2.0)
    driver.put_content("/kept", b"old")
    writer = driver.writer("/kept")
    writer.write(os.urandom(MIB + 10))
    service.stop()
    with pytest.raises(StorageError) as caught:
        writer.write(os.urandom(MIB))
    error = caught.value
    assert (error.driver, error.operation, error.path) == ("gcs", "write", "/kept")
    assert "cannot reach the GCS endpoint" in str(error)
    with pytest.raises(StorageError, match="broken"):
        writer.commit()
    writer.close()
    port = int(service.url.rsplit(":", 1)[1])
    private_emulator(tmp_path, port)
    assert driver.get_content("/kept") == b"old"
    assert driver.list("/") == ["/kept"]


# -- start-up and config check --connect, the real command ---------------------------------


def _command(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.yml"
    config.write_text("dev:\n  storage: gcs\n" + body)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REGISTRY_", "GOOGLE_", "GCLOUD", "CLOUDSDK", "SETTINGS_FLAVOR"))
    }
    # NOTE: no application default credentials anywhere: no gcloud folder in HOME, and no
    # metadata server probe (that is what a laptop or a plain VM without a service account has).
    env.update(HOME=str(tmp_path), NO_GCE_CHECK="True")
    return subprocess.run(
        [sys.executable, "-m", "docker_registry.core", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "workers"])
def test_serve_without_credentials_is_one_line(tmp_path: Path, workers: list[str]) -> None:
    serve = ["serve", "--host", "127.0.0.1", "--port", "0", *workers]
    result = _command(tmp_path, "  gcs_bucket: some-bucket\n", *serve)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("docker-registry: start-up error: ")
    assert "'gcs' storage driver cannot start" in lines[0]
    assert "no credentials: check gcs_credentials_file" in lines[0]


def test_config_check_connect_probes_the_bucket(
    tmp_path: Path, gcs_url: str, bucket: str, gcs_admin: storage.Client
) -> None:
    emulator = f"  gcs_endpoint_url: {gcs_url}\n  storage_path: /connect-probe\n"
    check = ("config", "check", "--connect")
    good = _command(tmp_path, f"  gcs_bucket: {bucket}\n" + emulator, *check)
    assert good.returncode == 0, good.stderr
    assert "storage 'gcs': connected, probe object written" in good.stdout
    assert not list(gcs_admin.list_blobs(bucket, prefix="connect-probe/"))
    missing = _command(tmp_path, "  gcs_bucket: no-such-bucket\n" + emulator, *check)
    assert missing.returncode == 2, missing.stderr
    assert "Traceback" not in missing.stderr
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1, missing.stderr
    assert "storage 'gcs'" in lines[0] and "no-such-bucket" in lines[0], lines[0]
