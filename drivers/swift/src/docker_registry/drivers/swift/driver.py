"""The ``swift`` driver: the registry's files as objects of one OpenStack Swift container.

Storage paths map onto object names under the prefix taken from ``storage_path``::

    <swift_container>/
    └── registry/                          storage_path "/registry"
        ├── images/<id>/json               storage path /images/<id>/json
        └── docker/registry/v2/blobs/...   storage path /docker/registry/v2/blobs/...
    <swift_container>_segments/
    └── registry/<writer uuid>/00000001    segments of Static Large Objects

Everything but the swiftclient calls comes from
:class:`~docker_registry.core.storage.objectstore.ObjectStoreDriver` (directories implied
by names, no file below a file). Writes stream segments and publish a plain object or an
SLO manifest on commit (see :mod:`.writer`); ``move`` is a server-side copy (the manifest
itself for an SLO) then a delete; listings page through the container with ``marker``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import urllib.parse
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, BinaryIO, cast

from requests.exceptions import RequestException
from swiftclient.client import ClientException, Connection
from swiftclient.utils import generate_temp_url

from docker_registry.core.storage import Capability, PathNotFoundError, StorageError
from docker_registry.core.storage.objectstore import (
    BodyReader,
    FileSlice,
    ObjectInfo,
    ObjectStoreDriver,
    OfferedCapabilities,
    empty_stream,
)
from docker_registry.core.storage.pieces import RangedBody

from .connection import (
    SWIFT_OPTIONS,
    ConnectionPool,
    SwiftSettings,
    status_of,
    swift_settings,
    translate,
)
from .joins import join_reusing_segments
from .reader import http_date, is_slo, iso_date, once_more_on_404
from .writer import MIN_SEGMENT_SIZE, SwiftFileWriter

log = logging.getLogger(__name__)
#: Bytes per read of an object's body.
READ_CHUNK = 1024 * 1024


class SwiftDriver(ObjectStoreDriver):
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
    capabilities = OfferedCapabilities(Capability.REDIRECT)
    ranged_gets = True

    def __init__(self, **options: Any) -> None:
        self.settings: SwiftSettings = swift_settings(self.with_defaults(options))
        super().__init__(prefix=self.settings.prefix, part_size=self.settings.segment_size)
        self.piece_size, self.pieces_in_flight = self.settings.read_pieces
        self.pool = ConnectionPool(self.settings)
        self._containers_checked = False

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

    # -- primitives --------------------------------------------------------------------

    def error(self, exc: BaseException, operation: str, path: str) -> StorageError:
        return translate(exc, self.settings, driver=self.name, operation=operation, path=path)

    def offers(self, capability: str) -> bool:
        # NOTE: redirects are TempURLs, signed with the account's key.
        return capability != Capability.REDIRECT or bool(self.settings.temp_url_key)

    def prepare(self, operation: str, path: str) -> None:
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

    def head_object(self, key: str) -> ObjectInfo | None:
        try:
            with self.pool.connection() as conn:
                headers = once_more_on_404(conn.head_object, self.settings.container, key)
        except Exception as exc:
            if status_of(exc) == 404:
                return None
            raise
        mtime = float(headers.get("x-timestamp") or 0) or http_date(headers.get("last-modified"))
        return ObjectInfo(key, int(headers.get("content-length", 0)), mtime, native=headers)

    def list_objects(
        self, prefix: str, *, recursive: bool, page_size: int | None = None
    ) -> Iterator[ObjectInfo | str]:
        limit = page_size or self.settings.listing_limit
        marker = ""
        while True:
            with self.pool.connection() as conn:
                _, page = conn.get_container(
                    self.settings.container,
                    prefix=prefix,
                    marker=marker,
                    limit=limit,
                    delimiter=None if recursive else "/",
                )
            for entry in page:
                if "subdir" in entry:
                    yield entry["subdir"]
                else:
                    mtime = iso_date(entry.get("last_modified"))
                    yield ObjectInfo(entry["name"], int(entry["bytes"]), mtime, native=entry)
            if len(page) < limit:
                return
            marker = page[-1].get("name") or page[-1]["subdir"]

    def open_object(self, path: str, key: str, offset: int) -> BinaryIO:
        headers = {"Range": f"bytes={offset}-"} if offset else None
        conn = self.pool.acquire()
        try:
            _, body = once_more_on_404(
                conn.get_object,
                self.settings.container,
                key,
                resp_chunk_size=READ_CHUNK,
                headers=headers,
            )
        except Exception as exc:
            self.pool.release(conn)
            if status_of(exc) == 416:
                # NOTE: 416 = the object exists and the offset is at or past its end.
                return empty_stream()
            raise

        def release() -> None:
            body.close()
            self.pool.release(conn)

        reader = BodyReader(self, path, body.read, release)
        return cast(BinaryIO, io.BufferedReader(reader, READ_CHUNK))

    def get_range(self, key: str, offset: int, length: int) -> RangedBody | None:
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
        conn = self.pool.acquire()
        try:
            answer, body = once_more_on_404(
                conn.get_object,
                self.settings.container,
                key,
                resp_chunk_size=READ_CHUNK,
                headers=headers,
            )
        except Exception as exc:
            self.pool.release(conn)
            if status_of(exc) == 416:
                return None
            raise

        def release() -> None:
            body.close()
            self.pool.release(conn)

        content_range = answer.get("content-range")
        if content_range:
            object_size = int(content_range.rpartition("/")[2])
        else:
            # NOTE: a 200 is the whole object: fine only when it is the range asked for.
            object_size = int(answer.get("content-length", 0))
            if offset or object_size > length:
                release()
                raise StorageError(
                    f"the store answered the whole object to a GET of {headers['Range']}"
                )
        return RangedBody(body.read, release, answer.get("etag"), object_size)

    def put_object(self, key: str, data: bytes) -> None:
        self.replace(
            key,
            lambda conn: conn.put_object(
                self.settings.container, key, io.BytesIO(data), content_length=len(data)
            ),
            new_segments=(),
        )

    def put_file(self, key: str, local_path: str, size: int) -> None:
        def put(conn: Connection) -> None:
            with FileSlice(local_path, 0, size) as body:
                conn.put_object(self.settings.container, key, body, content_length=size)

        self.replace(key, put, new_segments=())

    def copy_object(self, source: ObjectInfo, key: str) -> None:
        slo = is_slo(source.native)
        segments = [entry["path"] for entry in self.manifest(source.key)] if slo else []
        copy_from = {"X-Copy-From": urllib.parse.quote(f"/{self.settings.container}/{source.key}")}
        self.replace(
            key,
            # NOTE: with multipart-manifest=get the copy is the manifest, not the data.
            lambda conn: conn.put_object(
                self.settings.container,
                key,
                io.BytesIO(),
                content_length=0,
                headers=copy_from,
                query_string="multipart-manifest=get" if slo else None,
            ),
            new_segments=segments,
        )

    def delete_objects(self, keys: Sequence[str]) -> None:
        for key in keys:
            segments = self.segments_of(key)
            try:
                self.delete_one(self.settings.container, key)
            except Exception as exc:
                if status_of(exc) == 404:
                    continue
                raise
            self._delete_segments(segments)

    def adopt_file(self, local_path: str, path: str, *, durable: bool = True) -> None:
        """See :meth:`StorageDriver.adopt_file`.

        PERF: a file that is not ``durable`` (an upload's chunk, joined or moved later)
        of :data:`MIN_SEGMENT_SIZE` or more is stored as an SLO of one segment, so that
        :meth:`join` lists its segment in the blob's manifest instead of copying it.
        """
        size = os.path.getsize(local_path)
        if durable or not MIN_SEGMENT_SIZE <= size < self.part_size:
            super().adopt_file(local_path, path, durable=durable)
            return
        writer = SwiftFileWriter(self, path, segment_size=size)
        with writer:
            writer.write_file(local_path, last=True)
            writer.commit()

    def join(self, sources: Sequence[str], destination: str) -> None:
        """See :meth:`StorageDriver.join`.

        PERF: chunks adopted with ``durable=False`` are SLOs; the destination's manifest
        lists their segments, and only plain sources are copied (server-side, see
        :mod:`.joins`). Where that cannot make one manifest, :meth:`concatenate` copies
        every source, then they are deleted.
        """
        infos = [self.head(source, "join") for source in sources]
        found: list[ObjectInfo] = []
        for source, info in zip(sources, infos, strict=True):
            if info is None:
                raise PathNotFoundError(driver=self.name, operation="join", path=source)
            found.append(info)
        if not join_reusing_segments(self, list(zip(sources, found, strict=True)), destination):
            super().join(sources, destination)

    def open_writer(self, path: str, append: bool) -> SwiftFileWriter:
        return SwiftFileWriter(self, path, append)

    def signed_url(self, key: str, method: str) -> str:
        """A TempURL of ``key``, valid for ``swift_temp_url_expires`` seconds."""
        with self.pool.connection() as conn:
            if not conn.url or not conn.token:
                conn.url, conn.token = conn.get_auth()
            storage_url = conn.url
        parts = urllib.parse.urlsplit(storage_url)
        object_path = f"{parts.path}/{self.settings.container}/{key}"
        # NOTE: Swift signs the decoded path; only the URL carries it percent-encoded.
        signed = generate_temp_url(
            object_path, self.settings.temp_url_expires, self.settings.temp_url_key, method
        )
        query = signed.partition("?")[2]
        return f"{parts.scheme}://{parts.netloc}{urllib.parse.quote(object_path)}?{query}"

    def delete_moved(self, source: ObjectInfo) -> None:
        # NOTE: a plain DELETE of the source manifest keeps the segments it shares with
        # the destination (copy_object copied the manifest only).
        try:
            self.delete_one(self.settings.container, source.key)
        except Exception as exc:
            if status_of(exc) != 404:
                raise

    # -- Static Large Objects (shared with the writer) ---------------------------------

    def manifest(self, key: str) -> list[dict[str, Any]]:
        """The SLO manifest entries stored at ``key`` (``path``/``etag``/``size_bytes``)."""
        with self.pool.connection() as conn:
            _, body = conn.get_object(
                self.settings.container, key, query_string="multipart-manifest=get"
            )
        return [
            {
                "path": "/" + entry["name"].lstrip("/"),
                "etag": entry["hash"],
                "size_bytes": entry["bytes"],
            }
            for entry in json.loads(body)
        ]

    def put_manifest(self, key: str, segments: list[dict[str, Any]], conn: Connection) -> None:
        """Store an SLO manifest listing ``segments`` (:meth:`manifest`'s entries) at ``key``."""
        manifest = json.dumps(segments).encode()
        conn.put_object(
            self.settings.container,
            key,
            io.BytesIO(manifest),
            content_length=len(manifest),
            query_string="multipart-manifest=put",
            headers={"Content-Type": "application/octet-stream"},
        )

    def replace(
        self, key: str, put: Callable[[Connection], object], new_segments: Collection[str]
    ) -> None:
        """Run ``put`` (which stores ``key``), then delete segments nobody uses any more.

        The segments of the version being replaced are deleted unless the new version
        lists them too (an append reuses them).
        """
        old = self.segments_of(key)
        with self.pool.connection() as conn:
            put(conn)
        self._delete_segments([segment for segment in old if segment not in set(new_segments)])

    def segments_of(self, key: str) -> list[str]:
        """Segment paths of the SLO at ``key`` ([] for a plain object or nothing)."""
        info = self.head_object(key)
        if info is None or not is_slo(info.native):
            return []
        return [entry["path"] for entry in self.manifest(key)]

    def delete_one(self, container: str, name: str) -> None:
        """One plain DELETE (an SLO's segments stay)."""
        with self.pool.connection() as conn:
            conn.delete_object(container, name)

    def _delete_segments(self, segments: list[str]) -> None:
        for segment in segments:
            container, _, name = segment.lstrip("/").partition("/")
            try:
                self.delete_one(container, name)
            except (ClientException, RequestException) as exc:
                # NOTE: never fail the caller: the new version is already in place.
                if status_of(exc) != 404:
                    log.warning("could not delete segment %s/%s: %s", container, name, exc)

    def close(self) -> None:
        super().close()
        self.pool.close()
