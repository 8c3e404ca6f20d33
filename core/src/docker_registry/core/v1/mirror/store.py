"""The storage side of the mirror: what is kept, where, and when it may be written.

Images fetched from upstream are stored exactly where a push would have put them (all
paths come from :mod:`..layout`)::

    images/<id>/json        the upstream image JSON, byte for byte
    images/<id>/_checksum   ["sha256:..."]: upstream's X-Docker-Checksum-Payload, or the
                            payload checksum computed while the layer streamed
    images/<id>/ancestry    the upstream ancestry list
    images/<id>/layer       ImageStore.ingest_layer: committed only when the whole
                            body arrived and the payload checksum matched
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...storage import PathNotFoundError, Storage
from .. import layout
from ..errors import BadGateway, GatewayTimeout
from .upstream import UpstreamMiss

log = logging.getLogger(__name__)


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

    def save_repository_json(self, namespace: str, repository: str, raw: bytes) -> None:
        """Q9: the seed called a path helper that does not exist; this is the real one."""
        self.storage.put_content(layout.repository_json_path(namespace, repository), raw)


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
