"""An upload's bytes so far, joined in one local file while its chunks arrive.

Every process sees a session as its chunk files (:mod:`.uploads`); joining them at the
closing ``PUT`` copied the whole blob there, while the client waited (0.2 to 0.7 s for
256 MiB on this kind of disk, most of the PUT). Where storage adopts local files cheaply
(a driver with a :attr:`~.StorageDriver.spool_directory`: the file driver), the process
that receives a session's chunks also appends each one, in the kernel, to an assembly
file in that directory, and the closing ``PUT`` adopts the assembly as the blob (its
fsync, then a rename). The chunks are never made durable on their own, so each byte
reaches the disk once.

The chunk is written into the assembly from memory while it arrives (:class:`ChunkTap`,
set up by the server's parser from the request line), and the session's running hash
continues over the same bytes: nothing is read back, which matters on hosts whose
memory manager pages out freshly written files (re-reading a 16 MiB chunk measured
5 to 80 ms here). An assembly belongs to one process and holds exactly the chain of
chunk files it was built from (the upload store keeps it beside the running hash of that
chain); any other chain, in this process or another, falls back to joining the chunk
files. Leftovers are ``<hex>.tmp`` files, removed with the spool directory's other stale
files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from typing import Any, BinaryIO

from ..storage import CHUNK_SIZE

#: ``copy_file_range`` cannot copy between these files: copy through user space.
_NO_KERNEL_COPY = frozenset({errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP})
_KERNEL_COPY_BLOCK = 64 * CHUNK_SIZE


class Assembly:
    """A local file holding the first :attr:`size` bytes of an upload, in order.

    :param path: the file (created empty by :meth:`create`).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.size = 0

    @classmethod
    def create(cls, directory: str) -> Assembly:
        """A new, empty assembly in ``directory``.

        :raises OSError: the file cannot be created.
        """
        path = os.path.join(directory, f"{uuid.uuid4().hex}.tmp")
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
        return cls(path)

    def copy_at(self, source: BinaryIO, length: int, position: int) -> None:
        """Write ``length`` bytes of ``source`` from its start at ``position`` (the
        source's own position is left alone: a helper thread may be hashing it).

        :raises OSError: the copy failed (the assembly is then unusable: discard it).
        """
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            copied = _copy(source.fileno(), descriptor, length, position)
        finally:
            os.close(descriptor)
        if copied != length:
            raise OSError(errno.EIO, f"copied {copied} of {length} bytes", self.path)

    def append_file(self, source: BinaryIO, length: int) -> None:
        """Append ``length`` bytes of ``source`` (see :meth:`copy_at`)."""
        self.copy_at(source, length, self.size)
        self.size += length

    def append_bytes(self, data: bytes) -> None:
        """Append ``data`` (a small body received in memory)."""
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            _write_at(descriptor, data, self.size)
        finally:
            os.close(descriptor)
        self.size += len(data)

    def holds(self, size: int) -> bool:
        """True when the file is there and holds exactly ``size`` bytes (and :attr:`size`
        says so too)."""
        try:
            return self.size == size == os.stat(self.path).st_size
        except OSError:
            return False

    def discard(self) -> None:
        """Remove the file (it may have been adopted, or swept, already)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class ChunkTap:
    """Joins an upload's next chunk into its assembly while the chunk arrives, and
    continues the session's running hash with it: nothing is read back afterwards
    (a :class:`~docker_registry.core.spool.BodyTap`).

    Set up from what this process knew of the session when the request's headers
    arrived; the upload store uses it only if the session's chain is still
    :attr:`chain` when the request is handled.

    :param upload_id: the session.
    :param chain: the chunk files :attr:`seed` has hashed.
    :param seed: a copy of their running hash (the spool continues it with the body).
    :param assembly: the chain's assembly, now this request's alone (``None``: none).
    :param position: where the chunk goes in the assembly (the chain's length).
    """

    def __init__(
        self,
        upload_id: str,
        chain: tuple[str, ...],
        seed: Any,
        assembly: Assembly | None,
        position: int,
    ) -> None:
        self.upload_id = upload_id
        self.chain = chain
        self.seed = seed
        self._assembly = assembly
        self._position = position
        self._written = 0
        self._broken = assembly is None
        self._descriptor: int | None = None

    def received(self, data: bytes) -> None:
        """Write the next piece into the assembly (waitress's I/O thread; never raises)."""
        if self._broken or self._assembly is None:
            return
        try:
            if self._descriptor is None:
                self._descriptor = os.open(self._assembly.path, os.O_WRONLY | os.O_CLOEXEC)
            _write_at(self._descriptor, data, self._position + self._written)
            self._written += len(data)
        except OSError:
            self._broken = True
            self._close()

    def hand_over(self, length: int) -> Assembly | None:
        """The assembly with this chunk of ``length`` bytes written at its position, now
        the caller's (its :attr:`~Assembly.size` not yet counting the chunk), or
        ``None`` when the chunk did not fully reach it."""
        self._close()
        assembly, self._assembly = self._assembly, None
        if assembly is None:
            return None
        if self._broken or self._written != length:
            assembly.discard()
            return None
        return assembly

    def abandon(self) -> None:
        """The request is over: an assembly nobody took is dropped."""
        self._close()
        if self._assembly is not None:
            self._assembly.discard()
            self._assembly = None

    def _close(self) -> None:
        if self._descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(self._descriptor)
            self._descriptor = None


def _write_at(descriptor: int, data: bytes, position: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(descriptor, view, position)
        view, position = view[written:], position + written


def _copy(source: int, target: int, length: int, position: int) -> int:
    """Copy ``length`` bytes from offset 0 of ``source`` to ``position`` of ``target``."""
    done = 0
    try:
        while done < length:
            copied = os.copy_file_range(
                source,
                target,
                min(_KERNEL_COPY_BLOCK, length - done),
                offset_src=done,
                offset_dst=position + done,
            )
            if not copied:
                return done
            done += copied
        return done
    except OSError as exc:
        if exc.errno not in _NO_KERNEL_COPY:
            raise
    while done < length:
        chunk = os.pread(source, min(CHUNK_SIZE, length - done), done)
        if not chunk:
            break
        _write_at(target, chunk, position + done)
        done += len(chunk)
    return done
