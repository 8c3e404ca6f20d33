"""The storage side of the mirror: what is kept, where, and when it may be written.

Images fetched from upstream are stored exactly where a push would have put them (all
paths come from :mod:`..layout`)::

    images/<id>/json        the upstream image JSON, byte for byte
    images/<id>/_checksum   ["sha256:..."]: upstream's X-Docker-Checksum-Payload, or the
                            payload checksum computed while the layer streamed
    images/<id>/ancestry    the upstream ancestry list
    images/<id>/layer       written through storage.writer(); committed only when the
                            whole body arrived and the payload checksum matched
    repositories/<ns>/<repo>/json        the upstream repository JSON (Q9's fix)
    _mirror/repositories/<ns>/<repo>/    tag lists, single tags and index image lists,
                                         each {"fetched_at", "source", "value"}

Tags and image lists change upstream, so they are cached for ``tags_cache_ttl`` seconds
(wall clock, stored with the entry: it survives restarts and is shared by every process
on the same storage). An expired entry is refreshed; if upstream then fails, the stale
entry is answered (the local copy), and if upstream says 404 the entry is dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from ...storage import FileWriter, PathNotFoundError, Storage
from .. import layout
from ..checksums import PayloadHasher
from ..errors import BadGateway, GatewayTimeout
from .upstream import UpstreamMiss

log = logging.getLogger(__name__)


class LayerRejected(Exception):
    """A mirrored layer failed its checks; nothing was stored."""


class MirrorStore:
    """Writes upstream answers into storage.

    :param storage: the registry's storage.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def save_image_json(self, image_id: str, raw: bytes, checksums: list[str]) -> None:
        """Store an upstream image JSON (and its payload checksum when upstream sent one).

        The json is written last: its presence is what makes the image exist locally.
        """
        if checksums:
            self.storage.put_content(
                layout.image_checksum_path(image_id), json.dumps(checksums).encode()
            )
        self.storage.put_content(layout.image_json_path(image_id), raw)

    def save_ancestry(self, image_id: str, raw: bytes) -> None:
        self.storage.put_content(layout.image_ancestry_path(image_id), raw)

    def save_checksum(self, image_id: str, checksum: str) -> None:
        self.storage.put_content(
            layout.image_checksum_path(image_id), json.dumps([checksum]).encode()
        )

    def save_repository_json(self, namespace: str, repository: str, raw: bytes) -> None:
        """Q9: the seed called a path helper that does not exist; this is the real one."""
        self.storage.put_content(layout.repository_json_path(namespace, repository), raw)

    def forget_image(self, image_id: str) -> None:
        """Drop a mirrored image's json and ``_checksum`` (they disagree with its layer)."""
        for path in (layout.image_json_path(image_id), layout.image_checksum_path(image_id)):
            with contextlib.suppress(PathNotFoundError):
                self.storage.delete(path)

    def layer_writer(self, image_id: str) -> FileWriter:
        return self.storage.writer(layout.image_layer_path(image_id))


@dataclass
class CacheEntry:
    """One cached upstream answer."""

    value: Any
    fetched_at: float
    source: str


