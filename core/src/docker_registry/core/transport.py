"""Waitress plumbing tuned for a registry: bodies spooled for adoption, TLS probes refused
at once."""

from __future__ import annotations

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser

from .spool import BodySpool, TapFinder

#: Socket read size: waitress's 8 KiB default caps uploads far below disk speed.
RECV_BYTES = 1024 * 1024
#: Bodies above this go to a spool file rather than memory.
INBUF_OVERFLOW = 512 * 1024


#: First byte of a TLS handshake record.
_TLS_HANDSHAKE = 0x16


class SpoolingRequestParser(HTTPRequestParser):
    """Receives every request body into a :class:`~.spool.BodySpool` in
    :attr:`spool_directory`, which storage can then adopt without a copy, with the tap
    :attr:`find_tap` gives for the request (an upload's next chunk)."""

    spool_directory: str | None = None
    find_tap: TapFinder | None = None

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if self.body_rcv is not None:
            tap = self.find_tap(self.command, self.path) if self.find_tap is not None else None
            self.body_rcv.buf = BodySpool(self.spool_directory, INBUF_OVERFLOW, tap)


class PlainHTTPChannel(HTTPChannel):
    """A waitress channel that hangs up on a TLS handshake at once.

    Clients such as skopeo and podman try HTTPS first; waitress would wait for a request
    line that never comes, and the client only falls back to plain HTTP after its own
    10 s timeout. Closing the connection makes it fall back immediately.
    """

    _first_data = True

    def received(self, data: bytes) -> bool:
        if self._first_data and data:
            self._first_data = False
            if data[0] == _TLS_HANDSHAKE:
                self.will_close = True
                return False
        return bool(super().received(data))


def channel_class(
    spool_directory: str | None, find_tap: TapFinder | None = None
) -> type[HTTPChannel]:
    """The channel class for a server whose bodies spool into ``spool_directory``."""
    parser = type(
        "SpoolingRequestParser",
        (SpoolingRequestParser,),
        {
            "spool_directory": spool_directory,
            "find_tap": staticmethod(find_tap) if find_tap is not None else None,
        },
    )
    return type("PlainHTTPChannel", (PlainHTTPChannel,), {"parser_class": parser})
