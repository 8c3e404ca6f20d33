"""What only the ``s3``/``oss`` drivers promise: the seed's options, multipart, errors."""

from __future__ import annotations

import concurrent.futures
import itertools
import os
from collections.abc import Callable
from typing import Any

import pytest
import requests
from moto.server import ThreadedMotoServer

from docker_registry.core.config.errors import ConfigError
from docker_registry.core.storage import (
    Capability,
    PathNotFoundError,
    Storage,
    StorageError,
    create_driver,
    load_driver_class,
)
from docker_registry.core.storage.factory import resolve_options
from docker_registry.drivers.s3 import OSSDriver, S3Driver, key_prefix
from docker_registry.drivers.s3.settings import oss_settings, s3_settings
from docker_registry.testing.conformance.fixtures import read_all
from docker_registry.testing.services import free_port, http_ready, wait_until

MIB = 1024 * 1024

# -- options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("storage_path", "prefix"),
    [
        ("/registry", "registry/"),
        ("registry", "registry/"),
        ("/registry/", "registry/"),
        ("registry//sub/", "registry/sub/"),
        ("/", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_storage_path_becomes_one_normalised_prefix(storage_path: str | None, prefix: str) -> None:
    assert key_prefix(storage_path) == prefix


def test_seed_ceph_flavor_maps_onto_an_endpoint_and_path_style() -> None:
    settings = s3_settings(
        {
            "s3_bucket": "from-s3-bucket",
            "boto_bucket": "from-boto-bucket",
            "boto_host": "ceph.internal",
            "boto_port": 7480,
            "s3_secure": False,
            "boto_calling_format": "boto.s3.connection.OrdinaryCallingFormat",
            "s3_use_sigv4": False,
            "s3_encrypt": True,
            "storage_path": "/registry",
        }
    )
    assert settings.bucket == "from-boto-bucket", "boto_bucket (what 0.9.1 read) wins"
    assert settings.endpoint_url == "http://ceph.internal:7480"
    assert settings.addressing_style == "path"
    assert settings.signature_version == "s3"
    assert settings.encrypt is True
    assert settings.prefix == "registry/"


def test_aws_defaults_and_endpoint_url_precedence() -> None:
    settings = s3_settings({"s3_bucket": "b", "s3_region": "eu-west-1"})
    assert (settings.bucket, settings.region, settings.endpoint_url) == ("b", "eu-west-1", None)
    assert settings.signature_version == "s3v4"
    assert settings.addressing_style == "auto"
    secure = s3_settings({"s3_bucket": "b", "boto_host": "h", "s3_endpoint_url": "http://e:1/"})
    assert secure.endpoint_url == "http://e:1"
    assert s3_settings({"s3_bucket": "b", "boto_host": "h"}).endpoint_url == "https://h"
    virtual = s3_settings({"s3_bucket": "b", "boto_calling_format": "SubdomainCallingFormat"})
    assert virtual.addressing_style == "virtual"


def test_proxy_options_become_a_proxy_url() -> None:
    settings = s3_settings(
        {
            "s3_bucket": "b",
            "boto_proxy": "proxy.local",
            "boto_proxy_port": 3128,
            "boto_proxy_user": "me",
            "boto_proxy_pass": "p@ss",
        }
    )
    assert settings.proxies == {"https": "http://me:p%40ss@proxy.local:3128"}


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({}, "s3_bucket"),
        ({"s3_bucket": "b", "s3_part_size": 4 * MIB}, "s3_part_size"),
        ({"s3_bucket": "b", "boto_calling_format": "NoSuchFormat"}, "boto_calling_format"),
        ({"s3_bucket": "b", "s3_endpoint_url": "s3.example.com"}, "s3_endpoint_url"),
        ({"s3_bucket": "b", "boto_port": 80}, "boto_port"),
        ({"s3_bucket": "b", "storage_path": "/a/../b"}, "storage_path"),
        ({"s3_bucket": "b", "s3_read_piece_size": 1000}, "s3_read_piece_size"),
        ({"s3_bucket": "b", "s3_read_pieces": 0}, "s3_read_pieces"),
        ({"s3_bucket": "b", "s3_read_pieces": 17}, "s3_read_pieces"),
    ],
)
def test_unusable_options_fail_config_check_naming_the_key(
    values: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_options(S3Driver, values)
    assert caught.value.key == key
    with pytest.raises(ConfigError):
        S3Driver(**{option.name: values.get(option.name) for option in S3Driver.options})


def test_entry_points_resolve_both_names() -> None:
    assert load_driver_class("s3") is S3Driver
    assert load_driver_class("oss") is OSSDriver
    assert Capability.REDIRECT in S3Driver.capabilities
    assert {option.name for option in S3Driver.options if option.secret} == {
        "s3_secret_key",
        "boto_proxy_pass",
    }


def test_oss_settings_follow_the_region_in_the_host() -> None:
    settings = oss_settings({"oss_bucket": "b", "oss_host": "oss-cn-beijing.aliyuncs.com"})
    assert settings.endpoint_url == "https://oss-cn-beijing.aliyuncs.com"
    assert settings.region == "oss-cn-beijing"
    assert settings.addressing_style == "virtual"
    assert settings.credential_keys == "oss_accessid/oss_accesskey"
    local = oss_settings({"oss_bucket": "b", "oss_host": "http://127.0.0.1:9000"})
    assert local.addressing_style == "path"
    with pytest.raises(ConfigError, match="oss_bucket"):
        resolve_options(OSSDriver, {"oss_host": "oss.aliyuncs.com"})


# -- against the emulator ----------------------------------------------------------------


def test_seed_ceph_style_configuration_reaches_the_emulator(s3_url: str, bucket: str) -> None:
    host, port = s3_url.removeprefix("http://").split(":")
    config = {
        "boto_bucket": bucket,
        "boto_host": host,
        "boto_port": int(port),
        "s3_secure": False,
        "boto_calling_format": "boto.s3.connection.OrdinaryCallingFormat",
        "s3_access_key": "k",
        "s3_secret_key": "s",
        "storage_path": "ceph-style/",
    }
    driver = create_driver("s3", config)
    try:
        driver.put_content("/images/abc/json", b"{}")
        assert driver.get_content("/images/abc/json") == b"{}"
        assert driver.list("/") == ["/images"]
    finally:
        driver.delete("/images")
        driver.close()


def test_storage_path_spellings_share_one_namespace(
    make_driver: Callable[..., S3Driver], s3_admin: Any, bucket: str
) -> None:
    writer = make_driver(storage_path="/spellings")
    writer.put_content("/a/file", b"x")
    try:
        for spelling in ("spellings", "/spellings/", "spellings//"):
            reader = make_driver(storage_path=spelling)
            assert reader.list("/") == ["/a"]
            assert reader.list("/a") == ["/a/file"]
            assert reader.get_content("/a/file") == b"x"
        keys = s3_admin.list_objects_v2(Bucket=bucket, Prefix="spellings")["Contents"]
        assert [item["Key"] for item in keys] == ["spellings/a/file"]
        assert "/spellings" in make_driver(storage_path="/").list("/")
    finally:
        writer.delete("/a")


def test_listing_walking_and_deleting_past_1000_keys(
    make_driver: Callable[..., S3Driver], s3_admin: Any, bucket: str
) -> None:
    driver = make_driver(storage_path="/pagination")
    keys = [f"pagination/many/{index:05d}" for index in range(1500)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: s3_admin.put_object(Bucket=bucket, Key=key, Body=b"x"), keys))
    s3_admin.put_object(Bucket=bucket, Key="pagination/many-sibling", Body=b"kept")
    listing = driver.list("/many")
    assert len(listing) == 1500
    assert listing[0] == "/many/00000"
    assert listing[-1] == "/many/01499"
    assert sum(1 for _ in driver.walk("/many")) == 1500
    driver.delete("/many")
    assert s3_admin.list_objects_v2(Bucket=bucket, Prefix="pagination/many/")["KeyCount"] == 0
    assert driver.list("/") == ["/many-sibling"]
    driver.delete("/many-sibling")


