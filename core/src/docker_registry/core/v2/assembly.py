"""An upload's bytes so far, joined in one local file while its chunks arrive.

Every process sees a session as its chunk files (:mod:`.uploads`); joining them at the
closing ``PUT`` copied the whole blob there, while the client waited (0.2 to 0.7 s for
256 MiB on this kind of disk, most of the PUT). Where storage adopts local files cheaply
(a driver with a :attr:`~.StorageDriver.spool_directory`: the file driver), the process
that receives a session's chunks also appends each one, in the kernel, to an assembly
file in that directory, and the closing ``PUT`` adopts the assembly as the blob (its
fsync, then a rename). The chunks are never made durable on their own, so each byte
reaches the disk once.

An assembly belongs to one process and holds exactly the chain of chunk files it was
built from (the upload store keeps it beside the running hash of that chain); any other
chain, in this process or another, falls back to joining the chunk files. Leftovers are
``<hex>.tmp`` files, removed with the spool directory's other stale files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from typing import BinaryIO

from ..storage import CHUNK_SIZE

#: ``copy_file_range`` cannot copy between these files: copy through user space.
_NO_KERNEL_COPY = frozenset({errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP})
_KERNEL_COPY_BLOCK = 64 * CHUNK_SIZE


class Assembly:
    """A local file that only grows, by whole chunks, at its end.

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

    def append_file(self, source: BinaryIO, length: int) -> None:
        """Append ``length`` bytes of ``source`` from its start (its own position is left
        alone: a helper thread may be hashing it meanwhile).

        :raises OSError: the copy failed (the assembly is then unusable: discard it).
        """
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.lseek(descriptor, self.size, os.SEEK_SET)
            copied = _copy(source.fileno(), descriptor, length)
        finally:
            os.close(descriptor)
        if copied != length:
            raise OSError(errno.EIO, f"copied {copied} of {length} bytes", self.path)
        self.size += length

    def append_bytes(self, data: bytes) -> None:
        """Append ``data`` (a small body received in memory)."""
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.lseek(descriptor, self.size, os.SEEK_SET)
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)
        self.size += len(data)

    def discard(self) -> None:
        """Remove the file (it may have been adopted, or swept, already)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _copy(source: int, target: int, length: int) -> int:
    """Copy ``length`` bytes from offset 0 of ``source`` to ``target``'s position."""
    done = 0
    try:
        while done < length:
            copied = os.copy_file_range(
                source, target, min(_KERNEL_COPY_BLOCK, length - done), offset_src=done
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
        view = memoryview(chunk)
        while view:
            view = view[os.write(target, view) :]
        done += len(chunk)
    return done
