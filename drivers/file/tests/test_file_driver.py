"""What only the ``file`` driver promises: confinement, atomic durable writes, real files."""

from __future__ import annotations

import errno
import io
import os
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from docker_registry.core.config.errors import ConfigError
from docker_registry.core.spool_sweep import SpoolSweeper
from docker_registry.core.storage import (
    Capability,
    InvalidPathError,
    PathNotFoundError,
    StorageError,
    StorageFullError,
    create_driver,
    load_driver_class,
)
from docker_registry.drivers.file import STAGING_DIR, FileDriver
from docker_registry.drivers.file import driver as file_driver_module
from docker_registry.drivers.file import writer as file_writer_module


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the root, holding a secret no storage path may reach."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret").write_bytes(b"secret")
    return directory


@pytest.fixture
def driver(root: Path) -> FileDriver:
    return FileDriver(storage_path=str(root))


def _staged(driver: FileDriver) -> list[str]:
    if not os.path.isdir(driver.staging_dir):
        return []
    return os.listdir(driver.staging_dir)


def _every_call(driver: FileDriver, path: str) -> dict[str, Callable[[], object]]:
    """Each driver method that takes a path, called with ``path``."""
    return {
        "get_content": lambda: driver.get_content(path),
        "put_content": lambda: driver.put_content(path, b"x"),
        "reader": lambda: driver.reader(path),
        "writer": lambda: driver.writer(path),
        "append": lambda: driver.writer(path, append=True),
        "stat": lambda: driver.stat(path),
        "list": lambda: driver.list(path),
        "walk": lambda: list(driver.walk(path)),
        "delete": lambda: driver.delete(path),
        "move from": lambda: driver.move(path, "/elsewhere"),
        "move to": lambda: driver.move("/source", path),
        "adopt_file": lambda: driver.adopt_file(os.path.join(driver.staging_dir, "x.body"), path),
    }


# -- confinement -----------------------------------------------------------------------


def test_symlinked_directory_escaping_the_root_is_refused(
    driver: FileDriver, root: Path, outside: Path
) -> None:
    (root / "evil").symlink_to(outside, target_is_directory=True)
    driver.put_content("/source", b"mine")
    for name, call in _every_call(driver, "/evil/secret").items():
        with pytest.raises(InvalidPathError, match="outside the storage root"):
            call()
        assert (outside / "secret").read_bytes() == b"secret", name
    for call in _every_call(driver, "/evil").values():
        with pytest.raises(InvalidPathError):
            call()
    assert sorted(os.listdir(outside)) == ["secret"]
    assert driver.get_content("/source") == b"mine"


def test_symlinked_file_escaping_the_root_is_refused(
    driver: FileDriver, root: Path, outside: Path
) -> None:
    (root / "repositories").mkdir()
    (root / "repositories" / "link").symlink_to(outside / "secret")
    driver.put_content("/source", b"mine")
    for call in _every_call(driver, "/repositories/link").values():
        with pytest.raises(InvalidPathError):
            call()
    assert (outside / "secret").read_bytes() == b"secret"
    assert (root / "repositories" / "link").is_symlink()
    assert [info.path for info in driver.walk("/")] == ["/source"]


def test_directory_missing_when_first_seen_is_checked_again(
    driver: FileDriver, root: Path, outside: Path
) -> None:
    with pytest.raises(PathNotFoundError):
        driver.get_content("/later/secret")
    (root / "later").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidPathError, match="outside the storage root"):
        driver.get_content("/later/secret")


def test_adopt_file_renames_a_spooled_file_into_place(driver: FileDriver) -> None:
    os.makedirs(driver.spool_directory, exist_ok=True)
    local = os.path.join(driver.spool_directory, "upload.body")
    with open(local, "wb") as stream:
        stream.write(b"layer bytes")
    inode = os.stat(local).st_ino
    driver.adopt_file(local, "/blobs/data")
    assert not os.path.exists(local)
    assert driver.get_content("/blobs/data") == b"layer bytes"
    assert os.stat(driver._local("/blobs/data", "test")).st_ino == inode, "renamed, not copied"
    assert _staged(driver) == []


def test_symlinks_that_stay_inside_the_root_work(driver: FileDriver, root: Path) -> None:
    driver.put_content("/real/file", b"content")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    assert driver.get_content("/alias/file") == b"content"
    assert driver.stat("/alias").is_dir