def test_parts_are_uploaded_as_the_buffer_fills(
    make_driver: Callable[..., S3Driver], s3_admin: Any, bucket: str
) -> None:
    driver = make_driver(storage_path="/parts")
    data = os.urandom(12 * MIB + 3)
    writer = driver.writer("/big")
    try:
        for start in range(0, len(data), MIB):
            writer.write(data[start : start + MIB])
        uploads = s3_admin.list_multipart_uploads(Bucket=bucket, Prefix="parts/")["Uploads"]
        assert [upload["Key"] for upload in uploads] == ["parts/big"]
        parts = s3_admin.list_parts(Bucket=bucket, Key="parts/big", UploadId=uploads[0]["UploadId"])
        assert [part["Size"] for part in parts["Parts"]] == [5 * MIB, 5 * MIB]
        with pytest.raises(PathNotFoundError):
            driver.stat("/big")
        writer.commit()
    finally:
        writer.close()
    head = s3_admin.head_object(Bucket=bucket, Key="parts/big")
    assert head["ETag"].endswith('-3"'), "three parts: 5 MiB, 5 MiB and the 2 MiB tail"
    assert driver.get_content("/big") == data
    driver.put_content("/small", b"tiny")
    assert "-" not in s3_admin.head_object(Bucket=bucket, Key="parts/small")["ETag"]
    driver.delete("/big")
    driver.delete("/small")


