"""Blob downloads in pieces (``s3_read_piece_size``) over real HTTP: `docker-registry serve`
on moto, a whole and a ranged GET, and a blob changed in the store mid-download: the
client's connection is cut, and what it received is a prefix of the blob, never a mix."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "v2"))

from driver_backends import Backend, start_s3
from v2support import Client, digest

from docker_registry.core.v2 import layout
from docker_registry.drivers.s3.testing import s3_client

MIB = 1024 * 1024
TIMEOUT = 30


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> Iterator[Backend]:
    with start_s3(tmp_path_factory.mktemp("backend-s3")) as backend:
        yield backend


def _pieced_registry(s3: Backend, start_registry) -> tuple[str, str]:
    """A registry reading downloads in 1 MiB pieces, one ahead; returns its URL and prefix."""
    config = s3.registry_config(s3_read_piece_size=MIB, s3_read_pieces=1)
    registry = start_registry(**config)
    return registry.url, config["storage_path"].strip("/") + "/"


def test_whole_and_ranged_downloads_in_pieces(s3: Backend, start_registry) -> None:
    url, _ = _pieced_registry(s3, start_registry)
    blob = os.urandom(5 * MIB + 321)
    Client(url).push_blob("pieces/app", blob)
    blob_url = f"{url}/v2/pieces/app/blobs/{digest(blob)}"
    whole = requests.get(blob_url, timeout=TIMEOUT)
    assert whole.status_code == 200
    assert hashlib.sha256(whole.content).hexdigest() == hashlib.sha256(blob).hexdigest()
    first, last = MIB - 7, 4 * MIB + 11
    ranged = requests.get(blob_url, headers={"Range": f"bytes={first}-{last}"}, timeout=TIMEOUT)
    assert ranged.status_code == 206
    assert ranged.headers["Content-Range"] == f"bytes {first}-{last}/{len(blob)}"
    assert ranged.content == blob[first : last + 1]


def test_a_blob_changed_mid_download_cuts_the_connection(s3: Backend, start_registry) -> None:
    url, prefix = _pieced_registry(s3, start_registry)
    # NOTE: large enough that most pieces are fetched after the change, whatever the
    # socket buffers and waitress's out-buffer hold ahead of the client.
    blob = os.urandom(48 * MIB)
    Client(url).push_blob("pieces/app", blob)
    key = prefix + layout.blob_data("sha256", digest(blob).split(":")[1]).lstrip("/")
    store = s3_client(s3.config["s3_endpoint_url"])
    received = bytearray()
    with requests.get(
        f"{url}/v2/pieces/app/blobs/{digest(blob)}", stream=True, timeout=TIMEOUT
    ) as response:
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) == len(blob)
        chunks = response.raw.stream(256 * 1024, decode_content=False)
        received += next(chunks)
        store.put_object(Bucket=s3.config["s3_bucket"], Key=key, Body=os.urandom(len(blob)))
        with pytest.raises(urllib3.exceptions.ProtocolError, match="IncompleteRead"):
            for chunk in chunks:
                received += chunk
    assert len(received) < len(blob)
    assert bytes(received) == blob[: len(received)]