def test_storage_root_given_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real-root").mkdir()
    (tmp_path / "link-root").symlink_to(tmp_path / "real-root", target_is_directory=True)
    driver = FileDriver(storage_path=str(tmp_path / "link-root"))
    driver.put_content("/a/b", b"x")
    assert (tmp_path / "real-root" / "a" / "b").read_bytes() == b"x"
    assert driver.list("/") == ["/a"]


@pytest.mark.parametrize(
    "path",
    ["/../outside/secret", "/a/../../outside/secret", "/a/\x00b", "relative", "/a/", "/a//b", ""],
)
def test_invalid_paths_are_refused_by_the_driver_itself(
    driver: FileDriver, outside: Path, path: str
) -> None:
    driver.put_content("/source", b"mine")
    for call in _every_call(driver, path).values():
        with pytest.raises(InvalidPathError):
            call()
    assert sorted(os.listdir(outside)) == ["secret"]
    assert driver.list("/") == ["/source"]


def test_the_staging_directory_is_reserved(driver: FileDriver) -> None:
    driver.put_content("/file", b"x")
    for path in (f"/{STAGING_DIR}", f"/{STAGING_DIR}/x", f"/{STAGING_DIR.upper()}/x"):
        for call in _every_call(driver, path).values():
            with pytest.raises(InvalidPathError, match="reserved"):
                call()
    driver.put_content(f"/nested/{STAGING_DIR}", b"only the top-level name is reserved")
    assert os.path.isdir(driver.staging_dir)
    assert driver.list("/") == ["/file", "/nested"]
    assert sorted(info.path for info in driver.walk("/")) == ["/file", f"/nested/{STAGING_DIR}"]


# -- atomicity and durability ----------------------------------------------------------


