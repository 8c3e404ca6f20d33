"""Serve the application with waitress, tuned for large layer transfers."""

from __future__ import annotations

import logging

import falcon
import waitress
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser

from .config import Settings
from .spool import BodySpool

log = logging.getLogger(__name__)

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


def serve(
    app: falcon.App,
    settings: Settings,
    *,
    host: str,
    port: int,
    threads: int,
    spool_directory: str | None = None,
) -> None:
    """Run waitress until interrupted.

    :param app: the application from :func:`~docker_registry.core.app.create_app`.
    :param settings: for ``max_request_body_size`` (the largest layer accepted).
    :param host: interface to bind (``0.0.0.0`` for all).
    :param port: TCP port; 0 picks a free one.
    :param threads: worker threads.
    :param spool_directory: where request bodies are received (the storage's
        :attr:`~.Storage.spool_directory`; ``None``: the system's temporary directory).
    """
    server = waitress.create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        max_request_body_size=settings.max_request_body_size,
        recv_bytes=RECV_BYTES,
        inbuf_overflow=INBUF_OVERFLOW,
        ident="docker-registry",
        clear_untrusted_proxy_headers=True,
        channel_timeout=300,
    )
    server.channel_class = type(
        "PlainHTTPChannel",
        (PlainHTTPChannel,),
        {
            "parser_class": type(
                "SpoolingRequestParser",
                (SpoolingRequestParser,),
                {"spool_directory": spool_directory},
            )
        },
    )
    # NOTE: waitress warns "Task queue depth is N" whenever every thread is busy, which
    # under load is every request: a flood in the log and 3% of the CPU. Errors stay.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    bound_host, bound_port = server.effective_host, server.effective_port
    log.info(
        "docker-registry serving on http://%s:%s (flavor %s, storage %s, %d threads)",
        bound_host,
        bound_port,
        settings.flavor,
        settings.storage,
        threads,
    )
    try:
        server.run()
    except KeyboardInterrupt:
        log.info("docker-registry stopping")
    finally:
        server.close()
