"""The Azure writer: staged blocks, invisible until the block list is committed.

::

    upload_part() ─> stage_block <id N>                        (streamed)
    put_whole() ───> one upload_blob (overwrite): nothing was staged
    complete() ────> stage the rest, commit_block_list [ids...]
    discard() ─────> nothing to do: the service discards uncommitted blocks (at the
                     next commit of that blob, or after a week), never listed

The state machine is :class:`~docker_registry.core.storage.objectstore.ObjectWriter`'s.

An append whose blob was itself committed from blocks of this driver commits the old
block ids followed by the new ones (no byte is copied); any other existing content is
read back and staged again.
"""

from __future__ import annotations

import base64
import uuid
from typing import TYPE_CHECKING

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobBlock

from docker_registry.core.storage.objectstore import ObjectWriter

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient

    from .driver import AzureDriver

#: Block ids of one blob must all have the same length: ours are 48 characters.
BLOCK_ID_LENGTH = 48


def block_id(writer_id: str, index: int) -> str:
    """The base64 block id of block ``index`` of the writer ``writer_id`` (32 hex)."""
    return base64.b64encode(f"{writer_id}{index:04x}".encode()).decode()


class AzureFileWriter(ObjectWriter):
    """A write in progress to one blob; see the module docstring for the mechanism."""

    def __init__(self, driver: AzureDriver, path: str, append: bool) -> None:
        super().__init__(driver, path)
        self._blob: BlobClient = driver.blob(self._key)
        self._writer_id = uuid.uuid4().hex
        self._blocks: list[str] = []
        if append:
            self._step("writer", self._start_from_existing)

    @property
    def multipart(self) -> bool:
        return bool(self._blocks)

    def upload_part(self, part: bytes) -> None:
        identifier = block_id(self._writer_id, len(self._blocks))
        self._blob.stage_block(identifier, part, len(part))
        self._blocks.append(identifier)

    def complete(self, rest: bytes) -> None:
        if rest:
            self.upload_part(rest)
        self._blob.commit_block_list([BlobBlock(block_id=item) for item in self._blocks])

    def put_whole(self, data: bytes) -> None:
        self._blob.upload_blob(data, overwrite=True)

    def discard(self) -> None:
        """Nothing to do: the service drops uncommitted blocks, which are never listed."""

    def _start_from_existing(self) -> None:
        try:
            committed, _ = self._blob.get_block_list("committed")
        except ResourceNotFoundError:
            return
        info = self._driver.head_object(self._key)
        if info is None:
            return
        ids = [block.id for block in committed]
        if ids and all(len(item) == BLOCK_ID_LENGTH for item in ids):
            # PERF: the old blocks are committed again by id: nothing is copied.
            self._blocks.extend(ids)
        elif info.size:
            with self._driver.reader(self._path) as stream:
                while chunk := stream.read(self._part_size):
                    self._buffer += chunk
                    while len(self._buffer) >= self._part_size:
                        self.upload_part(bytes(self._buffer[: self._part_size]))
                        del self._buffer[: self._part_size]
        self._size = info.size
