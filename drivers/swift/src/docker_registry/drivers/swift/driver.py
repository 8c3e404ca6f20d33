"""The ``swift`` driver: the registry's files as objects of one OpenStack Swift container.

Storage paths map onto object names under the prefix taken from ``storage_path``::

    <swift_container>/
    └── registry/                          storage_path "/registry"
        ├── images/<id>/json               storage path /images/<id>/json
        └── docker/registry/v2/blobs/...   storage path /docker/registry/v2/blobs/...
    <swift_container>_segments/
    └── registry/<writer uuid>/00000001    segments of Static Large Objects

Directories are implied by names (``stat`` of a directory = some object below it).
Writes stream segments and publish a plain object or an SLO manifest on commit (see
:mod:`.writer`); ``move`` is a server-side copy (the manifest itself for an SLO) then a
delete; listings page through the container with ``marker``. Swift does not forbid an
object below another object: the driver refuses such writes, so a path is never both a
file and a directory.
"""

from __future__ import annotations

import io
import json
import logging
import urllib.parse
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, BinaryIO, TypeVar

from swiftclient.client import Connection
from swiftclient.utils import generate_temp_url

from docker_registry.core.storage import (
    Capability,
    FileInfo,
    InvalidOffsetError,
    PathNotFoundError,
    StorageDriver,
    StorageError,
    validate_path,
)
from docker_registry.core.storage.paths import ROOT, parent

from .connection import (
    SWIFT_OPTIONS,
    ConnectionPool,
    SwiftSettings,
    status_of,
    swift_settings,
    translate,
)
from .reader import SwiftReader, http_date, is_slo, iso_date, once_more_on_404
from .writer import SwiftFileWriter

_Result = TypeVar("_Result")
log = logging.getLogger(__name__)