def test_large_append_copies_server_side(
    make_driver: Callable[..., S3Driver], s3_admin: Any, bucket: str
) -> None:
    driver = make_driver(storage_path="/append")
    first = os.urandom(6 * MIB)
    driver.put_content("/upload", first)
    with driver.writer("/upload", append=True) as writer:
        assert writer.size == len(first)
        writer.write(b"tail")
        writer.commit()
    head = s3_admin.head_object(Bucket=bucket, Key="append/upload")
    assert head["ETag"].endswith('-2"'), "the old object is copied as part 1, the tail is part 2"
    assert driver.get_content("/upload") == first + b"tail"
    with driver.reader("/upload", len(first) - 1) as stream:
        assert stream.read() == first[-1:] + b"tail"
    driver.delete("/upload")


def test_redirect_url_is_a_presigned_get(make_driver: Callable[..., S3Driver]) -> None:
    driver = make_driver(storage_path="/redirect", s3_encrypt=True)
    driver.put_content("/blob", b"layer bytes")
    url = driver.redirect_url("/blob")
    assert url is not None
    assert "X-Amz-Signature=" in url
    assert "X-Amz-Expires=1200" in url
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    assert response.content == b"layer bytes"
    head_url = driver.redirect_url("/blob", "HEAD")
    assert head_url is not None
    assert requests.head(head_url, timeout=30).headers["Content-Length"] == "11"
    assert (
        driver.client.head_object(Bucket=driver.settings.bucket, Key="redirect/blob")[
            "ServerSideEncryption"
        ]
        == "AES256"
    )
    driver.delete("/blob")


def test_oss_driver_works_against_an_s3_compatible_endpoint(s3_url: str, bucket: str) -> None:
    driver = create_driver(
        "oss",
        {
            "oss_host": s3_url,
            "oss_bucket": bucket,
            "oss_accessid": "id",
            "oss_accesskey": "key",
            "storage_path": "/oss-registry/",
        },
    )
    assert isinstance(driver, OSSDriver)
    assert driver.name == "oss"
    try:
        with driver.writer("/layer") as writer:
            writer.write(b"a" * (6 * MIB))
            writer.commit()
        assert driver.stat("/layer").size == 6 * MIB
        assert driver.list("/") == ["/layer"]
        assert driver.client.head_object(Bucket=bucket, Key="oss-registry/layer")
    finally:
        driver.delete("/layer")


# -- errors --------------------------------------------------------------------------------


def test_missing_bucket_is_named(make_driver: Callable[..., S3Driver]) -> None:
    storage = Storage(make_driver(s3_bucket="no-such-bucket-here"))
    for call, operation in (
        (lambda: storage.put_content("/file", b"x"), "put_content"),
        (lambda: storage.get_content("/file"), "get_content"),
        (lambda: storage.stat("/file"), "stat"),
        (lambda: storage.list("/"), "list"),
    ):
        with pytest.raises(StorageError) as caught:
            call()
        error = caught.value
        assert not isinstance(error, PathNotFoundError), operation
        assert (error.driver, error.operation) == ("s3", operation)
        assert error.path in ("/file", "/")
        assert "bucket 'no-such-bucket-here' does not exist" in str(error)


