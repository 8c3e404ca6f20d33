"""The outgoing buffer keeps the application's blocks, joins small writes, sends views."""

from __future__ import annotations

import pytest

from docker_registry.core.sendbuffer import JOIN_BELOW, SendBuffer


def drain(buffer: SendBuffer, step: int) -> bytes:
    """What waitress's flush loop would send, ``step`` bytes asked at a time, each send
    taking half of what it was given."""
    sent = bytearray()
    while len(buffer):
        chunk = buffer.get(step)
        assert 0 < len(chunk) <= step
        taken = max(1, len(chunk) // 2)
        sent += chunk[:taken]
        buffer.skip(taken, True)
    return bytes(sent)


def test_blocks_go_out_whole_and_in_order_without_a_copy() -> None:
    big = bytes(range(256)) * 4096  # 1 MiB
    buffer = SendBuffer()
    buffer.append(b"HTTP/1.1 200 OK\r\n")
    buffer.append(b"Content-Length: 2\r\n\r\n")
    buffer.append(big)
    buffer.append(b"end")
    assert len(buffer) == 17 + 21 + len(big) + 3
    head = buffer.get(1 << 30)
    assert bytes(head) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "small writes joined"
    buffer.skip(len(head))
    view = buffer.get(1 << 30)
    assert isinstance(view, memoryview) and view.obj is big, "the block itself, not a copy"
    buffer.skip(len(view) - 1)
    assert bytes(buffer.get(10)) == big[-1:]
    buffer.skip(1)
    assert bytes(buffer.get()) == b"end"


@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 22])
def test_partial_sends_lose_and_repeat_nothing(step: int) -> None:
    parts = [b"a" * 10, b"b" * (JOIN_BELOW + 5), bytearray(b"c" * 3), b"d" * 100_000]
    buffer = SendBuffer()
    for part in parts:
        buffer.append(part)
    assert drain(buffer, step) == b"".join(parts)
    assert len(buffer) == 0 and buffer.get() == b""


def test_a_mutable_block_is_copied_and_close_empties() -> None:
    data = bytearray(b"x" * (JOIN_BELOW * 2))
    buffer = SendBuffer()
    buffer.append(data)
    data[:] = b"y" * len(data)
    assert bytes(buffer.get()) == b"x" * len(data)
    with pytest.raises(ValueError):
        buffer.skip(len(data) + 1)
    buffer.close()
    assert len(buffer) == 0 and bool(buffer)
