"""Conformance: concurrency, invalid paths and redirects."""

from __future__ import annotations

import contextlib
import functools
import threading
import urllib.request
from collections.abc import Callable

import pytest

from docker_registry.core.storage import (
    Capability,
    InvalidPathError,
    PathNotFoundError,
    Storage,
    StorageDriver,
)

#: Prefix of every test's private namespace; see :class:`BaseDriverFixtures`.
from .fixtures import (
    MIB,
    NON_UTF8,
    BaseDriverFixtures,
    _digest,
    _root_entries,
    _run_all,
    make_data,
    read_all,
)


class BaseConcurrencyTests(BaseDriverFixtures):
    """Several threads on one driver instance, as under waitress."""

    def test_concurrent_readers_of_one_file(self, driver: StorageDriver, base: str) -> None:
        data = make_data(3 * MIB + 17, seed=6)
        driver.put_content(f"{base}/shared", data)
        offsets = [0, 1, 1000, MIB, 2 * MIB + 3, 0, 5, 3 * MIB]

        def read_from(offset: int) -> str:
            return _digest(read_all(driver.reader(f"{base}/shared", offset), 64 * 1024))

        results = _run_all([functools.partial(read_from, offset) for offset in offsets])
        assert results == [_digest(data[offset:]) for offset in offsets]

    def test_concurrent_writers_to_different_paths(self, driver: StorageDriver, base: str) -> None:
        contents = {f"{base}/w{n}/data": make_data(200_000 + n, seed=n) for n in range(8)}

        def write(path: str) -> None:
            data = contents[path]
            with driver.writer(path) as writer:
                for start in range(0, len(data), 65_536):
                    writer.write(data[start : start + 65_536])
                writer.commit()

        _run_all([functools.partial(write, path) for path in contents])
        for path, data in contents.items():
            assert driver.get_content(path) == data
        assert driver.list(base) == sorted(path.rsplit("/", 1)[0] for path in contents)

    def test_two_writers_to_one_path_leave_one_full_version(
        self, driver: StorageDriver, base: str
    ) -> None:
        path = f"{base}/contested"
        versions = [make_data(400_000, seed=7), make_data(300_001, seed=8)]
        writers = [driver.writer(path) for _ in versions]
        try:
            # NOTE: interleave the chunks so that a driver sharing one temp object between
            # writers of the same path would mix them.
            for start in range(0, 400_000, 50_000):
                for writer, data in zip(writers, versions, strict=True):
                    writer.write(data[start : start + 50_000])
            _run_all([writer.commit for writer in writers])
        finally:
            for writer in writers:
                writer.close()
        assert driver.get_content(path) in versions

    def test_readers_see_whole_versions_during_overwrites(
        self, driver: StorageDriver, base: str
    ) -> None:
        path = f"{base}/hot"
        versions = [b"a" * 300_000, b"b" * 200_001]
        driver.put_content(path, versions[0])
        done = threading.Event()

        def overwrite() -> int:
            try:
                for round_ in range(30):
                    driver.put_content(path, versions[round_ % 2])
            finally:
                done.set()
            return 30

        def read() -> int:
            reads = 0
            while not done.is_set() or reads == 0:
                content = driver.get_content(path)
                assert content in versions, f"a reader saw {len(content)} mixed bytes"
                reads += 1
            return reads

        results = _run_all([overwrite, read, read, read])
        assert results[0] == 30
        assert all(reads > 0 for reads in results[1:])


class BasePathTests(BaseDriverFixtures):
    """Invalid paths never reach the backend, and never leave the driver's namespace."""

    INVALID = (
        "{base}/../{name}-escape",
        "{base}/./file",
        "{relative}/file",
        "{base}/nul\x00byte",
        "{base}/trailing/",
        "{base}//empty",
        "{base}/back\\slash",
        "",
    )

    def _invalid(self, template: str, base: str) -> str:
        return template.format(base=base, relative=base.lstrip("/"), name=base.lstrip("/"))

    @pytest.mark.parametrize("template", INVALID)
    def test_storage_wrapper_refuses_invalid_paths(
        self, driver: StorageDriver, base: str, template: str
    ) -> None:
        storage = Storage(driver)
        path = self._invalid(template, base)
        driver.put_content(f"{base}/file", b"x")
        calls: list[Callable[[], object]] = [
            lambda: storage.put_content(path, b"x"),
            lambda: storage.get_content(path),
            lambda: storage.reader(path),
            lambda: storage.writer(path),
            lambda: storage.stat(path),
            lambda: storage.list(path),
            lambda: storage.delete(path),
            lambda: storage.move(f"{base}/file", path),
            lambda: storage.move(path, f"{base}/moved"),
        ]
        for call in calls:
            with pytest.raises(InvalidPathError):
                call()
        assert driver.get_content(f"{base}/file") == b"x"
        assert driver.list(base) == [f"{base}/file"]

    def test_driver_refuses_or_contains_invalid_paths(
        self, driver: StorageDriver, base: str
    ) -> None:
        """Called directly, a driver may refuse an invalid path or store it, but only
        inside its own namespace: nothing may appear next to ``base`` at the root."""
        driver.put_content(f"{base}/file", b"x")
        before = _root_entries(driver)
        for template in self.INVALID:
            path = self._invalid(template, base)
            # NOTE: refusing in any way is allowed here; only escaping is not.
            with contextlib.suppress(Exception):
                driver.put_content(path, b"escaped?")
            assert _root_entries(driver) == before, f"put_content({path!r}) escaped"
        assert f"{base}-escape" not in driver.list("/")
        assert driver.get_content(f"{base}/file") == b"x"


class BaseRedirectTests(BaseDriverFixtures):
    """``redirect_url``: a fetchable URL when declared, ``None`` otherwise."""

    def test_redirect_url_matches_the_capability(self, driver: StorageDriver, base: str) -> None:
        data = NON_UTF8 + make_data(100_000, seed=9)
        driver.put_content(f"{base}/blob", data)
        # NOTE: redirect_url_of_file is asked for a path known to hold a file: same URL.
        for url in (
            driver.redirect_url(f"{base}/blob"),
            driver.redirect_url_of_file(f"{base}/blob"),
        ):
            if Capability.REDIRECT not in driver.capabilities:
                assert url is None
                continue
            assert url is not None
            assert url.startswith(("http://", "https://")), url
            with urllib.request.urlopen(url, timeout=60) as response:
                assert response.read() == data

    def test_redirect_url_of_a_missing_file(self, driver: StorageDriver, base: str) -> None:
        """No URL to a 404: the registry then answers its own 404 (the seed's behaviour)."""
        driver.put_content(f"{base}/dir/file", b"x")
        for path in (f"{base}/missing", f"{base}/dir"):
            if Capability.REDIRECT not in driver.capabilities:
                assert driver.redirect_url(path) is None
                continue
            with pytest.raises(PathNotFoundError):
                driver.redirect_url(path)
