"""Logging set-up for the server process: ``log_format`` (text or JSON lines), level,
and the request id carried by every record logged while a request is served.

A record logged on a request's thread (a traceback, a storage error, a plugin's
warning) carries that request's id: :class:`RequestContextMiddleware
<.middleware.RequestContextMiddleware>` binds it with :func:`bind_request_id`, and the
handler's filter copies it into ``record.request_id``. Text lines show it as
``[<id>]`` after the logger name; JSON lines as ``"request_id"``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"
DATE_FORMAT = "%d/%b/%Y:%H:%M:%S %z"

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "docker_registry_request_id", default=None
)


def bind_request_id(request_id: str) -> contextvars.Token[str | None]:
    """Tag every record logged from now on in this context with ``request_id``; undo
    with :func:`unbind_request_id`."""
    return _request_id.set(request_id)


def unbind_request_id(token: contextvars.Token[str | None]) -> None:
    """Stop tagging records with the id bound by :func:`bind_request_id`."""
    _request_id.reset(token)


def current_request_id() -> str | None:
    """The id of the request being served in this context, if any."""
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Copy the current request id into ``record.request_id`` (``None`` outside a
    request; an id the caller already set in ``extra`` is kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        return True


class TextFormatter(logging.Formatter):
    """The seed's line, with ``[<request id>]`` after the logger name during a request."""

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT, DATE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.request_tag = f" [{request_id}]" if request_id else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line for log shippers: ``time`` (RFC 3339, UTC), ``level``,
    ``logger``, ``message``, ``request_id`` when in a request, the access log's fields
    (``record.access``) and ``exception`` (the traceback text) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            document["request_id"] = request_id
        fields = getattr(record, "access", None)
        if isinstance(fields, dict):
            document.update(fields)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = record.stack_info
        return json.dumps(document, default=str, ensure_ascii=False)


def _rfc3339(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def configure_logging(level: str, log_format: str = "text") -> None:
    """Send logs to stderr at ``level`` (a logging level name, any case), as text lines
    or JSON lines (``log_format``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    logging.basicConfig(handlers=[handler], level=level.upper(), force=True)
    # NOTE: waitress logs every queue backlog at WARNING; keep them, but not its INFO chatter.
    logging.getLogger("waitress").setLevel(max(logging.WARNING, logging.getLogger().level))
