"""The request being served on this thread, for code that runs inside it without being
handed it (the notifications' ``registry_event`` listener reads who asked, from where).

:class:`~.middleware.RequestContextMiddleware` binds it for the whole request.
"""

from __future__ import annotations

import contextvars
from typing import Any

_current: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "docker_registry_request", default=None
)


def bind_request(req: Any) -> contextvars.Token[Any]:
    """Make ``req`` (a ``falcon.Request``) the current request until
    :func:`unbind_request`."""
    return _current.set(req)


def unbind_request(token: contextvars.Token[Any]) -> None:
    """Forget the request bound by :func:`bind_request`."""
    _current.reset(token)


def current_request() -> Any:
    """The ``falcon.Request`` being served in this context, or ``None``."""
    return _current.get()
