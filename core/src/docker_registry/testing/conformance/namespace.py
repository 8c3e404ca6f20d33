"""Conformance: list, walk, move, delete and stat."""

from __future__ import annotations

import time

import pytest

from docker_registry.core.storage import (
    PathNotFoundError,
    Storage,
    StorageDriver,
)

#: Prefix of every test's private namespace; see :class:`BaseDriverFixtures`.
from .fixtures import (
    NON_UTF8,
    BaseDriverFixtures,
    make_data,
)


class BaseListTests(BaseDriverFixtures):
    """``list(path)``: direct children, sorted full paths."""

    def test_direct_children_sorted_full_paths(self, driver: StorageDriver, base: str) -> None:
        """Files and directories one level down, nothing deeper::

            {base}/dir/
            ├── b           file
            ├── a/x/y       directory a (its contents are not listed)
            ├── c.txt       file
            └── B/z         directory B (sorts before a)

        Sorting is by code point, as Python sorts strings.
        """
        for path in ("dir/b", "dir/a/x/y", "dir/c.txt", "dir/B/z"):
            driver.put_content(f"{base}/{path}", b"x")
        assert driver.list(f"{base}/dir") == [
            f"{base}/dir/B",
            f"{base}/dir/a",
            f"{base}/dir/b",
            f"{base}/dir/c.txt",
        ]
        assert driver.list(f"{base}/dir/a") == [f"{base}/dir/a/x"]
        assert driver.list(f"{base}/dir/a/x") == [f"{base}/dir/a/x/y"]

    def test_root_listing_shows_the_prefix(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/deep/file", b"x")
        listing = driver.list("/")
        assert base in listing
        assert listing == sorted(listing)
        assert all(entry.startswith("/") and entry.count("/") == 1 for entry in listing)

    def test_missing_directory_raises_path_not_found(
        self, driver: StorageDriver, base: str
    ) -> None:
        with pytest.raises(PathNotFoundError):
            driver.list(base)
        driver.put_content(f"{base}/file", b"x")
        with pytest.raises(PathNotFoundError):
            driver.list(f"{base}/missing")

    def test_file_path_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/file", b"x")
        with pytest.raises(PathNotFoundError):
            driver.list(f"{base}/file")

    def test_names_that_prefix_each_other(self, driver: StorageDriver, base: str) -> None:
        """``/a/b`` must not see the children of ``/a/bc`` (object stores list by prefix)::

            {base}/a/
            ├── b/x
            ├── bc/y
            └── b.txt

        Each directory lists only its own children.
        """
        for path in ("a/b/x", "a/bc/y", "a/b.txt"):
            driver.put_content(f"{base}/{path}", b"x")
        assert driver.list(f"{base}/a/b") == [f"{base}/a/b/x"]
        assert driver.list(f"{base}/a/bc") == [f"{base}/a/bc/y"]
        assert driver.list(f"{base}/a") == [f"{base}/a/b", f"{base}/a/b.txt", f"{base}/a/bc"]


class BaseWalkTests(BaseDriverFixtures):
    """``walk(path)``: every file below a directory, no directories."""

    def test_walk_yields_every_file_recursively(self, driver: StorageDriver, base: str) -> None:
        files = {
            f"{base}/top": b"1",
            f"{base}/a/one": b"22",
            f"{base}/a/b/two": b"333",
            f"{base}/a/b/c/three": b"",
        }
        for path, content in files.items():
            driver.put_content(path, content)
        infos = list(driver.walk(base))
        assert sorted(info.path for info in infos) == sorted(files)
        for info in infos:
            assert not info.is_dir
            assert info.size == len(files[info.path])
        assert sorted(info.path for info in driver.walk(f"{base}/a/b")) == [
            f"{base}/a/b/c/three",
            f"{base}/a/b/two",
        ]

    def test_walk_stays_inside_the_directory(self, driver: StorageDriver, base: str) -> None:
        for path in ("a/b/x", "a/bc/y", "a/b.txt"):
            driver.put_content(f"{base}/{path}", b"x")
        assert [info.path for info in driver.walk(f"{base}/a/b")] == [f"{base}/a/b/x"]

    def test_walk_missing_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(PathNotFoundError):
            list(driver.walk(f"{base}/missing"))

    def test_walk_file_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/file", b"x")
        with pytest.raises(PathNotFoundError):
            list(driver.walk(f"{base}/file"))

    def test_walk_is_lazy_and_raises_on_the_first_next(
        self, driver: StorageDriver, base: str
    ) -> None:
        """The contract: calling ``walk`` never raises; the ``PathNotFoundError`` of a
        missing directory (or a file) comes from the first ``next()``, before any item.
        The core's ``Storage.walk`` reads the walk at once, so its callers get it there."""
        driver.put_content(f"{base}/file", b"x")
        for path in (f"{base}/missing", f"{base}/file"):
            iterator = driver.walk(path)  # no error yet: a walk is lazy
            with pytest.raises(PathNotFoundError):
                next(iterator)
            with pytest.raises(PathNotFoundError):
                Storage(driver).walk(path)


class BaseMoveTests(BaseDriverFixtures):
    """``move(source, destination)``: a file changes path, atomically."""

    def test_move_then_source_is_gone(self, driver: StorageDriver, base: str) -> None:
        data = make_data(300_000, seed=5)
        driver.put_content(f"{base}/source", data)
        driver.move(f"{base}/source", f"{base}/destination")
        assert driver.get_content(f"{base}/destination") == data
        with pytest.raises(PathNotFoundError):
            driver.stat(f"{base}/source")
        with pytest.raises(PathNotFoundError):
            driver.get_content(f"{base}/source")
        assert f"{base}/source" not in driver.list(base)

    def test_move_overwrites_the_destination(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/source", b"new")
        driver.put_content(f"{base}/destination", b"old and longer")
        driver.move(f"{base}/source", f"{base}/destination")
        assert driver.get_content(f"{base}/destination") == b"new"
        with pytest.raises(PathNotFoundError):
            driver.get_content(f"{base}/source")

    def test_move_missing_source_raises_path_not_found(
        self, driver: StorageDriver, base: str
    ) -> None:
        driver.put_content(f"{base}/destination", b"kept")
        with pytest.raises(PathNotFoundError):
            driver.move(f"{base}/missing", f"{base}/destination")
        assert driver.get_content(f"{base}/destination") == b"kept"

    def test_move_into_a_new_nested_directory(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/_uploads/u1/data", NON_UTF8)
        driver.move(f"{base}/_uploads/u1/data", f"{base}/blobs/sha256/ab/abcd/data")
        assert driver.get_content(f"{base}/blobs/sha256/ab/abcd/data") == NON_UTF8
        assert driver.list(f"{base}/blobs/sha256/ab") == [f"{base}/blobs/sha256/ab/abcd"]
        with pytest.raises(PathNotFoundError):
            driver.stat(f"{base}/_uploads/u1/data")

    def test_move_a_directory_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/dir/file", b"x")
        with pytest.raises(PathNotFoundError):
            driver.move(f"{base}/dir", f"{base}/elsewhere")
        assert driver.get_content(f"{base}/dir/file") == b"x"


class BaseDeleteTests(BaseDriverFixtures):
    """``delete(path)``: a file, or a directory recursively, and nothing else."""

    def test_delete_a_file(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/file", b"x")
        driver.put_content(f"{base}/other", b"y")
        driver.delete(f"{base}/file")
        with pytest.raises(PathNotFoundError):
            driver.get_content(f"{base}/file")
        assert driver.list(base) == [f"{base}/other"]

    def test_delete_a_directory_recursively(self, driver: StorageDriver, base: str) -> None:
        for path in ("dir/a", "dir/b/c", "dir/b/d/e", "keep"):
            driver.put_content(f"{base}/{path}", b"x")
        driver.delete(f"{base}/dir")
        for path in ("dir", "dir/a", "dir/b", "dir/b/c", "dir/b/d/e"):
            with pytest.raises(PathNotFoundError):
                driver.stat(f"{base}/{path}")
        assert driver.list(base) == [f"{base}/keep"]

    def test_delete_only_what_was_asked(self, driver: StorageDriver, base: str) -> None:
        """``/a/b`` never removes ``/a/bc`` or ``/a/b.txt``::

            {base}/a/
            ├── b/c        deleted
            ├── bc/d       kept
            └── b.txt      kept

        Object stores that delete by key prefix get this wrong without a trailing slash.
        """
        for path in ("a/b/c", "a/bc/d", "a/b.txt"):
            driver.put_content(f"{base}/{path}", b"x")
        driver.delete(f"{base}/a/b")
        assert driver.list(f"{base}/a") == [f"{base}/a/b.txt", f"{base}/a/bc"]
        assert driver.get_content(f"{base}/a/bc/d") == b"x"
        with pytest.raises(PathNotFoundError):
            driver.get_content(f"{base}/a/b/c")

    def test_delete_missing_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(PathNotFoundError):
            driver.delete(f"{base}/missing")
        driver.put_content(f"{base}/ab", b"x")
        with pytest.raises(PathNotFoundError):
            driver.delete(f"{base}/a")
        assert driver.get_content(f"{base}/ab") == b"x"


class BaseStatTests(BaseDriverFixtures):
    """``stat(path)``: size, mtime and kind of files and directories."""

    def test_stat_a_file(self, driver: StorageDriver, base: str) -> None:
        before = time.time()
        driver.put_content(f"{base}/dir/file", b"12345")
        info = driver.stat(f"{base}/dir/file")
        assert info.path == f"{base}/dir/file"
        assert info.size == 5
        assert not info.is_dir
        if info.mtime is not None:
            # NOTE: generous bounds: remote backends stamp with their own clock.
            assert before - 300 < info.mtime < time.time() + 300

    def test_stat_a_directory(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/dir/sub/file", b"12345")
        for path in (base, f"{base}/dir", f"{base}/dir/sub"):
            info = driver.stat(path)
            assert info.path == path
            assert info.is_dir
            assert info.size == 0

    def test_stat_the_root(self, driver: StorageDriver) -> None:
        info = driver.stat("/")
        assert info.is_dir
        assert info.path == "/"

    def test_stat_missing_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(PathNotFoundError):
            driver.stat(f"{base}/missing")
        driver.put_content(f"{base}/abc", b"x")
        for path in (f"{base}/ab", f"{base}/abc/d"):
            with pytest.raises(PathNotFoundError):
                driver.stat(path)
