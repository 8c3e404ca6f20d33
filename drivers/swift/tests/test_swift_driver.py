"""What only the ``swift`` driver promises: segments, SLOs, TempURLs, paging, faults."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from swiftclient.client import ClientException

from docker_registry.core.config import load_settings
from docker_registry.core.config.errors import ConfigError
from docker_registry.core.storage import (
    Capability,
    PathNotFoundError,
    StorageError,
    create_driver,
    load_driver_class,
)
from docker_registry.core.storage.pieces import RangedBody
from docker_registry.drivers.swift import SwiftDriver, swift_settings
from docker_registry.drivers.swift.connection import translate
from docker_registry.drivers.swift.testing import SwiftService, TcpForwarder
from docker_registry.drivers.swift.writer import SwiftFileWriter
from docker_registry.testing.conformance import make_data, read_all

from .conftest import SMALL_SEGMENTS

MIB = 1024 * 1024
Make = Callable[..., SwiftDriver]
Segments = Callable[[SwiftDriver], list[str]]


def _headers(swift: SwiftService, driver: SwiftDriver, path: str) -> dict[str, str]:
    conn = swift.connection()
    try:
        return dict(conn.head_object(driver.settings.container, driver.key(path)))
    finally:
        conn.close()


def _is_slo(swift: SwiftService, driver: SwiftDriver, path: str) -> bool:
    return _headers(swift, driver, path).get("x-static-large-object") == "True"


def _forbid_reads(driver: SwiftDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any object read through ``driver`` fails the test (until ``monkeypatch.undo()``)."""

    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("a chunk was read back through the driver")

    monkeypatch.setattr(driver, "open_object", no_read)
    monkeypatch.setattr(driver, "get_range", no_read)


# -- segmented writes ------------------------------------------------------------------


