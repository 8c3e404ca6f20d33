"""The authorize step in the application: before routing, every request is decided.

:class:`AccessMiddleware` runs after the request id is set and before any resource: a
refusal is answered in the API's own envelope (v1 ``{"error": ...}``, v2 OCI
``UNAUTHORIZED``/``DENIED``/``TOOMANYREQUESTS``) with the backend's challenge on 401; an
allowed request carries its :class:`.model.Decision` in ``req.context.access``.

Routers call :func:`confirm` with the repository they are about to act on: a name the
route table did not decide on (a router and the table disagreeing) is refused, never
served.
"""

from __future__ import annotations

import falcon

from ..http_errors import RegistryError
from ..spool import body_refused
from .control import AccessControl
from .model import IMAGE, REPOSITORY, Decision, Refused

#: The message v1 clients have always received on a 401 (spec §1.6).
V1_UNAUTHORIZED = "Requires authorization"
_V2_CODES = {401: "UNAUTHORIZED", 403: "DENIED", 429: "TOOMANYREQUESTS"}


class AccessMiddleware:
    """Decide every request before routing (see the module docstring).

    :param control: the application's authorize step.
    """

    def __init__(self, control: AccessControl) -> None:
        self.control = control

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.access_control = self.control
        try:
            decision = self.control.decide(
                req.method, req.path, req.headers, req.remote_addr, req.scheme
            )
        except Refused as refused:
            raise refusal_error(req, self.control, refused) from None
        if body_refused(req.env.get("wsgi.input")):
            # NOTE: the transport discarded this body because the request looked
            # unauthorized; it must never reach a resource as an empty body.
            raise refusal_error(
                req,
                self.control,
                Refused(401, "the request body was refused before authorization; retry"),
            )
        req.context.access = decision


def refusal_error(req: falcon.Request, control: AccessControl, refused: Refused) -> RegistryError:
    """The response for a refusal, in the envelope of the request's API."""
    headers = dict(refused.headers)
    if refused.status == 401 and "WWW-Authenticate" not in headers:
        _, request = control.access_request(
            req.method, req.path, req.headers, req.remote_addr, req.scheme
        )
        challenge = control.challenge(request)
        if challenge:
            headers["WWW-Authenticate"] = challenge
    v2 = req.path == "/v2" or req.path.startswith("/v2/")
    message = refused.message
    if not v2 and refused.status == 401:
        message = V1_UNAUTHORIZED
    if v2:
        headers.setdefault("Docker-Distribution-API-Version", "registry/2.0")
    return RegistryError(
        refused.status, message, code=_V2_CODES.get(refused.status), headers=headers
    )


def decision_of(req: falcon.Request) -> Decision:
    """The request's decision. :raises RuntimeError: the authorize step did not run
    (an application built without :class:`AccessMiddleware` must not serve)."""
    decision = getattr(req.context, "access", None)
    if decision is None:
        raise RuntimeError(f"no access decision for {req.method} {req.path}")
    return decision


def confirm(req: falcon.Request, repository: str | None) -> Decision:
    """Check that the decision covers ``repository`` (canonical name; ``None`` for v1
    image routes), the one a router is about to act on.

    :raises RegistryError: 401/403 in the API's envelope when it does not.
    """
    decision = decision_of(req)
    target = decision.target
    if decision.all_access:
        return decision
    if repository is None and target.kind == IMAGE:
        return decision
    if target.kind == REPOSITORY and target.repository == repository:
        return decision
    status = 401 if decision.grant.account is None else 403
    raise refusal_error(
        req,
        req.context.access_control,
        Refused(status, f"access to {repository or 'this route'} was not decided"),
    )
