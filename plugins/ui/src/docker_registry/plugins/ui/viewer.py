"""Who is looking, and what they may see: the registry's own authorize step, asked with
the API route each page shows.

The pages live under an *open* prefix (:meth:`AccessControl.open_prefix`): the
application's middleware lets every request through, and each page asks the same
:class:`~docker_registry.core.access.control.AccessControl` the APIs use, with the
route whose data it shows and the browser's own headers (HTTP Basic for ``htpasswd``):

======================================  =============================================
page                                    decided as
======================================  =============================================
repository list (search)                ``GET /v1/search`` (a listing: every result
                                        filtered by ``pull``, as the APIs' search)
v2 repository, manifest, referrers      ``GET /v2/<name>/tags/list``, ``.../manifests/<ref>``
v2 delete of a tag or manifest          ``DELETE /v2/<name>/manifests/<ref>``
v1 repository and its images            ``GET /v1/repositories/<name>/tags``
v1 delete of a tag / of the repository  ``DELETE /v1/repositories/<name>/tags/<tag>``,
                                        ``DELETE /v1/repositories/<name>/``
sign in                                 ``GET /v2/`` (valid credentials)
======================================  =============================================

A refusal (:class:`~docker_registry.core.access.model.Refused`) keeps its status: the
page answers 401 (with the backend's ``Basic`` challenge, so the browser asks for a
password), 403 or 429.
"""

from __future__ import annotations

from typing import Any

import falcon

from docker_registry.core.access.model import DELETE, Decision, Refused
from docker_registry.core.access.routes import canonical_v2

#: The one challenge browsers answer by asking for a user name and password.
BASIC = "basic"


class Viewer:
    """The request's viewer as the authorize step sees them.

    :param control: the application's authorize step (``registry.access``).
    :param req: the page request; its headers carry the credentials.
    """

    def __init__(self, control: Any, req: falcon.Request) -> None:
        self.control = control
        self.req = req

    def decide(self, method: str, path: str) -> Decision:
        """Decide ``method path`` (an API route) with this request's credentials.

        :raises Refused: 401, 403 or 429, as the API would answer.
        """
        req = self.req
        return self.control.decide(method, path, req.headers, req.remote_addr, req.scheme)

    # -- pages --------------------------------------------------------------------------

    def listing(self) -> Decision:
        """The repository list: what ``/v1/search`` would show this viewer."""
        return self.decide("GET", "/v1/search")

    def v2_pull(self, name: str, reference: str | None = None) -> Decision:
        """Read a v2 repository (its tags, or one manifest)."""
        if reference is None:
            return self.decide("GET", f"/v2/{name}/tags/list")
        return self.decide("GET", f"/v2/{name}/manifests/{reference}")

    def v2_delete(self, name: str, reference: str) -> Decision:
        """Delete a v2 tag or manifest."""
        return self.decide("DELETE", f"/v2/{name}/manifests/{reference}")

    def v1_pull(self, name: str) -> Decision:
        """Read a v1 repository (``<namespace>/<repository>``) and its images."""
        return self.decide("GET", f"/v1/repositories/{name}/tags")

    def v1_delete_tag(self, name: str, tag: str) -> Decision:
        return self.decide("DELETE", f"/v1/repositories/{name}/tags/{tag}")

    def v1_delete_repository(self, name: str) -> Decision:
        return self.decide("DELETE", f"/v1/repositories/{name}/")

    def sign_in(self) -> Decision:
        """Valid credentials, as ``GET /v2/`` asks for them."""
        return self.decide("GET", "/v2/")

    # -- what to offer ------------------------------------------------------------------

    @staticmethod
    def account(decision: Decision) -> str | None:
        return decision.grant.account

    @staticmethod
    def may_delete_v2(decision: Decision, name: str) -> bool:
        """May the viewer of a v2 page delete in it (decides the buttons, not the delete)."""
        return decision.may(canonical_v2(name), DELETE)

    @staticmethod
    def may_delete_v1(decision: Decision, name: str) -> bool:
        return decision.may(name, DELETE)

    def basic_challenge(self) -> str | None:
        """The backend's challenge when a browser can answer it (HTTP Basic), else None."""
        challenge = self.control.challenge()
        if isinstance(challenge, str) and challenge.lower().startswith(BASIC):
            return challenge
        return None


def refusal_status(refused: Refused) -> str:
    """The HTTP status line of a refusal."""
    return falcon.code_to_http_status(refused.status)