class MetadataCache:
    """Upstream tag lists, tags and image lists with a time to live, in storage.

    :param storage: the registry's storage.
    :param ttl: seconds an entry is answered without asking upstream.
    :param clock: wall-clock seconds (tests move it).
    """

    def __init__(
        self, storage: Storage, ttl: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.storage = storage
        self.ttl = ttl
        self.clock = clock

    def read(self, path: str) -> CacheEntry | None:
        """The entry at ``path``; ``None`` when absent or unreadable."""
        try:
            data = json.loads(self.storage.get_content(path))
            return CacheEntry(data["value"], float(data["fetched_at"]), str(data["source"]))
        except PathNotFoundError:
            return None
        except (ValueError, TypeError, KeyError):
            log.warning("mirror: unreadable cache entry %s ignored", path)
            return None

    def write(self, path: str, value: Any, source: str) -> None:
        entry = {"fetched_at": self.clock(), "source": source, "value": value}
        self.storage.put_content(path, json.dumps(entry, sort_keys=True).encode())

    def forget(self, path: str) -> None:
        with contextlib.suppress(PathNotFoundError):
            self.storage.delete(path)

    def fresh(self, entry: CacheEntry) -> bool:
        age = self.clock() - entry.fetched_at
        return 0 <= age < self.ttl

    def get(self, path: str, fetch: Callable[[], Any], source: str) -> Any:
        """A fresh entry, else ``fetch()`` (stored on success), else a stale entry.

        :param fetch: asks upstream; raises ``UpstreamMiss`` or a gateway error.
        :raises UpstreamMiss: upstream no longer has it (the entry is dropped).
        :raises BadGateway | GatewayTimeout: upstream failed and nothing is cached.
        """
        entry = self.read(path)
        if entry is not None and self.fresh(entry):
            return entry.value
        try:
            value = fetch()
        except (BadGateway, GatewayTimeout) as exc:
            if entry is None:
                raise
            log.warning("mirror: %s; answering the copy cached at %s", exc.message, path)
            return entry.value
        except UpstreamMiss:
            self.forget(path)
            raise
        self.write(path, value, source)
        return value


class LayerTee:
    """Streams an upstream layer to the client and into a storage writer at once.

    The payload checksum ``sha256(json + "\\n" + layer)`` is computed on the way. The
    writer is committed only when the body is complete (``Content-Length`` reached, no
    read error) and, when ``expected`` checksums are known, the computed one is among
    them; otherwise it is cancelled and iteration raises :class:`LayerRejected`.

    NOTE: the last chunk is held back until those checks pass, so a client never
    receives a complete body that the mirror found bad: its connection is cut short
    (the WSGI server closes it) and it retries, as it would after a network error.

    :param chunks: the upstream body.
    :param writer: a writer at the layer's path.
    :param json_data: the image JSON the payload checksum covers.
    :param expected: checksums the layer must match (empty: no check possible).
    :param length: upstream ``Content-Length``, ``None`` when it sent none.
    :param on_commit: called with the computed checksum after the commit.
    :param on_mismatch: called when the checksum does not match (the json and its
        claimed checksum are suspect too).
    :param close_upstream: releases the upstream connection.
    :param label: names the image and upstream in log messages.
    """

    def __init__(
        self,
        chunks: Iterator[bytes],
        writer: FileWriter,
        json_data: bytes,
        expected: list[str],
        length: int | None,
        on_commit: Callable[[str], None],
        on_mismatch: Callable[[], None],
        close_upstream: Callable[[], None],
        label: str,
    ) -> None:
        self.writer = writer
        self.expected = expected
        self.length = length
        self.received = 0
        self.committed = False
        self._chunks = chunks
        self._hasher = PayloadHasher(json_data)
        self._on_commit = on_commit
        self._on_mismatch = on_mismatch
        self._close_upstream = close_upstream
        self._label = label
        self._finished = False
        self._iterator = self._run()

    def __iter__(self) -> LayerTee:
        return self

    def __next__(self) -> bytes:
        return next(self._iterator)

    def close(self) -> None:
        """Called by the WSGI server at the end, or early when the client went away."""
        self._iterator.close()
        self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if not self.committed:
            with contextlib.suppress(Exception):
                self.writer.cancel()
        with contextlib.suppress(Exception):
            self.writer.close()
        with contextlib.suppress(Exception):
            self._close_upstream()

    def _run(self) -> Generator[bytes, None, None]:
        held: bytes | None = None
        try:
            try:
                for chunk in self._chunks:
                    if not chunk:
                        continue
                    self._hasher.update(chunk)
                    self.writer.write(chunk)
                    self.received += len(chunk)
                    if held is not None:
                        yield held
                    held = chunk
            except GeneratorExit:
                raise
            except Exception as exc:  # NOTE: any read error means "incomplete"
                raise self._reject(f"upstream body broke off: {exc}") from exc
            checksum = self._verify()
            self.writer.commit()
            self.committed = True
            self._on_commit(checksum)
            log.info("mirror: cached %s (%d bytes, %s)", self._label, self.received, checksum)
            if held is not None:
                yield held
        finally:
            self._finish()

    def _verify(self) -> str:
        if self.length is not None and self.received != self.length:
            raise self._reject(f"received {self.received} of {self.length} bytes")
        checksum = self._hasher.checksum()
        if self.expected and checksum not in self.expected:
            with contextlib.suppress(Exception):
                self._on_mismatch()
            raise self._reject(f"payload checksum {checksum} is not {', '.join(self.expected)}")
        return checksum

    def _reject(self, reason: str) -> LayerRejected:
        with contextlib.suppress(Exception):
            self.writer.cancel()
        log.error("mirror: %s rejected, nothing cached: %s", self._label, reason)
        return LayerRejected(f"{self._label}: {reason}")
