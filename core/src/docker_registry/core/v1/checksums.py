"""Checksums of v1 images: the payload sha256, tarsum v0 and the files listing (spec §3.5).

* payload checksum: ``sha256:`` + hex sha256 of ``json + b"\\n" + layer`` -- the only one
  Docker >= 0.10 sends and 0.9.x verifies. :class:`PayloadHasher` computes it while the
  layer streams in.
* tarsum v0: ``tarsum+sha256:`` + sha256 of ``json`` followed by the sorted sha256 of
  every tar member (header fields, then content). Old clients (< 0.10) send it as
  ``X-Docker-Checksum``; the index stores it in ``_index_images``.
* the files listing of ``GET /v1/images/<id>/files``.

:func:`scan_layer` reads a layer once (streaming, any compression ``tarfile`` detects)
and returns both the tarsum and the files listing.
"""

from __future__ import annotations

import hashlib
import lzma
import tarfile
from dataclasses import dataclass
from typing import IO, Any

CHUNK = 1024 * 1024

#: tar type flag -> the seed's one-letter type in files listings.
_TYPE_LETTERS = {
    tarfile.REGTYPE: "f",
    tarfile.AREGTYPE: "f",
    tarfile.LNKTYPE: "l",
    tarfile.SYMTYPE: "s",
    tarfile.CHRTYPE: "c",
    tarfile.BLKTYPE: "b",
    tarfile.DIRTYPE: "d",
    tarfile.FIFOTYPE: "i",
    tarfile.CONTTYPE: "t",
    tarfile.GNUTYPE_LONGNAME: "L",
    tarfile.GNUTYPE_LONGLINK: "K",
    tarfile.GNUTYPE_SPARSE: "S",
}

_XZ_MAGIC = b"\xfd7zXZ\x00"


class LayerFormatError(ValueError):
    """The layer is not a tar archive we can read."""


def payload_checksum(json_data: bytes, layer: bytes) -> str:
    """``sha256:<hex>`` of ``json_data + b"\\n" + layer`` (for small data and tests)."""
    hasher = PayloadHasher(json_data)
    hasher.update(layer)
    return hasher.checksum()


class PayloadHasher:
    """Incremental payload checksum: feed layer chunks, then read :meth:`checksum`."""

    def __init__(self, json_data: bytes) -> None:
        self._hash = hashlib.sha256(json_data)
        self._hash.update(b"\n")

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)

    def checksum(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def tarsum_header(member: tarfile.TarInfo) -> bytes:
    """The tarsum v0 header string of one tar member, as bytes."""
    name = member.name
    if member.isdir() and not name.endswith("/"):
        name += "/"
    typeflag = member.type.decode("latin-1") if isinstance(member.type, bytes) else member.type
    fields = (
        ("name", name),
        ("mode", member.mode),
        ("uid", member.uid),
        ("gid", member.gid),
        ("size", member.size),
        ("mtime", int(member.mtime)),
        ("typeflag", typeflag),
        ("linkname", member.linkname),
        ("uname", member.uname),
        ("gname", member.gname),
        ("devmajor", member.devmajor),
        ("devminor", member.devminor),
    )
    text = "".join(f"{key}{value}" for key, value in fields)
    return text.encode("utf-8", "surrogateescape")


def tarsum_from_hashes(json_data: bytes, member_hashes: list[str]) -> str:
    """Combine member hashes into ``tarsum+sha256:<hex>`` (sorted, prefixed by json)."""
    digest = hashlib.sha256(json_data)
    for member_hash in sorted(member_hashes):
        digest.update(member_hash.encode())
    return "tarsum+sha256:" + digest.hexdigest()


def file_entry(member: tarfile.TarInfo) -> list[Any] | None:
    """The seed's files-listing entry of one member, or ``None`` when it is dropped.

    ``[path, type, deleted, size, mtime, mode, uid, gid]``. ``.`` becomes ``/``, a
    leading ``./`` becomes ``/``; a basename starting with ``.wh.`` is a whiteout
    (deleted=True, marker removed) at any depth (the seed only saw root-level ones, Q14);
    AUFS metadata (``.wh..wh.*``) is dropped.
    """
    name = member.name
    if name == ".":
        name = "/"
    elif name.startswith("./"):
        name = "/" + name[2:]
    deleted = False
    head, _, base = name.rpartition("/")
    if base.startswith(".wh."):
        if base.startswith(".wh..wh."):
            return None
        base = base[len(".wh.") :]
        name = f"{head}/{base}" if head or name.startswith("/") else base
        deleted = True
    letter = _TYPE_LETTERS.get(member.type, "u")
    return [
        name,
        letter,
        deleted,
        member.size,
        int(member.mtime),
        member.mode,
        member.uid,
        member.gid,
    ]


@dataclass
class LayerScan:
    """Result of :func:`scan_layer`."""

    tarsum: str
    files: list[list[Any]]


class _Peekable:
    """A read-only stream whose first bytes can be looked at before tarfile reads them."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._head = stream.read(len(_XZ_MAGIC))

    @property
    def head(self) -> bytes:
        return self._head

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            if size is None or size < 0:
                return head + self._stream.read()
            if size <= len(head):
                self._head = head[size:]
                return head[:size]
            return head + self._stream.read(size - len(head))
        return self._stream.read(size)


class _XzReader:
    """Streaming xz decompression for tarfile's stream mode."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._decompressor = lzma.LZMADecompressor()
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._buffer) < size) and not self._decompressor.eof:
            chunk = self._stream.read(CHUNK)
            if not chunk:
                break
            self._buffer += self._decompressor.decompress(chunk)
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def scan_layer(stream: IO[bytes], json_data: bytes) -> LayerScan:
    """Read a layer once and return its tarsum v0 and files listing.

    An empty layer gives the tarsum of ``json_data`` alone and no files.

    :raises LayerFormatError: the data is not a (possibly gz/bz2/xz compressed) tar.
    """
    source = _Peekable(stream)
    if not source.head:
        return LayerScan(tarsum_from_hashes(json_data, []), [])
    fileobj: Any = _XzReader(source) if source.head.startswith(_XZ_MAGIC) else source
    hashes: list[str] = []
    files: list[list[Any]] = []
    try:
        with tarfile.open(
            fileobj=fileobj, mode="r|*", bufsize=CHUNK, errors="surrogateescape"
        ) as archive:
            for member in archive:
                header = tarsum_header(member)
                digest = hashlib.sha256(header)
                if member.size > 0 and member.isreg():
                    content = archive.extractfile(member)
                    if content is not None:
                        while chunk := content.read(CHUNK):
                            digest.update(chunk)
                hashes.append(digest.hexdigest())
                entry = file_entry(member)
                if entry is not None:
                    files.append(entry)
    # NOTE: OverflowError: a PAX mtime such as 1e999 is read as inf, which int() refuses.
    except (tarfile.TarError, EOFError, lzma.LZMAError, OSError, ValueError, OverflowError) as exc:
        raise LayerFormatError(str(exc)) from exc
    return LayerScan(tarsum_from_hashes(json_data, hashes), files)