def test_segments_stream_during_write_and_commit_publishes_an_slo(
    make_driver: Make, segments: Segments, swift: SwiftService
) -> None:
    driver = make_driver()
    data = make_data(2 * MIB + MIB // 2, seed=1)
    with driver.writer("/layer") as writer:
        writer.write(data[: MIB + 10])
        assert len(segments(driver)) == 1, "a full segment is uploaded as soon as it fills"
        writer.write(data[MIB + 10 :])
        assert len(segments(driver)) == 2
        with pytest.raises(PathNotFoundError):
            driver.stat("/layer")
        writer.commit()
    assert len(segments(driver)) == 3
    assert _is_slo(swift, driver, "/layer")
    assert driver.get_content("/layer") == data
    assert driver.stat("/layer").size == len(data)
    driver.delete("/layer")
    assert segments(driver) == []


def test_small_content_is_one_plain_put(
    make_driver: Make, segments: Segments, swift: SwiftService
) -> None:
    driver = make_driver()
    with driver.writer("/small") as writer:
        writer.write(b"x" * (SMALL_SEGMENTS - 1))
        writer.commit()
    assert segments(driver) == []
    assert not _is_slo(swift, driver, "/small")
    driver.delete("/small")


def test_cancel_and_failed_commit_delete_their_segments(
    make_driver: Make, segments: Segments
) -> None:
    driver = make_driver()
    writer = driver.writer("/cancelled")
    writer.write(make_data(2 * MIB, seed=2))
    assert len(segments(driver)) == 2
    writer.cancel()
    assert segments(driver) == []

    driver.put_content("/file", b"a file")
    writer = driver.writer("/file/below")
    writer.write(make_data(2 * MIB + 1, seed=3))
    with pytest.raises(StorageError, match="is a file") as failure:
        writer.commit()
    writer.close()
    assert failure.value.driver == "swift"
    assert segments(driver) == []
    with pytest.raises(PathNotFoundError):
        driver.stat("/file/below")
    driver.delete("/file")


def test_overwrites_delete_the_replaced_segments(make_driver: Make, segments: Segments) -> None:
    driver = make_driver()
    driver.put_content("/blob", make_data(3 * MIB, seed=4))
    first = set(segments(driver))
    second_data = make_data(2 * MIB + 5, seed=5)
    driver.put_content("/blob", second_data)
    second = set(segments(driver))
    assert len(second) == 3
    assert not first & second
    assert driver.get_content("/blob") == second_data
    driver.put_content("/blob", b"small now")
    assert segments(driver) == []
    driver.delete("/blob")


def test_append_reuses_the_segments_of_an_slo(
    make_driver: Make, segments: Segments, swift: SwiftService
) -> None:
    driver = make_driver()
    first, second = make_data(2 * MIB + 3, seed=6), make_data(MIB + 7, seed=7)
    driver.put_content("/upload", first)
    before = set(segments(driver))
    with driver.writer("/upload", append=True) as writer:
        assert writer.size == len(first)
        writer.write(second)
        writer.commit()
    assert before < set(segments(driver))
    assert read_all(driver.reader("/upload")) == first + second
    driver.delete("/upload")
    assert segments(driver) == []


def test_append_to_a_large_plain_object_copies_it_server_side(
    make_driver: Make, segments: Segments, swift: SwiftService
) -> None:
    big_segments = make_driver(swift_segment_size=8 * MIB)
    first = make_data(3 * MIB, seed=8)
    big_segments.put_content("/plain", first)
    assert not _is_slo(swift, big_segments, "/plain")
    driver = make_driver(storage_path=big_segments.settings.prefix)
    with driver.writer("/plain", append=True) as writer:
        writer.write(b"tail")
        writer.commit()
    assert _is_slo(swift, driver, "/plain")
    assert driver.get_content("/plain") == first + b"tail"
    driver.delete("/plain")
    assert segments(driver) == []


def test_concatenate_copies_chunks_server_side(
    make_driver: Make, segments: Segments, swift: SwiftService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upload's chunks become the blob inside Swift: none is read back by the driver,
    and the blob shares no segment with them (they are deleted right after)."""
    driver = make_driver()
    chunks = [
        make_data(size, seed=20 + index)
        for index, size in enumerate([2 * MIB + 5, MIB, 3 * MIB // 2, MIB // 3])
    ]
    paths = [f"/_uploads/u/chunks/{index}" for index in range(len(chunks))]
    for path, chunk in zip(paths, chunks, strict=True):
        driver.put_content(path, chunk)
    _forbid_reads(driver, monkeypatch)
    driver.concatenate(paths, "/blobs/joined")
    monkeypatch.undo()
    driver.delete("/_uploads")
    assert _is_slo(swift, driver, "/blobs/joined")
    assert driver.get_content("/blobs/joined") == b"".join(chunks)
    assert driver.stat("/blobs/joined").size == sum(map(len, chunks))
    driver.delete("/blobs")
    assert segments(driver) == []


def _adopted_chunks(
    driver: SwiftDriver, tmp_path: Path, sizes: list[int], upload: str = "u"
) -> tuple[list[str], list[bytes]]:
    """Chunks adopted the way the core stores an upload's PATCH bodies."""
    paths, chunks = [], []
    for index, size in enumerate(sizes):
        chunk = make_data(size, seed=60 + index)
        local = tmp_path / f"{upload}-{index}.body"
        local.write_bytes(chunk)
        path = f"/_uploads/{upload}/chunks/{index}"
        driver.adopt_file(str(local), path, durable=False)
        paths.append(path)
        chunks.append(chunk)
    return paths, chunks


def test_join_lists_the_chunks_segments_and_copies_only_plain_chunks(
    make_driver: Make,
    segments: Segments,
    swift: SwiftService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chunks of 1 MiB or more are adopted as SLOs; the blob's manifest lists their
    segments (none is copied or read), a small last chunk is copied server-side, and
    the chunks are gone afterwards."""
    driver = make_driver(swift_segment_size=4 * MIB)
    paths, chunks = _adopted_chunks(driver, tmp_path, [2 * MIB + 5, MIB, 5 * MIB, MIB // 3])
    assert [_is_slo(swift, driver, path) for path in paths] == [True, True, True, False]
    before = set(segments(driver))
    assert len(before) == 4, "one segment per chunk, two for the chunk above 4 MiB"
    _forbid_reads(driver, monkeypatch)
    driver.join(paths, "/blobs/joined")
    monkeypatch.undo()
    after = set(segments(driver))
    assert before < after and len(after - before) == 1, "only the plain chunk was copied"
    for path in paths:
        with pytest.raises(PathNotFoundError):
            driver.stat(path)
    assert _is_slo(swift, driver, "/blobs/joined")
    assert driver.get_content("/blobs/joined") == b"".join(chunks)
    with pytest.raises(PathNotFoundError):
        driver.delete("/_uploads")
    driver.delete("/blobs")
    assert segments(driver) == []


def test_a_refused_join_puts_the_chunks_back(
    make_driver: Make, segments: Segments, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store refuses the blob's manifest: the chunks are readable again, nothing is
    at the destination, no copy is left, and the same join works once the store does."""
    driver = make_driver(swift_segment_size=4 * MIB)
    paths, chunks = _adopted_chunks(driver, tmp_path, [MIB + 7, 2 * MIB, 100])
    before = set(segments(driver))
    real = driver.put_manifest
    blob_key = driver.key("/blobs/refused")

    def refuse_the_blob(key: str, entries: list[dict[str, object]], conn: object) -> None:
        if key == blob_key:
            raise ClientException("the proxy refused the manifest", http_status=503)
        real(key, entries, conn)  # type: ignore[arg-type]

    monkeypatch.setattr(driver, "put_manifest", refuse_the_blob)
    with pytest.raises(StorageError) as failure:
        driver.join(paths, "/blobs/refused")
    assert (failure.value.driver, failure.value.path) == ("swift", "/blobs/refused")
    monkeypatch.undo()
    with pytest.raises(PathNotFoundError):
        driver.stat("/blobs/refused")
    assert [driver.get_content(path) for path in paths] == chunks
    assert set(segments(driver)) == before, "the copy of the plain chunk was deleted"
    driver.join(paths, "/blobs/refused")
    assert driver.get_content("/blobs/refused") == b"".join(chunks)
    driver.delete("/blobs")
    assert segments(driver) == []


def test_two_joins_of_the_same_chunks_at_once(
    make_driver: Make, segments: Segments, tmp_path: Path
) -> None:
    """Two requests finishing one upload: one join finds a chunk gone (PathNotFoundError),
    or Swift lets both delete it and both store the same manifest; either way the blob is
    whole, the chunks are gone and no segment is left behind or shared."""
    driver = make_driver(swift_segment_size=4 * MIB)
    for attempt in range(3):
        paths, chunks = _adopted_chunks(
            driver, tmp_path, [MIB, 2 * MIB, 3 * MIB, MIB + 10], upload=f"race{attempt}"
        )
        barrier = threading.Barrier(2)

        def join(paths: list[str] = paths, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            try:
                driver.join(paths, "/blobs/raced")
            except PathNotFoundError:
                return "vanished"
            return "joined"

        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(lambda _: join(), range(2)))
        assert outcomes in (["joined", "vanished"], ["joined", "joined"]), outcomes
        assert driver.get_content("/blobs/raced") == b"".join(chunks)
        left = [path for path in paths if driver.file_info(path) is not None]
        assert left == [], (attempt, left)
    driver.delete("/blobs")
    assert segments(driver) == [], "no segment was left behind or shared"


def test_a_join_that_cannot_make_one_manifest_copies_every_chunk(
    make_driver: Make, segments: Segments, tmp_path: Path
) -> None:
    """A chunk under 1 MiB in the middle cannot be a segment: every chunk is copied,
    the bytes are the same and the chunks (with their segments) are gone."""
    driver = make_driver(swift_segment_size=4 * MIB)
    paths, chunks = _adopted_chunks(driver, tmp_path, [2 * MIB, MIB // 2, MIB])
    driver.join(paths, "/blobs/copied")
    assert driver.get_content("/blobs/copied") == b"".join(chunks)
    for path in paths:
        with pytest.raises(PathNotFoundError):
            driver.stat(path)
    driver.delete("/blobs")
    assert segments(driver) == []


def test_a_chunk_below_the_segment_minimum_is_streamed(make_driver: Make) -> None:
    """Only the last segment of an SLO may be under 1 MiB: a small chunk in the middle
    goes through the buffer, and the bytes are the same."""
    driver = make_driver()
    chunks = [make_data(MIB // 2, seed=30), make_data(2 * MIB, seed=31), b"end"]
    paths = [f"/_uploads/v/chunks/{index}" for index in range(len(chunks))]
    for path, chunk in zip(paths, chunks, strict=True):
        driver.put_content(path, chunk)
    driver.concatenate(paths, "/blobs/small-first")
    assert driver.get_content("/blobs/small-first") == b"".join(chunks)
    driver.delete("/_uploads")
    driver.delete("/blobs")


def test_a_spooled_file_goes_up_from_the_file(
    make_driver: Make,
    segments: Segments,
    swift: SwiftService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """adopt_file sends segments (and a small file's one PUT) read from the file itself,
    never through the writer's memory buffer."""
    driver = make_driver()
    big = make_data(3 * MIB + MIB // 2, seed=40)
    small = make_data(MIB // 4, seed=41)
    (tmp_path / "big").write_bytes(big)
    (tmp_path / "small").write_bytes(small)

    def no_buffer(*args: object, **kwargs: object) -> None:
        raise AssertionError("bytes went through the writer's buffer")

    monkeypatch.setattr(driver, "put_object", no_buffer)
    monkeypatch.setattr(SwiftFileWriter, "upload_part", no_buffer)
    driver.adopt_file(str(tmp_path / "big"), "/blobs/big")
    driver.adopt_file(str(tmp_path / "small"), "/blobs/small")
    monkeypatch.undo()
    assert _is_slo(swift, driver, "/blobs/big")
    assert len(segments(driver)) == 4, "three full segments and the rest"
    assert driver.get_content("/blobs/big") == big
    assert not _is_slo(swift, driver, "/blobs/small")
    assert driver.get_content("/blobs/small") == small
    driver.delete("/blobs")
    assert segments(driver) == []


def test_a_segment_failing_mid_file_leaves_nothing(
    make_driver: Make, segments: Segments, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One of several segments in flight fails: the others end, every segment sent is
    deleted, and nothing is visible at the path."""
    driver = make_driver()
    source = tmp_path / "body"
    source.write_bytes(make_data(6 * MIB, seed=42))
    real = SwiftFileWriter._put_segment

    def third_fails(writer: SwiftFileWriter, name: str, body: object, length: int) -> str:
        if name.endswith("00000003"):
            raise ConnectionError("the proxy went away")
        return real(writer, name, body, length)  # type: ignore[arg-type]

    monkeypatch.setattr(SwiftFileWriter, "_put_segment", third_fails)
    with pytest.raises(StorageError) as failure:
        driver.adopt_file(str(source), "/blobs/broken")
    assert failure.value.path == "/blobs/broken"
    monkeypatch.undo()
    assert segments(driver) == []
    with pytest.raises(PathNotFoundError):
        driver.stat("/blobs/broken")


# -- reads, moves, listings, redirects ---------------------------------------------------


def test_ranged_reads_across_segments(make_driver: Make) -> None:
    driver = make_driver()
    data = make_data(3 * MIB + 100, seed=9)
    driver.put_content("/slo", data)
    stream = driver.reader("/slo", MIB - 5)
    try:
        assert stream.read(10) == data[MIB - 5 : MIB + 5]
        assert stream.read(MIB) == data[MIB + 5 : 2 * MIB + 5]
    finally:
        stream.close()
    assert read_all(driver.reader("/slo", 3 * MIB)) == data[3 * MIB :]
    assert read_all(driver.reader("/slo", len(data))) == b""
    driver.delete("/slo")


def _pieced(driver: SwiftDriver, piece_size: int, in_flight: int) -> list[tuple[int, int]]:
    """Read ``driver``'s large ranges in small pieces; returns every ranged GET made."""
    driver.piece_size, driver.pieces_in_flight = piece_size, in_flight
    gets: list[tuple[int, int]] = []
    get_range = driver.get_range

    def recording(key: str, offset: int, length: int) -> RangedBody | None:
        gets.append((offset, length))
        return get_range(key, offset, length)

    driver.get_range = recording  # type: ignore[method-assign]
    return gets


def test_a_large_range_of_an_slo_is_read_in_pieces_of_its_range_only(make_driver: Make) -> None:
    driver = make_driver()
    data = make_data(3 * MIB + 100, seed=10)
    driver.put_content("/pieces", data)
    gets = _pieced(driver, 256 * 1024, 3)
    start, length = MIB - 5, 2 * MIB
    with driver.range_reader("/pieces", start, length) as stream:
        assert read_all(stream, 100_000) == data[start : start + length]
    piece = 256 * 1024
    assert sorted(gets) == [(offset, piece) for offset in range(start, start + length, piece)]
    with driver.range_reader("/pieces", len(data) - 10, MIB) as stream:
        assert stream.read() == data[-10:]
    with driver.range_reader("/pieces", len(data), 10) as stream:
        assert stream.read() == b""


def test_read_piece_options_reach_the_reader(make_driver: Make) -> None:
    assert (make_driver().piece_size, make_driver().pieces_in_flight) == (0, 4)
    driver = make_driver(swift_read_piece_size=MIB, swift_read_pieces=2)
    data = make_data(3 * MIB + 5, seed=13)
    driver.put_content("/pieces-options", data)
    gets = _pieced(driver, driver.piece_size, driver.pieces_in_flight)
    assert (driver.piece_size, driver.pieces_in_flight) == (MIB, 2)
    with driver.range_reader("/pieces-options", 0, len(data)) as stream:
        assert read_all(stream) == data
    assert sorted(gets) == [(0, MIB), (MIB, MIB), (2 * MIB, MIB), (3 * MIB, 5)]


@pytest.mark.parametrize("change", ["delete", "overwrite"])
def test_an_object_changed_mid_download_raises_never_mixes(make_driver: Make, change: str) -> None:
    driver = make_driver()
    path = "/pieces-changing"
    old = make_data(2 * MIB, seed=11)
    driver.put_content(path, old)
    _pieced(driver, 128 * 1024, 1)
    received = bytearray()
    with driver.range_reader(path, 0, len(old)) as stream:
        received += stream.read(128 * 1024)
        if change == "delete":
            driver.delete(path)
        else:
            driver.put_content(path, make_data(2 * MIB, seed=12))
        with pytest.raises(StorageError) as caught:
            while chunk := stream.read(128 * 1024):
                received += chunk
    assert caught.value.path == path
    assert len(received) < len(old) and bytes(received) == old[: len(received)]


def test_move_of_an_slo_copies_the_manifest_not_the_data(
    make_driver: Make, segments: Segments, swift: SwiftService
) -> None:
    driver = make_driver()
    data = make_data(2 * MIB + 9, seed=10)
    driver.put_content("/_uploads/u/data", data)
    before = segments(driver)
    driver.move("/_uploads/u/data", "/blobs/ab/data")
    assert segments(driver) == before, "the segments are shared, not copied"
    assert _is_slo(swift, driver, "/blobs/ab/data")
    assert driver.get_content("/blobs/ab/data") == data
    with pytest.raises(PathNotFoundError):
        driver.stat("/_uploads/u/data")
    driver.delete("/blobs")
    assert segments(driver) == []


def test_listing_pages_past_the_listing_limit(make_driver: Make) -> None:
    driver = make_driver(swift_listing_limit=3)
    names = [f"/dir/f{index:02d}" for index in range(8)] + ["/dir/sub/a", "/dir/sub2/b"]
    for name in names:
        driver.put_content(name, b"x")
    assert driver.list("/dir") == sorted(
        [name for name in names if name.count("/") == 2] + ["/dir/sub", "/dir/sub2"]
    )
    assert sorted(info.path for info in driver.walk("/dir")) == sorted(names)
    driver.delete("/dir")
    with pytest.raises(PathNotFoundError):
        driver.list("/dir")


def test_redirect_url_is_a_working_temp_url(make_driver: Make) -> None:
    driver = make_driver(swift_temp_url_expires=60)
    assert Capability.REDIRECT in driver.capabilities
    data = make_data(2 * MIB + 1, seed=11)
    driver.put_content("/dir/with space", data)
    url = driver.redirect_url("/dir/with space")
    assert url is not None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert set(query) == {"temp_url_sig", "temp_url_expires"}
    assert requests.get(url, timeout=30).content == data
    ranged = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=30)
    assert ranged.status_code == 206
    assert ranged.content == data[10:20]
    tampered = url.replace("temp_url_sig=", "temp_url_sig=0")
    assert requests.get(tampered, timeout=30).status_code == 401
    with pytest.raises(PathNotFoundError):
        driver.redirect_url("/missing")
    driver.delete("/dir")


def test_no_temp_url_key_means_no_redirect(make_driver: Make) -> None:
    driver = make_driver(swift_temp_url_key=None)
    assert Capability.REDIRECT not in driver.capabilities
    driver.put_content("/file", b"x")
    assert driver.redirect_url("/file") is None
    driver.delete("/file")


# -- tokens, credentials, containers, faults ---------------------------------------------


def _pooled_token(driver: SwiftDriver) -> tuple[str, str]:
    """The storage URL and token of the driver's (authenticated) pooled connection."""
    conn = driver.pool.acquire()
    try:
        return conn.url, conn.token
    finally:
        driver.pool.release(conn)


def test_an_expired_token_is_renewed_transparently(
    make_driver: Make, segments: Segments, swift: SwiftService
) -> None:
    driver = make_driver()
    driver.put_content("/before", b"before")
    storage_url, token = _pooled_token(driver)
    swift.expire_tokens()
    assert (
        requests.head(storage_url, headers={"X-Auth-Token": token}, timeout=10).status_code == 401
    )
    assert driver.get_content("/before") == b"before"
    assert _pooled_token(driver)[1] != token, "the driver authenticated again"
    data = make_data(2 * MIB + 11, seed=12)
    with driver.writer("/long-upload") as writer:
        writer.write(data[: MIB + 1])
        swift.expire_tokens()
        writer.write(data[MIB + 1 :])
        swift.expire_tokens()
        writer.commit()
    assert driver.get_content("/long-upload") == data
    driver.delete("/before")
    driver.delete("/long-upload")
    assert segments(driver) == []


def test_wrong_credentials_name_the_driver_operation_and_path(make_driver: Make) -> None:
    driver = make_driver(swift_password="wrong", swift_container="other-container")
    with pytest.raises(StorageError) as failure:
        driver.get_content("/some/file")
    error = failure.value
    assert not isinstance(error, PathNotFoundError)
    assert error.driver == "swift"
    assert "authentication refused" in str(error)
    assert "swift_password" in str(error)


def test_a_missing_container_is_created_unless_told_not_to(
    make_driver: Make, container: str, swift: SwiftService
) -> None:
    name = f"{container}-new"
    refusing = make_driver(swift_container=name, swift_create_container=False)
    with pytest.raises(StorageError, match=name) as failure:
        refusing.put_content("/file", b"x")
    assert failure.value.driver == "swift"
    creating = make_driver(swift_container=name)
    creating.put_content("/file", b"x")
    conn = swift.connection()
    try:
        conn.head_container(name)
        conn.head_container(f"{name}_segments")
    finally:
        conn.close()
    creating.delete("/file")


def test_a_proxy_dying_mid_write_fails_cleanly_and_cancel_cleans_up_later(
    make_driver: Make, segments: Segments, swift: SwiftService
) -> None:
    conn = swift.connection()
    conn.get_account()
    storage_url, token = conn.url, conn.token
    conn.close()
    parts = urllib.parse.urlsplit(storage_url)
    forwarder = TcpForwarder((parts.hostname or "127.0.0.1", parts.port or 80)).start()
    relayed = storage_url.replace(parts.netloc, f"127.0.0.1:{forwarder.port}")
    driver = make_driver(swift_storage_url=relayed, swift_auth_token=token, swift_retries=1)
    writer = driver.writer("/crash")
    try:
        writer.write(make_data(MIB + 5, seed=13))
        assert len(segments(driver)) == 1
        forwarder.stop()
        with pytest.raises(StorageError) as failure:
            writer.write(make_data(MIB, seed=14))
        assert (failure.value.driver, failure.value.operation) == ("swift", "write")
        assert failure.value.path == "/crash"
        assert "cannot reach Swift" in str(failure.value)
        with pytest.raises(StorageError, match="the writer is broken"):
            writer.commit()  # a lost segment must never become a short object
        writer.cancel()
        # NOTE: the second segment never arrived, but the writer cannot know that.
        assert len(writer.pending_segments) == 2, "the proxy is down: nothing was deleted"
        assert len(segments(driver)) == 1
    finally:
        forwarder.start()
        writer.close()
        forwarder.stop()
    assert segments(driver) == [], "close() retried the cleanup once the proxy was back"
    with pytest.raises(PathNotFoundError):
        make_driver(storage_path=driver.settings.prefix).stat("/crash")


# -- configuration -------------------------------------------------------------------------


def test_factory_builds_the_driver_from_the_seed_keys(swift: SwiftService, container: str) -> None:
    assert load_driver_class("swift") is SwiftDriver
    driver = create_driver(
        "swift",
        {
            "swift_authurl": swift.auth_url,
            "swift_user": swift.user,
            "swift_password": swift.key,
            "swift_auth_version": 1,
            "swift_container": container,
            "storage_path": "/factory",
        },
    )
    assert isinstance(driver, SwiftDriver)
    assert driver.settings.segment_size == 64 * MIB
    assert driver.settings.prefix == "factory/"
    driver.put_content("/ping", b"pong")
    assert driver.get_content("/ping") == b"pong"
    driver.delete("/ping")


def test_a_refused_request_on_an_auth_account_is_not_called_an_authentication_error() -> None:
    """Swift account paths read ``AUTH_<project>``: a 400 (say, a manifest whose segment
    changed) names the Swift error, not the credentials."""
    settings = swift_settings(
        SwiftDriver.with_defaults(
            {
                "swift_container": "c",
                "swift_authurl": "http://proxy/auth/v1.0",
                "swift_user": "test:tester",
                "swift_password": "testing",
            }
        )
    )
    refused = ClientException(
        "Object PUT failed",
        http_scheme="http",
        http_host="proxy",
        http_path="/v1/AUTH_test/c/blob",
        http_status=400,
        http_response_content=b"Errors: Etag Mismatch",
    )
    error = translate(refused, settings, driver="swift", operation="commit", path="/blob")
    assert "authentication" not in str(error)
    assert "Swift error: Object PUT failed" in str(error)
    expired = ClientException("Auth GET failed", http_status=401)
    error = translate(expired, settings, driver="swift", operation="stat", path="/blob")
    assert "authentication refused" in str(error) and "swift_password" in str(error)


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"swift_auth_version": "4"}, "swift_auth_version"),
        ({"swift_password": None}, "swift_password"),
        ({"swift_container": "a/b"}, "swift_container"),
        ({"swift_segment_size": 0}, "swift_segment_size"),
        ({"swift_listing_limit": 10_001}, "swift_listing_limit"),
        ({"swift_read_piece_size": 1000}, "swift_read_piece_size"),
        ({"swift_read_pieces": 0}, "swift_read_pieces"),
    ],
)
def test_bad_options_are_refused_with_their_key(values: dict[str, object], key: str) -> None:
    config = {"swift_authurl": "http://x/auth", "swift_user": "u", "swift_password": "p"}
    with pytest.raises(ConfigError, match=key):
        SwiftDriver.validate_options({**config, **values})


def test_keystone_v3_and_preauth_options() -> None:
    v3 = swift_settings(
        SwiftDriver.with_defaults(
            {
                "swift_authurl": "https://keystone/v3",
                "swift_user": "u",
                "swift_password": "p",
                "swift_auth_version": 3,
                "swift_tenant_name": "tenant",
                "swift_user_domain_name": "Default",
                "swift_project_domain_name": "Default",
                "swift_region_name": "RegionOne",
            }
        )
    )
    assert v3.auth_version == "3"
    assert v3.os_options == {
        "region_name": "RegionOne",
        "tenant_name": "tenant",
        "project_name": "tenant",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    preauth = swift_settings(
        SwiftDriver.with_defaults(
            {"swift_storage_url": "http://s/v1/AUTH_a", "swift_auth_token": "t"}
        )
    )
    assert (preauth.storage_url, preauth.auth_token, preauth.authurl) == (
        "http://s/v1/AUTH_a",
        "t",
        None,
    )


def test_the_seeds_swift_flavor_builds_a_working_driver(
    swift: SwiftService, container: str
) -> None:
    """``config/config_sample.yml``'s ``swift`` flavor, filled from the seed's variables."""
    sample = Path(__file__).parents[3] / "config" / "config_sample.yml"
    settings = load_settings(
        sample,
        flavor="swift",
        environ={
            "OS_AUTH_URL": swift.auth_url,
            "OS_USERNAME": swift.user,
            "OS_PASSWORD": swift.key,
            "OS_CONTAINER": container,
            "STORAGE_PATH": "/flavor",
            # NOTE: the seed's flavor has no auth version key (Keystone v2 by default);
            # tempauth speaks v1.
            "REGISTRY_SWIFT_AUTH_VERSION": "1",
        },
    )
    driver = create_driver(settings.storage, settings.values)
    assert isinstance(driver, SwiftDriver)
    driver.put_content("/images/abc/json", b"{}")
    assert driver.list("/images") == ["/images/abc"]
    driver.delete("/images")
    driver.close()
