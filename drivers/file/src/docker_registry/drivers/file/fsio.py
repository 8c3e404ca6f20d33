"""Low-level file I/O of the file driver: full writes, kernel copies, quiet removal."""

from __future__ import annotations

import contextlib
import errno
import os

from docker_registry.core.storage import CHUNK_SIZE

#: Reading these errors means nothing (or no file) is at the path.
_MISSING = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR})
#: The filesystem (or the user's quota on it) has no room left for a write.
_NO_SPACE = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
#: ``copy_file_range`` is not available for this pair of files: copy through user space.
_NO_COPY_FILE_RANGE = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}
)
#: Bytes per ``copy_file_range`` call when appending (the kernel copies, we only loop).
_COPY_BLOCK = 64 * CHUNK_SIZE
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _write_all(descriptor: int, view: memoryview) -> None:
    """Write every byte of ``view``; ``os.write`` may accept fewer than asked."""
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def _copy(source: int, target: int) -> int:
    """Copy the rest of ``source`` into ``target`` at their current offsets; return bytes."""
    total = 0
    if hasattr(os, "copy_file_range"):
        try:
            while copied := os.copy_file_range(source, target, _COPY_BLOCK):
                total += copied
            return total
        except OSError as exc:
            if exc.errno not in _NO_COPY_FILE_RANGE:
                raise
            # NOTE: both offsets advanced by what was copied; go on from there.
    while chunk := os.read(source, CHUNK_SIZE):
        _write_all(target, memoryview(chunk))
        total += len(chunk)
    return total


def _discard(temp: str) -> None:
    """Remove a temporary file; it may already be gone."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)
