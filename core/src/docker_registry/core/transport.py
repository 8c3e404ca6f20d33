"""Waitress plumbing tuned for a registry: bodies spooled for adoption, refused bodies
neither stored nor invited (``100 Continue``), TLS probes refused at once."""

from __future__ import annotations

from typing import Any

from waitress.buffers import ReadOnlyFileBasedBuffer
from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.task import ErrorTask, WSGITask

from .access_log import log_server_answer
from .middleware import new_request_id
from .proxies import PEER_KEY
from .sendbuffer import SendBuffer
from .spool import BodyGate, BodySpool, TapFinder

#: Socket read size: waitress's 8 KiB default caps uploads far below disk speed.
RECV_BYTES = 1024 * 1024
#: Bodies above this go to a spool file rather than memory.
INBUF_OVERFLOW = 512 * 1024
#: A response's bytes waiting for a slow client: the worker thread waits above this.
OUTBUF_HIGH_WATERMARK = 2 * 1024 * 1024
#: ... and never spill to a temporary file below this (waitress's default, 1 MiB, would
#: write every streamed download block to disk and read it back).
OUTBUF_OVERFLOW = 4 * 1024 * 1024


#: First byte of a TLS handshake record.
_TLS_HANDSHAKE = 0x16


class SpoolingRequestParser(HTTPRequestParser):
    """Receives every request body into a :class:`~.spool.BodySpool` in
    :attr:`spool_directory`, which storage can then adopt without a copy, with the tap
    :attr:`find_tap` gives for the request (an upload's next chunk); a body whose request
    :attr:`gate` refuses is discarded as it arrives (the app answers 401/403).

    ``Expect: 100-continue``: waitress sends ``100 Continue`` as soon as the headers are
    in. A request refused at header time (by :attr:`gate`, or too large for
    ``max_request_body_size``) gets no ``100``: it is answered at once without its body,
    and the connection is closed after the answer (RFC 9110 §10.1.1: the body the client
    may still send is never read as a next request).
    """

    spool_directory: str | None = None
    find_tap: TapFinder | None = None
    gate: BodyGate | None = None
    #: the gate refused this request's body at header time.
    body_gated = False
    # waitress's own attributes, typed for this subclass
    expect_continue: bool
    completed: bool
    headers_finished: bool

    def received(self, data: bytes) -> int:
        in_headers = not self.headers_finished
        consumed = int(super().received(data))
        if not (in_headers and self.headers_finished and self.expect_continue):
            return consumed
        if self.error is not None:
            # NOTE: waitress answers these (413, 400) without the body; a 100 first
            # would invite a body that is never read.
            self.expect_continue = False
            return consumed
        if self.body_gated and not self.completed:
            self.expect_continue = False
            self.completed = True
            self.headers["CONNECTION"] = "close"
            # NOTE: body bytes sent along with the headers are dropped with the request.
            return len(data)
        return consumed

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if self.body_rcv is not None:
            if self.gate is not None and self._refused():
                spool = BodySpool(self.spool_directory, INBUF_OVERFLOW)
                spool.refuse()
                self.body_gated = True
            else:
                finder = self.find_tap
                tap = finder(self.command, self.path) if finder is not None else None
                spool = BodySpool(self.spool_directory, INBUF_OVERFLOW, tap)
            self.body_rcv.buf = spool

    def _refused(self) -> bool:
        assert self.gate is not None
        # NOTE: the same path and header names the application sees: PATH_INFO decoded
        # as Falcon decodes it, header names with dashes.
        path = self.path.encode("latin-1").decode("utf-8", "replace") or "/"
        headers = {name.replace("_", "-"): value for name, value in self.headers.items()}
        try:
            return self.gate(self.command, path, headers)
        except Exception:  # noqa: BLE001 - the app decides again and answers
            return False


class PeerRecordingTask(WSGITask):
    """Keeps the connection's peer in the environ (:data:`~.proxies.PEER_KEY`) before
    waitress replaces ``REMOTE_ADDR`` with the address a trusted proxy names."""

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ.setdefault(PEER_KEY, self.channel.addr[0] if self.channel.addr else "")
        return environ


class LoggedErrorTask(ErrorTask):
    """waitress's own answer to a request it cannot accept (a malformed request line or
    header, headers or a body over the limits: 400, 413, 431...), logged in the access
    log like every other request (the application never sees it)."""

    def execute(self) -> None:
        super().execute()
        request = self.request
        log_server_answer(
            request_id=new_request_id(),
            client=self.channel.addr[0] if self.channel.addr else "",
            method=getattr(request, "command", None),
            uri=getattr(request, "request_uri", None),
            headers=request.headers,
            status=int(self.status.split(" ", 1)[0]),
            bytes_out=self.content_length or 0,
        )


class PlainHTTPChannel(HTTPChannel):
    """A waitress channel that hangs up on a TLS handshake at once, and sends responses
    from the blocks the application wrote (:class:`~.sendbuffer.SendBuffer`).

    Clients such as skopeo and podman try HTTPS first; waitress would wait for a request
    line that never comes, and the client only falls back to plain HTTP after its own
    10 s timeout. Closing the connection makes it fall back immediately.
    """

    _first_data = True
    task_class = PeerRecordingTask
    error_task_class = LoggedErrorTask

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outbufs = [SendBuffer()]

    def write_soon(self, data: Any) -> int:
        """waitress 3's ``write_soon`` with :class:`~.sendbuffer.SendBuffer` as the
        writable buffer (a file from ``wsgi.file_wrapper`` is queued as it is)."""
        if not self.connected:
            raise ClientDisconnected
        if not data:
            return 0
        with self.outbuf_lock:
            self._flush_outbufs_below_high_watermark()
            if not self.connected:
                raise ClientDisconnected
            num_bytes = len(data)
            if isinstance(data, ReadOnlyFileBasedBuffer):
                self.outbufs.append(data)
                self.outbufs.append(SendBuffer())
            else:
                if not isinstance(self.outbufs[-1], SendBuffer):
                    self.outbufs.append(SendBuffer())
                self.outbufs[-1].append(data)
            self.current_outbuf_count = 0
            self.total_outbufs_len += num_bytes
            if self.total_outbufs_len >= self.adj.send_bytes:
                flushed, exception = self._flush_exception(self._flush_some, do_close=False)
                if exception or not flushed or self.total_outbufs_len >= self.adj.send_bytes:
                    self.server.pull_trigger()
            return num_bytes

    def received(self, data: bytes) -> bool:
        if self._first_data and data:
            self._first_data = False
            if data[0] == _TLS_HANDSHAKE:
                self.will_close = True
                return False
        return bool(super().received(data))


def channel_class(
    spool_directory: str | None,
    find_tap: TapFinder | None = None,
    gate: BodyGate | None = None,
) -> type[HTTPChannel]:
    """The channel class for a server whose bodies spool into ``spool_directory`` (with
    the taps ``find_tap`` sets up), unless ``gate`` refuses their request."""
    parser = type(
        "SpoolingRequestParser",
        (SpoolingRequestParser,),
        {
            "spool_directory": spool_directory,
            "find_tap": staticmethod(find_tap) if find_tap is not None else None,
            "gate": staticmethod(gate) if gate is not None else None,
        },
    )
    return type("PlainHTTPChannel", (PlainHTTPChannel,), {"parser_class": parser})