def test_wrong_credentials_say_which_keys_to_check(
    private_moto: Callable[..., Any], make_driver: Callable[..., S3Driver]
) -> None:
    # NOTE: moto checks access keys only when IAM auth is switched on.
    service = private_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    driver = make_driver(s3_endpoint_url=service.url, s3_access_key="AKIAWRONG")
    for call, operation in (
        (lambda: driver.put_content("/file", b"x"), "put_content"),
        (lambda: driver.list("/dir"), "list"),
        (lambda: driver.get_content("/file"), "get_content"),
        (lambda: driver.reader("/file", 3), "reader"),
    ):
        with pytest.raises(StorageError) as caught:
            call()
        error = caught.value
        assert not isinstance(error, PathNotFoundError)
        assert (error.driver, error.operation) == ("s3", operation)
        assert error.path in ("/file", "/dir")
        assert "access denied" in str(error)
        assert "s3_access_key/s3_secret_key" in str(error)


def test_emulator_stopped_mid_upload_leaves_no_partial_object(
    make_driver: Callable[..., S3Driver],
) -> None:
    """Stop the server after one part, fail the commit, restart: nothing is at the path.

    moto's in-process server keeps its buckets across a stop and start on the same port,
    which is what makes "nothing visible afterwards" observable.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        wait_until(http_ready(f"{url}/moto-api/"), 30, "moto")
        driver = make_driver(s3_endpoint_url=url, s3_bucket="interrupted")
        driver.client.create_bucket(Bucket="interrupted")
        driver.put_content("/kept", b"old")
        writer = driver.writer("/kept")
        writer.write(os.urandom(6 * MIB))
        server.stop()
        with pytest.raises(StorageError) as caught:
            writer.write(os.urandom(5 * MIB))
            writer.commit()
        error = caught.value
        assert error.driver == "s3"
        assert error.path == "/kept"
        assert "cannot reach the S3 endpoint" in str(error)
        with pytest.raises(StorageError, match="broken"):
            writer.commit()
        writer.close()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        wait_until(http_ready(f"{url}/moto-api/"), 30, "moto")
        assert driver.get_content("/kept") == b"old"
        assert driver.list("/") == ["/kept"]
    finally:
        server.stop()


# -- config check --connect, the real command against the emulator --------------------------


def _connect(tmp_path: Any, body: str) -> Any:
    import subprocess
    import sys

    config = tmp_path / "config.yml"
    config.write_text("dev:\n  storage: s3\n" + body)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REGISTRY_", "AWS_", "SETTINGS_FLAVOR", "DOCKER_REGISTRY_CONFIG"))
    }
    command = ["config", "check", "--connect", "--config", str(config)]
    return subprocess.run(
        [sys.executable, "-m", "docker_registry.core", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_config_check_connect_probes_the_bucket(
    tmp_path: Any, s3_url: str, bucket: str, s3_admin: Any
) -> None:
    from docker_registry.drivers.s3.testing import ACCESS_KEY, SECRET_KEY

    credentials = (
        f"  s3_endpoint_url: {s3_url}\n  s3_region: us-east-1\n"
        f"  s3_access_key: {ACCESS_KEY}\n  s3_secret_key: {SECRET_KEY}\n"
        "  storage_path: /connect-probe\n"
    )
    good = _connect(tmp_path, f"  s3_bucket: {bucket}\n" + credentials)
    assert good.returncode == 0, good.stderr
    assert "storage 's3': connected, probe object written, read back, listed and deleted" in (
        good.stdout
    )
    listed = s3_admin.list_objects_v2(Bucket=bucket, Prefix="connect-probe/")
    assert listed.get("KeyCount", 0) == 0, listed.get("Contents")

    missing = _connect(tmp_path, "  s3_bucket: no-such-bucket-for-probe\n" + credentials)
    assert missing.returncode == 2, missing.stderr
    assert "Traceback" not in missing.stderr
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1, missing.stderr
    assert "storage 's3'" in lines[0] and "no-such-bucket-for-probe" in lines[0], lines[0]
    assert "cannot write /_registry_probe/" in lines[0]


def test_a_ranged_read_asks_s3_for_its_range_only(make_driver):
    driver = make_driver()
    data = bytes(range(256)) * 4096
    driver.put_content("/ranged/blob", data)
    sent: list[str] = []
    received: list[int] = []

    def record(request, **_kwargs):
        sent.append(bytes(request.headers.get("Range", b"")).decode())

    def length(http_response, parsed, **_kwargs):
        received.append(int(http_response.headers["Content-Length"]))

    driver.client.meta.events.register("before-send.s3.GetObject", record)
    driver.client.meta.events.register("after-call.s3.GetObject", length)
    with driver.range_reader("/ranged/blob", 1000, 5000) as stream:
        assert stream.read() == data[1000:6000]
    assert sent == ["bytes=1000-5999"] and received == [5000]


def _pieced(driver: S3Driver, piece_size: int, in_flight: int) -> list[str]:
    """Read ``driver``'s large ranges in small pieces; returns the Range of every GET."""
    driver.piece_size, driver.pieces_in_flight = piece_size, in_flight
    sent: list[str] = []

    def record(request, **_kwargs):
        sent.append(bytes(request.headers.get("Range", b"")).decode())

    driver.client.meta.events.register("before-send.s3.GetObject", record)
    return sent