def test_a_reader_opened_before_an_overwrite_keeps_the_old_bytes(driver: FileDriver) -> None:
    old, new = b"o" * 300_000, b"n" * 200_000
    driver.put_content("/blob", old)
    with driver.reader("/blob") as before_put, driver.reader("/blob", 1000) as tail:
        assert before_put.read(10) == old[:10]
        driver.put_content("/blob", new)
        with driver.writer("/blob") as writer:
            writer.write(b"third")
            writer.commit()
        assert before_put.read() == old[10:]
        assert tail.read() == old[1000:]
    assert driver.get_content("/blob") == b"third"


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What each ``os.fsync`` from now on synced: ``"file"`` or ``"dir"``."""
    kinds: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        kinds.append("dir" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return kinds


def test_writes_fsync_the_file_and_its_directory(driver: FileDriver, synced: list[str]) -> None:
    driver.put_content("/a/b/c", b"data")
    assert synced.count("file") == 1
    # NOTE: /a and /a/b are new: their parents are synced too, then the final directory.
    assert synced.count("dir") >= 3
    synced.clear()
    with driver.writer("/a/b/c", append=True) as writer:
        writer.write(b" more")
        writer.commit()
    assert synced == ["file", "dir"]
    synced.clear()
    driver.move("/a/b/c", "/a/d")
    # NOTE: the moved file too: it may have been adopted with durable=False.
    assert synced == ["file", "dir", "dir"]


def test_a_chunk_adopted_without_durability_is_synced_when_moved(
    driver: FileDriver, root: Path, synced: list[str]
) -> None:
    spool = root / ".registry-staging" / "body"
    spool.parent.mkdir(exist_ok=True)
    spool.write_bytes(b"chunk bytes")
    driver.adopt_file(str(spool), "/uploads/u/chunks/0-11", durable=False)
    assert synced == []
    driver.move("/uploads/u/chunks/0-11", "/blobs/data")
    assert synced[0] == "file"
    assert driver.get_content("/blobs/data") == b"chunk bytes"


def test_no_temporary_file_survives_failed_or_abandoned_writes(
    driver: FileDriver, root: Path
) -> None:
    driver.put_content("/file", b"old")
    with pytest.raises(RuntimeError), driver.writer("/file") as writer:
        writer.write(b"half")
        assert len(_staged(driver)) == 1, "a write in progress is staged"
        raise RuntimeError("client went away")
    with pytest.raises(StorageError, match="parent of the path is a file"):
        driver.put_content("/file/child", b"x")
    driver.put_content("/dir/child", b"x")
    with pytest.raises(StorageError, match="a directory is at this path"):
        driver.put_content("/dir", b"x")
    writer = driver.writer("/dir", append=True)
    writer.write(b"x")
    with pytest.raises(StorageError, match="a directory is at this path"):
        writer.commit()
    with pytest.raises(StorageError, match="broken"):
        writer.write(b"y")
    writer.close()
    driver.writer("/abandoned").close()
    assert _staged(driver) == []
    assert driver.get_content("/file") == b"old"
    assert sorted(os.listdir(root)) == sorted(["dir", "file", STAGING_DIR])


def test_published_files_get_ordinary_permissions(driver: FileDriver, root: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    driver.put_content("/file", b"x")
    mode = stat.S_IMODE((root / "file").stat().st_mode)
    assert mode == 0o666 & ~umask


def test_private_files_are_readable_by_the_owner_only(driver: FileDriver, root: Path) -> None:
    driver.put_content("/secret", b"public first")
    driver.put_private("/secret", b"key")
    assert stat.S_IMODE((root / "secret").stat().st_mode) == 0o600
    assert driver.get_content("/secret") == b"key"


# -- real files, existing data, errors -----------------------------------------------


def test_reader_is_a_real_file_positioned_at_the_offset(driver: FileDriver) -> None:
    assert Capability.LOCAL_FILES in FileDriver.capabilities
    driver.put_content("/blob", b"0123456789")
    with driver.reader("/blob", 4) as stream:
        assert isinstance(stream, io.BufferedReader)
        assert os.fstat(stream.fileno()).st_size == 10
        assert stream.tell() == 4
        assert stream.read() == b"456789"


def test_existing_data_is_served_as_it_lies(root: Path) -> None:
    """A 0.9.1 ``storage_path`` needs no migration::

        root/
        ├── images/abc/json
        └── repositories/library/ubuntu/tag_latest

    Reading it creates nothing, not even the staging directory.
    """
    (root / "images" / "abc").mkdir(parents=True)
    (root / "images" / "abc" / "json").write_bytes(b'{"id": "abc"}')
    (root / "repositories" / "library" / "ubuntu").mkdir(parents=True)
    (root / "repositories" / "library" / "ubuntu" / "tag_latest").write_bytes(b"abc")
    driver = FileDriver(storage_path=str(root))
    assert driver.get_content("/images/abc/json") == b'{"id": "abc"}'
    assert driver.list("/") == ["/images", "/repositories"]
    assert driver.list("/repositories/library") == ["/repositories/library/ubuntu"]
    assert sorted(info.path for info in driver.walk("/")) == [
        "/images/abc/json",
        "/repositories/library/ubuntu/tag_latest",
    ]
    assert not os.path.exists(driver.staging_dir), "reading must not create the staging dir"


def test_the_root_is_created_at_init(tmp_path: Path) -> None:
    driver = FileDriver(storage_path=str(tmp_path / "a" / "b"))
    assert os.path.isdir(tmp_path / "a" / "b")
    assert driver.list("/") == []
    assert driver.stat("/").is_dir


def test_a_file_as_root_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(StorageError, match="cannot create the storage root") as caught:
        FileDriver(storage_path=str(tmp_path / "file"))
    assert caught.value.driver == "file"


def test_os_errors_name_the_operation_path_and_reason(driver: FileDriver) -> None:
    name = "n" * 300
    with pytest.raises(StorageError) as caught:
        driver.put_content(f"/{name}", b"x")
    error = caught.value
    assert not isinstance(error, PathNotFoundError)
    assert error.driver == "file"
    assert error.operation == "put_content"
    assert error.path == f"/{name}"
    assert os.strerror(errno.ENAMETOOLONG) in str(error)
    assert "ENAMETOOLONG" in str(error)
    assert _staged(driver) == []


def test_missing_paths_through_a_file_are_not_found(driver: FileDriver) -> None:
    driver.put_content("/file", b"x")
    for call in (
        lambda: driver.get_content("/file/child"),
        lambda: driver.stat("/file/child"),
        lambda: driver.list("/file/child"),
        lambda: driver.delete("/file/child"),
        lambda: driver.move("/file/child", "/x"),
    ):
        with pytest.raises(PathNotFoundError):
            call()


def test_large_append_copies_existing_content(driver: FileDriver) -> None:
    first = os.urandom(9 * 1024 * 1024 + 3)
    driver.put_content("/upload", first)
    with driver.writer("/upload", append=True) as writer:
        assert writer.size == len(first)
        writer.write(b"tail")
        writer.commit()
    with driver.reader("/upload", len(first) - 2) as stream:
        assert stream.read() == first[-2:] + b"tail"
    assert driver.stat("/upload").size == len(first) + 4


# -- discovery -----------------------------------------------------------------------


def test_entry_point_and_local_alias_resolve_to_the_driver() -> None:
    assert load_driver_class("file") is FileDriver
    assert load_driver_class("local") is FileDriver
    assert load_driver_class(" FILE ") is FileDriver


def test_create_driver_from_configuration(tmp_path: Path) -> None:
    driver = create_driver("file", {"storage_path": str(tmp_path / "store")})
    assert isinstance(driver, FileDriver)
    driver.put_content("/x", b"y")
    assert (tmp_path / "store" / "x").read_bytes() == b"y"


def test_create_driver_uses_the_default_storage_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    driver = create_driver("local", {})
    assert isinstance(driver, FileDriver)
    assert driver.root == os.path.realpath(tmp_path / "tmp" / "registry")


def test_create_driver_checks_the_option_type() -> None:
    with pytest.raises(ConfigError, match="storage_path"):
        create_driver("file", {"storage_path": ["not", "a", "string"]})


def test_stale_staging_files_are_left_to_the_spool_sweep(root: Path) -> None:
    """The staging directory is the spool directory: the server's sweep (at start-up and
    periodically, ``spool_sweep_age``) removes crashed writes' files from it."""
    driver = FileDriver(storage_path=str(root))
    assert driver.spool_directory == driver.staging_dir
    staging = root / ".registry-staging"
    staging.mkdir(parents=True)
    (staging / "crashed.tmp").write_bytes(b"half a layer")
    (staging / "crashed.body").write_bytes(b"half a body")
    (staging / "live.body").write_bytes(b"being received")
    (staging / "notes.txt").write_bytes(b"not ours to judge")
    two_hours_ago = time.time() - 2 * 3600
    for name in ("crashed.tmp", "crashed.body", "notes.txt"):
        os.utime(staging / name, (two_hours_ago, two_hours_ago))
    assert SpoolSweeper(driver.spool_directory, age=3600, interval=0).sweep() == 2
    assert sorted(os.listdir(staging)) == ["live.body", "notes.txt"]


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file write of the driver fails as on a full filesystem."""

    def no_space(descriptor: int, view: memoryview) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(file_driver_module, "_write_all", no_space)
    monkeypatch.setattr(file_writer_module, "_write_all", no_space)


def test_a_full_disk_is_a_storage_full_error_and_leaves_nothing(root: Path, request) -> None:
    driver = FileDriver(storage_path=str(root))
    driver.put_content("/kept", b"stored before")
    request.getfixturevalue("full_disk")
    with pytest.raises(StorageFullError) as caught:
        driver.put_content("/kept", b"new content")
    message = str(caught.value)
    assert "No space left on device [ENOSPC]" in message
    assert f"the filesystem holding {driver.root} is full" in message
    assert f"cannot write {driver.staging_dir}{os.sep}" in message, "names the file"
    with pytest.raises(StorageFullError), driver.writer("/streamed") as writer:
        writer.write(b"x" * 10)
    assert os.listdir(driver.staging_dir) == [], "no staging file left behind"
    assert driver.get_content("/kept") == b"stored before"
    assert driver.list("/") == ["/kept"]


def test_a_full_disk_while_concatenating_names_the_staged_file(root: Path, monkeypatch) -> None:
    driver = FileDriver(storage_path=str(root))
    driver.put_content("/a", b"first")
    driver.put_content("/b", b"second")

    def no_space(source: int, target: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(file_driver_module, "_copy", no_space)
    with pytest.raises(StorageFullError) as caught:
        driver.concatenate(["/a", "/b"], "/joined")
    assert caught.value.path == "/joined"
    assert f"copy /a into {driver.staging_dir}{os.sep}" in str(caught.value)
    assert os.listdir(driver.staging_dir) == []
    assert driver.list("/") == ["/a", "/b"]


def test_a_directory_deleted_while_a_write_publishes_is_made_again(
    driver: FileDriver, root: Path, monkeypatch
) -> None:
    """A chunk committed while its upload ends (and the chunks folder is removed)
    lands anyway, never a 503 for a rename into a folder that just vanished."""
    real_replace = os.replace
    removed = []

    def replace_after_a_concurrent_delete(source, destination):
        if not removed and str(destination).startswith(str(root / "session")):
            removed.append(destination)
            shutil.rmtree(root / "session")
        return real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace_after_a_concurrent_delete)
    driver.put_content("/session/chunks/0-3", b"abc")
    assert removed
    assert driver.get_content("/session/chunks/0-3") == b"abc"
    assert _staged(driver) == []
