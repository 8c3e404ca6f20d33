"""What only the ``azure`` driver promises: the seed's keys, staged blocks, errors."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from docker_registry.core.config.errors import ConfigError
from docker_registry.core.storage import (
    Capability,
    PathNotFoundError,
    StorageError,
    create_driver,
    load_driver_class,
)
from docker_registry.core.storage.factory import resolve_options
from docker_registry.drivers.azure import AzureDriver
from docker_registry.drivers.azure.settings import azure_settings
from docker_registry.drivers.azure.writer import BLOCK_ID_LENGTH
from docker_registry.testing.services import ServiceProcess

MIB = 1024 * 1024
ACCOUNT_KEY = base64.b64encode(b"not the real key").decode()

# -- options ---------------------------------------------------------------------------


def test_seed_keys_map_onto_the_public_endpoint() -> None:
    settings = azure_settings(
        {"azure_storage_account_name": "acct", "azure_storage_account_key": ACCOUNT_KEY}
    )
    assert settings.account_url == "https://acct.blob.core.windows.net"
    assert settings.container == "registry", "the seed's default container"
    assert settings.prefix == ""
    plain = azure_settings({"azure_storage_account_name": "acct", "azure_use_https": False})
    assert plain.account_url == "http://acct.blob.core.windows.net"
    emulator = azure_settings(
        {"azure_storage_account_name": "a", "azure_endpoint_url": "http://127.0.0.1:1/a/"}
    )
    assert emulator.account_url == "http://127.0.0.1:1/a"


def test_connection_string_wins_and_may_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    string = f"AccountName=fromstring;AccountKey={ACCOUNT_KEY};EndpointSuffix=core.windows.net"
    settings = azure_settings(
        {"azure_connection_string": string, "azure_storage_account_name": "ignored"}
    )
    assert (settings.connection_string, settings.account_name) == (string, "fromstring")
    assert settings.account_key == ACCOUNT_KEY
    monkeypatch.setenv("AZURE_CONNECTION_STRING", string)
    driver = AzureDriver(azure_storage_container="c")
    assert driver.settings.connection_string == string
    assert driver.service.account_name == "fromstring"


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({}, "azure_storage_account_name"),
        ({"azure_storage_account_name": "a", "azure_block_size": 1000}, "azure_block_size"),
        ({"azure_storage_account_name": "a", "azure_endpoint_url": "x"}, "azure_endpoint_url"),
        ({"azure_connection_string": "nonsense"}, "azure_connection_string"),
    ],
)
def test_unusable_options_fail_config_check_naming_the_key(
    values: dict[str, Any], key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_CONNECTION_STRING", raising=False)
    with pytest.raises(ConfigError) as caught:
        resolve_options(AzureDriver, values)
    assert caught.value.key == key


def test_entry_point_and_the_seed_alias() -> None:
    assert load_driver_class("azure") is AzureDriver
    assert load_driver_class("azureblob") is AzureDriver


def test_without_the_account_key_nothing_is_signed() -> None:
    driver = AzureDriver(
        azure_connection_string="BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=x",
        azure_storage_container="c",
    )
    assert Capability.REDIRECT not in driver.capabilities
    assert Capability.REDIRECT in AzureDriver.capabilities
    assert driver.redirect_url("/blob") is None


# -- against Azurite ---------------------------------------------------------------------


def test_seed_configuration_creates_the_missing_container(
    azure_url: str, make_driver: Callable[..., AzureDriver]
) -> None:
    config = {
        "azure_storage_account_name": "devstoreaccount1",
        "azure_storage_account_key": make_driver().settings.account_key,
        "azure_storage_container": "created-on-first-use",
        "azure_endpoint_url": azure_url,
    }
    driver = create_driver("azureblob", config)
    assert isinstance(driver, AzureDriver)
    driver.put_content("/images/abc/json", b"{}")
    assert driver.container.get_container_properties().name == "created-on-first-use"
    assert [blob.name for blob in driver.container.list_blobs()] == ["images/abc/json"]
    driver.delete("/images")
    driver.close()


def test_connection_string_reaches_azurite(
    azure_url: str, container: str, azure_connection_string: Callable[[str], str]
) -> None:
    driver = AzureDriver(
        azure_connection_string=azure_connection_string(azure_url),
        azure_storage_container=container,
        storage_path="/connection-string",
    )
    driver.put_content("/file", b"x")
    assert driver.list("/") == ["/file"]
    driver.delete("/file")
    driver.close()


def test_listing_and_walking_follow_continuation_pages(
    make_driver: Callable[..., AzureDriver],
) -> None:
    driver = make_driver(storage_path="/pages")
    driver.page_size = 100
    names = [f"/many/{index:04d}" for index in range(250)]
    for name in names:
        driver.blob(driver.key(name)).upload_blob(b"x")
    driver.put_content("/many-sibling", b"kept")
    assert driver.list("/many") == names
    assert sorted(info.path for info in driver.walk("/many")) == names
    driver.delete("/many")
    assert driver.list("/") == ["/many-sibling"]
    driver.delete("/many-sibling")


def test_blocks_are_staged_as_the_buffer_fills(make_driver: Callable[..., AzureDriver]) -> None:
    driver = make_driver(storage_path="/blocks")
    data = os.urandom(2 * MIB + 5)
    writer = driver.writer("/big")
    try:
        for start in range(0, len(data), 300_000):
            writer.write(data[start : start + 300_000])
        _, uncommitted = driver.blob(driver.key("/big")).get_block_list("uncommitted")
        assert [block.size for block in uncommitted] == [MIB, MIB]
        with pytest.raises(PathNotFoundError):
            driver.stat("/big")
        assert [blob.name for blob in driver.container.list_blobs("blocks/")] == []
        writer.commit()
    finally:
        writer.close()
    committed, _ = driver.blob(driver.key("/big")).get_block_list("committed")
    assert [block.size for block in committed] == [MIB, MIB, 5]
    assert all(len(block.id) == BLOCK_ID_LENGTH for block in committed)
    assert driver.get_content("/big") == data
    with driver.writer("/big", append=True) as appender:
        appender.write(b"tail")
        appender.commit()
    appended, _ = driver.blob(driver.key("/big")).get_block_list("committed")
    assert [block.id for block in appended[:3]] == [block.id for block in committed]
    assert driver.get_content("/big") == data + b"tail"
    driver.delete("/big")


def test_redirect_url_is_a_read_only_sas(make_driver: Callable[..., AzureDriver]) -> None:
    driver = make_driver(storage_path="/redirect")
    driver.put_content("/blob", b"layer bytes")
    url = driver.redirect_url("/blob")
    assert url is not None
    assert "sig=" in url
    assert "sp=r" in url
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    assert response.content == b"layer bytes"
    assert (
        requests.put(
            url, data=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=30
        ).status_code
        == 403
    )
    driver.delete("/blob")


# -- errors --------------------------------------------------------------------------------


def test_wrong_account_key_says_which_keys_to_check(
    make_driver: Callable[..., AzureDriver],
) -> None:
    driver = make_driver(azure_storage_account_key=ACCOUNT_KEY)
    for call, operation in (
        (lambda: driver.put_content("/file", b"x"), "put_content"),
        (lambda: driver.stat("/file"), "stat"),
        (lambda: driver.get_content("/file"), "get_content"),
    ):
        with pytest.raises(StorageError) as caught:
            call()
        error = caught.value
        assert not isinstance(error, PathNotFoundError)
        assert (error.driver, error.operation, error.path) == ("azure", operation, "/file")
        assert "access denied" in str(error)
        assert "azure_storage_account_key" in str(error)


def test_emulator_stopped_mid_upload_leaves_no_partial_blob(
    private_azurite: Callable[..., ServiceProcess],
    make_driver: Callable[..., AzureDriver],
    tmp_path: Path,
) -> None:
    """Stop Azurite after one staged block, fail the commit, restart it: nothing changed."""
    service = private_azurite(str(tmp_path))
    driver = make_driver(azure_endpoint_url=service.url)
    driver.put_content("/kept", b"old")
    writer = driver.writer("/kept")
    writer.write(os.urandom(MIB + 10))
    service.stop()
    with pytest.raises(StorageError) as caught:
        writer.write(os.urandom(MIB))
    error = caught.value
    assert (error.driver, error.operation, error.path) == ("azure", "write", "/kept")
    assert "cannot reach the Azure Blob endpoint" in str(error)
    with pytest.raises(StorageError, match="broken"):
        writer.commit()
    writer.close()
    port = int(service.url.split(":")[2].split("/")[0])
    private_azurite(str(tmp_path), port)
    assert driver.get_content("/kept") == b"old"
    assert driver.list("/") == ["/kept"]
