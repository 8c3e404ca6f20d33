"""The access log: one record per request on the ``docker_registry.access`` logger.

Fields (the JSON line's keys; the text line shows them in this order)::

    client      address of the client (the one a trusted proxy names, see .proxies)
    account     the authenticated account, "-" when anonymous or refused
    method      GET, PUT...
    path        path and query, upload state tokens masked (_state=***)
    status      the response's status code
    bytes_in    request body bytes received (chunked bodies counted too)
    bytes_out   response body bytes, when known before sending
    duration_ms time from routing to the response, in milliseconds
    repository  the repository the request was decided on, when there is one
    reference   the digest (v2) or image id (v1) concerned, when known
    user_agent  the client's User-Agent
    request_id  also set on every other record logged during the request (.logs)
"""

from __future__ import annotations

import logging
import re
from typing import Any

import falcon

logger = logging.getLogger("docker_registry.access")

_STATE_VALUE = re.compile(r"([?&]_state=)[^&]*")
#: Control characters (and the backslash that escapes them): a client must not be able
#: to start a forged log line with a percent-encoded newline in its path.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\\]")
_V1_IMAGE = re.compile(r"^/v1/images/([0-9a-fA-F]{1,128})(?:/|$)")
_V2_DIGEST = re.compile(r"/(?:blobs|manifests)/([a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Za-z0-9=_-]+)$")

TEXT_LINE = (
    '%(client)s %(account)s "%(method)s %(path)s" %(status)s in=%(bytes_in)s '
    "out=%(bytes_out)s %(duration_ms).1fms id=%(request_id)s repo=%(repository)s "
    'ref=%(reference)s ua="%(user_agent)s"'
)


def loggable_uri(uri: str) -> str:
    """``uri`` with upload state tokens masked (anyone who reads the log must not be
    able to continue, or finish, someone else's upload) and control characters escaped."""
    if "_state=" in uri:
        uri = _STATE_VALUE.sub(r"\1***", uri)
    return printable(uri)


def printable(text: str) -> str:
    """``text`` with control characters written as ``\\xNN`` (one record, one line)."""
    return _UNPRINTABLE.sub(lambda match: f"\\x{ord(match[0]):02x}", text)


def access_fields(
    req: falcon.Request, resp: falcon.Response, request_id: str, duration: float
) -> dict[str, Any]:
    """The access log's fields for a request answered with ``resp`` (see the module)."""
    decision = getattr(req.context, "access", None)
    grant = getattr(decision, "grant", None)
    target = getattr(decision, "target", None)
    return {
        "request_id": request_id,
        "client": req.remote_addr or "-",
        "account": printable(getattr(grant, "account", None) or "-"),
        "method": req.method,
        "path": loggable_uri(req.relative_uri),
        "status": resp.status_code,
        "bytes_in": _bytes_in(req),
        "bytes_out": _bytes_out(resp),
        "duration_ms": round(duration * 1000, 3),
        "repository": getattr(target, "repository", None),
        "reference": _reference(req, resp),
        "user_agent": printable(req.user_agent or "-"),
    }


def log_request(
    req: falcon.Request, resp: falcon.Response, request_id: str, duration: float
) -> None:
    """Log the access record of a request (nothing when INFO is off for the logger)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    _log(access_fields(req, resp, request_id, duration))


def log_server_answer(
    *,
    request_id: str,
    client: str,
    method: str | None,
    uri: str | None,
    headers: dict[str, str],
    status: int,
    bytes_out: int,
) -> None:
    """Log the access record of a request the HTTP server answered itself (unparsable,
    headers or body too large): the application never saw it, so there is no account,
    repository or duration."""
    if not logger.isEnabledFor(logging.INFO):
        return
    _log(
        {
            "request_id": request_id,
            "client": client or "-",
            "account": "-",
            "method": printable(method or "-"),
            "path": loggable_uri(uri or "-"),
            "status": status,
            "bytes_in": 0,
            "bytes_out": bytes_out,
            "duration_ms": 0.0,
            "repository": None,
            "reference": None,
            "user_agent": printable(headers.get("USER_AGENT", "-")),
        }
    )


def _log(fields: dict[str, Any]) -> None:
    text = {key: "-" if value is None else value for key, value in fields.items()}
    logger.info(TEXT_LINE, text, extra={"access": fields})


def _bytes_in(req: falcon.Request) -> int:
    # NOTE: the spooled body knows its size even when the client sent it chunked.
    stream = req.env.get("wsgi.input")
    size = getattr(getattr(stream, "stream", stream), "body_size", None)
    if isinstance(size, int):
        return size
    return req.content_length or 0


def _bytes_out(resp: falcon.Response) -> int | None:
    if resp.content_length is not None:
        return int(resp.content_length)
    data = resp.data
    return len(data) if data is not None else None


def _reference(req: falcon.Request, resp: falcon.Response) -> str | None:
    digest = resp.get_header("Docker-Content-Digest")
    if digest:
        return printable(digest)
    image = _V1_IMAGE.match(req.path)
    if image:
        return image[1]
    named = _V2_DIGEST.search(req.path)
    return printable(named[1]) if named else None
