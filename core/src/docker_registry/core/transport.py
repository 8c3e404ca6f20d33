"""Waitress plumbing tuned for a registry: bodies spooled for adoption, files sent with
``sendfile``, TLS probes refused at once."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from waitress.buffers import ReadOnlyFileBasedBuffer
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser

from .spool import BodySpool

#: Socket read size: waitress's 8 KiB default caps uploads far below disk speed.
RECV_BYTES = 1024 * 1024
#: Bodies above this go to a spool file rather than memory.
INBUF_OVERFLOW = 512 * 1024


#: First byte of a TLS handshake record.
_TLS_HANDSHAKE = 0x16


class SpoolingRequestParser(HTTPRequestParser):
    """Receives every request body into a :class:`~.spool.BodySpool` in
    :attr:`spool_directory`, which storage can then adopt without a copy."""

    spool_directory: str | None = None

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if self.body_rcv is not None:
            self.body_rcv.buf = BodySpool(self.spool_directory, INBUF_OVERFLOW)


class _FileSpan(NamedTuple):
    """What :class:`SendfileBuffer` hands the channel instead of bytes."""

    descriptor: int
    offset: int
    length: int


class SendfileBuffer(ReadOnlyFileBasedBuffer):
    """``wsgi.file_wrapper`` for real files: the channel sends them with ``sendfile``.

    PERF: waitress reads a response file into a new bytes object per socket buffer and
    sends that: a copy and fresh page faults for every ~2 MiB of a layer. The kernel can
    send straight from the page cache instead. Other file-likes are read as usual.
    """

    def __init__(self, file: Any, block_size: int = 32768) -> None:
        super().__init__(file, block_size)
        self._descriptor: int | None = None
        try:
            descriptor = file.fileno()
            if stat.S_ISREG(os.fstat(descriptor).st_mode):
                self._descriptor = descriptor
        except (AttributeError, OSError, ValueError):
            pass

    def get(self, numbytes: int = -1, skip: bool = False) -> Any:
        if skip or self._descriptor is None:
            return super().get(numbytes, skip)
        # NOTE: the channel then skip()s what was sent, which moves the file position.
        return _FileSpan(self._descriptor, self.file.tell(), self.remain)


#: Errors of a send to a client that went away (the channel closes, as waitress does).
_DISCONNECTED = frozenset(
    {errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN, errno.ECONNABORTED, errno.EPIPE}
)


def with_sendfile(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Offer :class:`SendfileBuffer` as the ``wsgi.file_wrapper`` to ``app``."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]):
        environ["wsgi.file_wrapper"] = SendfileBuffer
        return app(environ, start_response)

    return application


class PlainHTTPChannel(HTTPChannel):
    """A waitress channel that hangs up on a TLS handshake at once.

    Clients such as skopeo and podman try HTTPS first; waitress would wait for a request
    line that never comes, and the client only falls back to plain HTTP after its own
    10 s timeout. Closing the connection makes it fall back immediately.
    """

    _first_data = True

    def send(self, data: Any, do_close: bool = True) -> int:
        if type(data) is not _FileSpan:
            return int(super().send(data, do_close))
        try:
            return os.sendfile(self.socket.fileno(), data.descriptor, data.offset, data.length)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno not in _DISCONNECTED:
                raise
            if do_close:
                self.handle_close()
            return 0

    def received(self, data: bytes) -> bool:
        if self._first_data and data:
            self._first_data = False
            if data[0] == _TLS_HANDSHAKE:
                self.will_close = True
                return False
        return bool(super().received(data))


def channel_class(spool_directory: str | None) -> type[HTTPChannel]:
    """The channel class for a server whose bodies spool into ``spool_directory``."""
    parser = type(
        "SpoolingRequestParser", (SpoolingRequestParser,), {"spool_directory": spool_directory}
    )
    return type("PlainHTTPChannel", (PlainHTTPChannel,), {"parser_class": parser})