class SwiftDriver(StorageDriver):
    """OpenStack Swift through python-swiftclient (auth v1, Keystone v2 or v3, or pre-auth).

    The container (and its segments container) is created on first use when missing and
    ``swift_create_container`` is true (the seed's behaviour). ``redirect_url`` returns
    a TempURL when ``swift_temp_url_key`` is set (the account's ``Temp-URL-Key``).

    :raises ConfigError: an option cannot work (see :func:`.connection.swift_settings`).
    """

    name = "swift"
    options = SWIFT_OPTIONS
    # NOTE: no SNAPSHOT_READS: swiftclient resumes a broken body with If-Match on the
    # ETag, and an SLO's segments go with a delete, so a reader open across an overwrite
    # or a delete may fail (never mixes); see the conformance suite.
    capabilities = frozenset[str]()

    def __init__(self, **options: Any) -> None:
        self.settings: SwiftSettings = swift_settings(self.with_defaults(options))
        self.pool = ConnectionPool(self.settings)
        self._containers_checked = False
        if self.settings.temp_url_key:
            # NOTE: redirects need the key, so this instance declares more than the class.
            self.capabilities = frozenset(  # type: ignore[misc]
                {Capability.REDIRECT}
            )

    @classmethod
    def with_defaults(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` completed with the declared defaults (for direct construction)."""
        defaults = {option.name: option.default for option in cls.options}
        return defaults | {key: value for key, value in values.items() if value is not None}

    @classmethod
    def validate_options(cls, values: Mapping[str, Any]) -> None:
        """Refuse option values that cannot work, before anything connects."""
        swift_settings(cls.with_defaults(values))

    def __repr__(self) -> str:
        return (
            f"SwiftDriver(container={self.settings.container!r}, prefix={self.settings.prefix!r})"
        )

    # -- helpers shared with the writer ----------------------------------------------

    def object_name(self, path: str) -> str:
        """The object name of a storage path (``/`` gives the prefix itself).

        :raises InvalidPathError: ``path`` is not a valid storage path (HTTP clients would
            resolve a ``..`` component and escape the prefix).
        """
        validate_path(path, allow_root=True)
        return self.settings.prefix + path.lstrip("/")

    def _dir_prefix(self, path: str) -> str:
        return self.object_name(path) if path == ROOT else self.object_name(path) + "/"

    def error(self, exc: BaseException, operation: str, path: str) -> StorageError:
        """The typed error for a failure of ``operation`` on ``path``."""
        return translate(exc, self.settings, driver=self.name, operation=operation, path=path)

    def call(self, operation: str, path: str, call: Callable[[Connection], _Result]) -> _Result:
        """Run ``call`` with a pooled connection; failures become :class:`StorageError`."""
        self._ensure_containers()
        try:
            with self.pool.connection() as conn:
                return call(conn)
        except Exception as exc:
            raise self.error(exc, operation, path) from exc

    def _ensure_containers(self) -> None:
        if self._containers_checked:
            return
        settings = self.settings
        with self.pool.connection() as conn:
            for container in (settings.container, settings.segment_container):
                try:
                    conn.head_container(container)
                except Exception as exc:
                    if status_of(exc) != 404 or not settings.create_container:
                        detail = "" if status_of(exc) != 404 else " (swift_create_container: false)"
                        raise self.error(exc, "connect", f"/{container}{detail}") from exc
                    try:
                        conn.put_container(container)
                    except Exception as put_exc:
                        raise self.error(put_exc, "create container", f"/{container}") from put_exc
        self._containers_checked = True

    def head(self, path: str) -> dict[str, str]:
        """The object's headers. :raises PathNotFoundError: no object at ``path``."""
        name = self.object_name(path)
        return self.call(
            "stat",
            path,
            lambda conn: once_more_on_404(conn.head_object, self.settings.container, name),
        )

    def manifest(self, path: str) -> list[dict[str, Any]]:
        """The SLO manifest entries stored at ``path`` (``path``/``etag``/``size_bytes``)."""
        name = self.object_name(path)
        _, body = self.call(
            "stat",
            path,
            lambda conn: conn.get_object(
                self.settings.container, name, query_string="multipart-manifest=get"
            ),
        )
        return [
            {
                "path": "/" + entry["name"].lstrip("/"),
                "etag": entry["hash"],
                "size_bytes": entry["bytes"],
            }
            for entry in json.loads(body)
        ]

    def _segments_of(self, path: str) -> list[str]:
        """Segment paths of the SLO at ``path`` ([] for a plain object or nothing)."""
        try:
            info = self.head(path)
        except PathNotFoundError:
            return []
        if not is_slo(info):
            return []
        return [entry["path"] for entry in self.manifest(path)]

    def replace(
        self, path: str, put: Callable[[Connection], object], new_segments: Collection[str]
    ) -> None:
        """Run ``put`` (which stores ``path``), then delete segments nobody uses any more.

        The segments of the version being replaced are deleted unless the new version
        lists them too (an append reuses them).
        """
        old = self._segments_of(path)
        self.call("commit", path, put)
        self._delete_segments(
            path, [segment for segment in old if segment not in set(new_segments)]
        )

    def _delete_segments(self, path: str, segments: list[str]) -> None:
        for segment in segments:
            container, _, name = segment.lstrip("/").partition("/")
            try:
                self.delete_object("delete", path, container, name)
            except PathNotFoundError:
                pass
            except StorageError as exc:
                # NOTE: never fail the caller: the new version is already in place.
                log.warning("could not delete segment %s/%s: %s", container, name, exc)

    def delete_object(self, operation: str, path: str, container: str, name: str) -> None:
        """Delete one object by container and name (a plain DELETE: segments stay)."""
        self.call(operation, path, lambda conn: conn.delete_object(container, name))

    def check_writable(self, path: str) -> None:
        """Refuse to store a file where a directory is, or below another file.

        :raises StorageError: naming the conflicting path.
        """
        # PERF: one HEAD per ancestor; registry paths are a handful of levels deep.
        if self._list_page(self._dir_prefix(path), limit=1):
            raise StorageError(
                "a directory is at this path", driver=self.name, operation="commit", path=path
            )
        ancestor = parent(path)
        while ancestor != ROOT:
            try:
                self.head(ancestor)
            except PathNotFoundError:
                ancestor = parent(ancestor)
                continue
            raise StorageError(
                f"{ancestor} is a file, it cannot hold {path}",
                driver=self.name,
                operation="commit",
                path=path,
            )

    def _list_page(
        self,
        prefix: str,
        *,
        marker: str = "",
        limit: int | None = None,
        delimiter: str | None = None,
    ) -> list[dict[str, Any]]:
        _, page = self.call(
            "list",
            "/" + prefix,
            lambda conn: conn.get_container(
                self.settings.container,
                prefix=prefix,
                marker=marker,
                limit=limit or self.settings.listing_limit,
                delimiter=delimiter,
            ),
        )
        return list(page)

    def iter_entries(self, prefix: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        """Every listing entry under ``prefix``, page by page (``marker`` pagination).

        Entries are objects (``name``, ``bytes``, ``last_modified``, ``slo_etag`` for
        Static Large Objects) and, with a delimiter, ``subdir`` pseudo-directories.
        """
        marker = ""
        while True:
            page = self._list_page(prefix, marker=marker, delimiter=delimiter)
            yield from page
            if len(page) < self.settings.listing_limit:
                return
            marker = page[-1].get("name") or page[-1]["subdir"]

    def _path(self, name: str) -> str:
        return "/" + name[len(self.settings.prefix) :].rstrip("/")

    # -- the contract ------------------------------------------------------------------

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        if offset < 0:
            raise InvalidOffsetError(f"negative offset {offset}")
        self._ensure_containers()
        name = self.object_name(path)
        headers = {"Range": f"bytes={offset}-"} if offset else None
        conn = self.pool.acquire()
        try:
            _, body = once_more_on_404(
                conn.get_object,
                self.settings.container,
                name,
                resp_chunk_size=1024 * 1024,
                headers=headers,
            )
        except Exception as exc:
            self.pool.release(conn)
            if status_of(exc) == 416:
                # NOTE: 416 = the object exists and the offset is at or past its end.
                return io.BufferedReader(SwiftReader(self, path, None, None))
            raise self.error(exc, "reader", path) from exc
        return io.BufferedReader(SwiftReader(self, path, conn, body), 1024 * 1024)

    def writer(self, path: str, append: bool = False) -> SwiftFileWriter:
        self._ensure_containers()
        return SwiftFileWriter(self, path, append)

    def stat(self, path: str) -> FileInfo:
        if path != ROOT:
            try:
                info = self.head(path)
            except PathNotFoundError:
                pass
            else:
                mtime = float(info.get("x-timestamp") or 0) or http_date(info.get("last-modified"))
                return FileInfo(path, int(info.get("content-length", 0)), mtime, False)
            if not self._list_page(self._dir_prefix(path), limit=1):
                raise PathNotFoundError()
        return FileInfo(path, 0, None, True)

    def list(self, path: str) -> list[str]:
        children = sorted(
            {
                self._path(entry.get("name") or entry["subdir"])
                for entry in self.iter_entries(self._dir_prefix(path), delimiter="/")
            }
        )
        if not children and path != ROOT:
            raise PathNotFoundError("not a directory")
        return children

    def walk(self, path: str) -> Iterator[FileInfo]:
        found = False
        for entry in self.iter_entries(self._dir_prefix(path)):
            found = True
            mtime = iso_date(entry.get("last_modified"))
            yield FileInfo(self._path(entry["name"]), int(entry["bytes"]), mtime, False)
        if not found and path != ROOT:
            raise PathNotFoundError("not a directory")

    def move(self, source: str, destination: str) -> None:
        src, dst = self.object_name(source), self.object_name(destination)
        container = self.settings.container
        info = self.head(source)
        slo = is_slo(info)
        segments = [entry["path"] for entry in self.manifest(source)] if slo else []
        headers = {"X-Copy-From": urllib.parse.quote(f"/{container}/{src}")}
        self.replace(
            destination,
            # NOTE: with multipart-manifest=get the copy is the manifest, not the data.
            lambda conn: conn.put_object(
                container,
                dst,
                io.BytesIO(),
                content_length=0,
                headers=headers,
                query_string="multipart-manifest=get" if slo else None,
            ),
            new_segments=segments,
        )
        # NOTE: a plain DELETE of the source manifest keeps the segments it shares with
        # the destination.
        self.call("move", source, lambda conn: conn.delete_object(container, src))

    def delete(self, path: str) -> None:
        if path != ROOT:
            try:
                info = self.head(path)
            except PathNotFoundError:
                pass
            else:
                self._remove(path, is_slo(info))
                return
        entries = list(self.iter_entries(self._dir_prefix(path)))
        if not entries:
            raise PathNotFoundError()
        for entry in entries:
            # NOTE: listings flag Static Large Objects with slo_etag (Swift 2.20+).
            self._remove(self._path(entry["name"]), "slo_etag" in entry)

    def _remove(self, path: str, slo: bool) -> None:
        """Delete one object; an SLO's segments go too (after the manifest)."""
        segments = [entry["path"] for entry in self.manifest(path)] if slo else []
        name = self.object_name(path)
        try:
            self.call(
                "delete", path, lambda conn: conn.delete_object(self.settings.container, name)
            )
        except PathNotFoundError:
            return
        self._delete_segments(path, segments)

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        key = self.settings.temp_url_key
        if not key:
            return None
        self.head(path)
        with self.pool.connection() as conn:
            if not conn.url or not conn.token:
                conn.url, conn.token = conn.get_auth()
            storage_url = conn.url
        parts = urllib.parse.urlsplit(storage_url)
        object_path = f"{parts.path}/{self.settings.container}/{self.object_name(path)}"
        # NOTE: Swift signs the decoded path; only the URL carries it percent-encoded.
        signed = generate_temp_url(object_path, self.settings.temp_url_expires, key, method)
        query = signed.partition("?")[2]
        return f"{parts.scheme}://{parts.netloc}{urllib.parse.quote(object_path)}?{query}"

    def close(self) -> None:
        self.pool.close()
