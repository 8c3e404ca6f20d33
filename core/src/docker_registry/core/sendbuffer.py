"""The bytes a connection has yet to send, kept as the objects the application wrote.

waitress copies every block of a response into a ``BytesIO`` (``OverflowableBuffer``)
and copies it out again for each ``send``: two passes over every byte of a download on
top of the kernel's. :class:`SendBuffer` keeps the (immutable) ``bytes`` objects
themselves and hands ``send`` a view of the first one; small writes (status line and
headers, small bodies) are joined, so that they still leave in one ``send``. Measured
on this kind of VM, 64 MiB served in 1 MiB blocks over loopback: 2.3 to 3.1 GB/s with
waitress's buffer, 3.5 to 3.6 GB/s with this one, with less CPU.

It is bounded as waitress's is: the worker thread waits while a connection holds more
than ``outbuf_high_watermark`` bytes (see :mod:`.transport`).
"""

from __future__ import annotations

from collections import deque

#: Writes below this are joined to a small block before them (one ``send`` for both).
JOIN_BELOW = 64 * 1024


class SendBuffer:
    """A queue of ``bytes`` with waitress's outgoing-buffer interface (``append``,
    ``get``, ``skip``, ``len``, ``close``)."""

    def __init__(self) -> None:
        self._blocks: deque[bytes] = deque()
        #: bytes of the first block already sent.
        self._offset = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        # NOTE: waitress tests buffers for truth as objects that exist, not as lengths.
        return True

    def append(self, data: bytes) -> None:
        if not data:
            return
        # NOTE: a block is kept, not copied: only bytes cannot change after the write.
        block = data if type(data) is bytes else bytes(data)
        blocks = self._blocks
        if len(block) < JOIN_BELOW and blocks and len(blocks[-1]) < JOIN_BELOW:
            blocks[-1] += block  # a new object: views of the old one stay valid
        else:
            blocks.append(block)
        self._size += len(block)

    def get(self, numbytes: int = -1, skip: bool = False) -> memoryview | bytes:
        """The next bytes to send (at most ``numbytes``, from one block)."""
        if not self._blocks:
            return b""
        first = self._blocks[0]
        end = len(first) if numbytes < 0 else min(len(first), self._offset + numbytes)
        view = memoryview(first)[self._offset : end]
        if skip:
            self.skip(len(view))
        return view

    def skip(self, numbytes: int, allow_prune: bool = False) -> None:
        """Drop the next ``numbytes`` bytes (sent)."""
        if numbytes > self._size:
            raise ValueError(f"cannot skip {numbytes} bytes of {self._size}")
        self._size -= numbytes
        blocks = self._blocks
        while numbytes:
            left = len(blocks[0]) - self._offset
            if numbytes < left:
                self._offset += numbytes
                return
            numbytes -= left
            blocks.popleft()
            self._offset = 0

    def prune(self) -> None:
        """Nothing to do: sent blocks are dropped as they go."""

    def close(self) -> None:
        self._blocks.clear()
        self._offset = self._size = 0
