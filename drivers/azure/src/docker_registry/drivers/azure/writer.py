"""The Azure writer: staged blocks, invisible until the block list is committed.

::

    write() ──> buffer ──(buffer >= block_size)──> stage_block <id N>   (streamed)
    commit() ─> nothing staged: one upload_blob (overwrite)
             └> otherwise: stage the rest, commit_block_list [ids...]
    cancel() ─> nothing to do: the service discards uncommitted blocks (at the next
                commit of that blob, or after a week), and they are never listed

An append whose blob was itself committed from blocks of this driver commits the old
block ids followed by the new ones (no byte is copied); any other existing content is
read back and staged again.
"""

from __future__ import annotations

import base64
import uuid
from typing import TYPE_CHECKING

from azure.storage.blob import BlobBlock

from docker_registry.core.storage import PathNotFoundError
from docker_registry.core.storage.objectstore import BROKEN, COMMITTED, PartWriter

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient

    from .driver import AzureDriver

#: Block ids of one blob must all have the same length: ours are 48 characters.
BLOCK_ID_LENGTH = 48


def block_id(writer_id: str, index: int) -> str:
    """The base64 block id of block ``index`` of the writer ``writer_id`` (32 hex)."""
    return base64.b64encode(f"{writer_id}{index:04x}".encode()).decode()


class AzureFileWriter(PartWriter):
    """A write in progress to one blob; see the module docstring for the mechanism."""

    def __init__(self, driver: AzureDriver, path: str, append: bool) -> None:
        self._blob: BlobClient = driver.blob(path, "writer")
        super().__init__(driver.name, path, driver.settings.block_size)
        self._driver = driver
        self._writer_id = uuid.uuid4().hex
        self._blocks: list[str] = []
        if append:
            self._start_from_existing()

    def commit(self) -> None:
        self._check_open("commit")
        driver = self._driver
        try:
            driver.check_writable(self._path, "commit")
            if not self._blocks:
                body = bytes(self._buffer)
                driver.call(
                    "commit", self._path, lambda: self._blob.upload_blob(body, overwrite=True)
                )
            else:
                if self._buffer:
                    self._send_part(bytes(self._buffer))
                blocks = [BlobBlock(block_id=item) for item in self._blocks]
                driver.call("commit", self._path, lambda: self._blob.commit_block_list(blocks))
        except BaseException:
            self._finish(BROKEN)
            raise
        self._finish(COMMITTED)

    # -- internals -----------------------------------------------------------------------

    def _finish(self, state: str) -> None:
        self._state = state
        self._buffer = bytearray()

    def _start_from_existing(self) -> None:
        driver = self._driver
        try:
            committed, _ = driver.call(
                "writer", self._path, lambda: self._blob.get_block_list("committed")
            )
            size = driver.stat(self._path).size
        except PathNotFoundError:
            return
        ids = [block.id for block in committed]
        if ids and all(len(item) == BLOCK_ID_LENGTH for item in ids):
            # PERF: the old blocks are committed again by id: nothing is copied.
            self._blocks.extend(ids)
        elif size:
            with driver.reader(self._path) as stream:
                while chunk := stream.read(self._part_size):
                    self.write(chunk)
        self._size = size

    def _send_part(self, data: bytes) -> None:
        identifier = block_id(self._writer_id, len(self._blocks))
        try:
            self._driver.call(
                "write", self._path, lambda: self._blob.stage_block(identifier, data, len(data))
            )
        except BaseException:
            self._finish(BROKEN)
            raise
        self._blocks.append(identifier)