def test_a_large_range_is_read_in_pieces_of_its_range_only(make_driver):
    driver = make_driver()
    data = os.urandom(1024 * 1024 + 123)
    driver.put_content("/pieces/blob", data)
    sent = _pieced(driver, 64 * 1024, 3)
    start, length = 1000, 700_000
    with driver.range_reader("/pieces/blob", start, length) as stream:
        assert read_all(stream, 100_000) == data[start : start + length]
    ranges = sorted((int(a), int(b)) for a, b in (r[len("bytes=") :].split("-") for r in sent))
    assert ranges[0][0] == start and ranges[-1][1] == start + length - 1
    assert all(end + 1 == next_start for (_, end), (next_start, _) in itertools.pairwise(ranges))
    assert len(ranges) == -(-length // (64 * 1024))


@pytest.mark.parametrize("change", ["delete", "overwrite"])
def test_an_object_changed_mid_download_raises_never_mixes(make_driver, change):
    driver = make_driver()
    path = "/pieces/changing"
    old = os.urandom(1024 * 1024)
    driver.put_content(path, old)
    _pieced(driver, 64 * 1024, 1)
    received = bytearray()
    with driver.range_reader(path, 0, len(old)) as stream:
        received += stream.read(64 * 1024)
        if change == "delete":
            driver.delete(path)
        else:
            driver.put_content(path, os.urandom(len(old)))
        with pytest.raises(StorageError) as caught:
            while chunk := stream.read(64 * 1024):
                received += chunk
    assert caught.value.path == path
    assert len(received) < len(old) and bytes(received) == old[: len(received)]


def test_read_piece_options_reach_the_reader(make_driver):
    assert (make_driver().piece_size, make_driver().pieces_in_flight) == (0, 4)
    driver = make_driver(s3_read_piece_size=MIB, s3_read_pieces=2)
    assert (driver.piece_size, driver.pieces_in_flight) == (MIB, 2)
    data = os.urandom(3 * MIB + 5)
    driver.put_content("/pieces/options", data)
    sent = _pieced(driver, driver.piece_size, driver.pieces_in_flight)
    with driver.range_reader("/pieces/options", 0, len(data)) as stream:
        assert read_all(stream) == data
    assert len(sent) == 4


def test_concurrent_pieced_downloads_share_the_threads(make_driver):
    driver = make_driver()
    data = os.urandom(2 * MIB + 7)
    driver.put_content("/pieces/shared", data)
    _pieced(driver, 64 * 1024, 4)

    def download(start: int) -> bool:
        with driver.range_reader("/pieces/shared", start, len(data) - start) as stream:
            return read_all(stream, 50_000) == data[start:]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(download, range(0, 8 * 1000, 1000)))
