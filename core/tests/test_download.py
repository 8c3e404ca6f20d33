"""bounded_body: real files go to waitress as they are, other streams stop at their range."""

from __future__ import annotations

import io

from docker_registry.core.download import bounded_body


class CloudLikeReader(io.RawIOBase):
    """Not seekable, counts what it hands out (a cloud object's HTTP body)."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = io.BytesIO(data)
        self.handed_out = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        chunk = self._data.read(size)
        self.handed_out += len(chunk)
        return chunk


def test_a_stream_is_read_up_to_its_range_and_no_further():
    source = CloudLikeReader(bytes(range(256)) * 4096)
    source.read(100)  # positioned at the range's start, as a driver's reader is
    body = bounded_body(source, 5000)  # type: ignore[arg-type]
    received = b"".join(iter(lambda: body.read(4096), b""))
    assert received == (bytes(range(256)) * 4096)[100:5100]
    assert source.handed_out == 5100
    assert body.read(10) == b""
    body.close()
    assert source.closed


def test_a_real_file_is_handed_over_as_it_is(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"0123456789")
    with open(path, "rb") as stream:
        stream.seek(2)
        assert bounded_body(stream, 3) is stream
