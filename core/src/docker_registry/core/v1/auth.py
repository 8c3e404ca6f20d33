"""The backend protocol, the v1 backends (spec §1.6-1.7) and the privileged signature.

A backend is chosen by config ``auth_backend`` among the :class:`AuthBackendSpec` records
offered through ``registry_auth_backends``; the default is ``open`` when ``standalone``
or ``disable_token_auth`` is true, else ``token``. A backend implements
:class:`AuthBackend`; the one authorize step (:mod:`docker_registry.core.access`) calls
it through :class:`Authorizer` for every route of both APIs, so v2 honours what the v1
backends decide.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from typing import Any

from ..access.authorizer import (
    AuthBackend,
    Authorizer,
    load_public_key,
    read_privileged_key,
    signature_message,
)
from ..access.model import AccessRequest, Grant
from ..config import ConfigError
from ..config.keys.v1 import INDEX_TIMEOUT
from ..storage import Storage
from . import layout

# NOTE: AuthBackend, Authorizer and the privileged-key helpers live in access.authorizer;
# they are importable from here too, where 0.9.1-era backends look for them.
__all__ = [
    "AccessRequest",
    "AuthBackend",
    "Authorizer",
    "Grant",
    "OpenAuth",
    "TokenAuth",
    "load_public_key",
    "read_privileged_key",
    "signature_message",
]

log = logging.getLogger(__name__)

_FIELD = re.compile(r'\s*([A-Za-z0-9_]+)\s*=\s*("([^"]*)"|[^,\s]*)\s*,?')

#: HTTP method each token ``access`` value allows (v1 requests, as the seed checked).
ACCESS_METHODS = {"write": ("POST", "PUT"), "read": ("GET",), "delete": ("DELETE",)}
#: Actions each token ``access`` value allows on v2 requests (a v2 push reads blobs too).
ACCESS_ACTIONS = {
    "write": ("pull", "push"),
    "read": ("pull",),
    "delete": ("pull", "delete"),
}


def token_fields(authorization: str) -> dict[str, str]:
    """Parse ``Token k=v,k2="v2"`` (any scheme) leniently into a dict."""
    _, _, rest = authorization.strip().partition(" ")
    fields = {}
    for match in _FIELD.finditer(rest):
        fields[match.group(1)] = match.group(3) if match.group(3) is not None else match.group(2)
    return fields


def token_repository(authorization: str) -> tuple[str, str] | None:
    """The seed's ``get_repository()``: ``(ns, repo)`` named by the Authorization header."""
    if not authorization:
        return None
    name = token_fields(authorization).get("repository")
    if not name:
        return ("", "")
    if "/" not in name:
        return ("library", name)
    namespace, repository = name.split("/", 1)
    return namespace, repository


class OpenAuth:
    """Every request passes (standalone mode, ``disable_token_auth``); spec Q16."""

    unrestricted = True

    def __init__(self, registry: Any = None) -> None:
        pass

    def authorize(self, request: AccessRequest) -> Grant | None:
        named = token_repository(request.authorization)
        return Grant(
            repository=layout.full_name(*named) if named and named[0] else None,
            unrestricted=True,
        )

    def permits(self, grant: Grant, repository: str, action: str) -> bool:
        return True

    def parent_access(self, request: AccessRequest, grant: Grant, image_id: str) -> bool:
        return True

    def image_allowed(self, request: AccessRequest, grant: Grant, image_id: str) -> bool:
        return True


class TokenAuth:
    """Tokens issued by an index (``index_endpoint``), validated there on every request.

    :param storage: to record the index's image list of a repository (``_images_list``).
    :param index_endpoint: base URL of the index, without trailing ``/``.
    :param timeout: seconds per call to the index.
    """

    #: spec §1.6: an index token reads any image id; the index and the ``_private``
    #: gate (``parent_access``) decide, not the registry's image index.
    image_ids_registry_wide = True

    def __init__(self, storage: Storage, index_endpoint: str, timeout: float = 10.0) -> None:
        self.storage = storage
        self.index_endpoint = index_endpoint.rstrip("/")
        self.timeout = timeout

    @classmethod
    def from_registry(cls, registry: Any) -> TokenAuth:
        endpoint = registry.settings.index_endpoint
        if not endpoint:
            raise ConfigError("auth_backend 'token' needs index_endpoint", key="index_endpoint")
        timeout = INDEX_TIMEOUT.read(registry.settings)
        return cls(registry.storage, endpoint, timeout)

    def _get_json(self, path: str, authorization: str) -> Any:
        request = urllib.request.Request(
            self.index_endpoint + path, headers={"Authorization": authorization}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if response.status != 200:
                    return None
                return json.loads(response.read(4 * 1024 * 1024))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.info("index %s refused or failed %s: %s", self.index_endpoint, path, exc)
            return None

    def _token_repository(self, request: AccessRequest) -> str | None:
        """The ``<ns>/<repo>`` of the request's index token when the token can allow this
        request at all, else ``None``: not a ``Token``, another repository than the
        route's, an ``access`` that does not cover the method (v1) or action (v2), or a
        repository without a namespace. No network I/O: the index is asked afterwards."""
        authorization = request.authorization
        scheme, _, _ = authorization.strip().partition(" ")
        if scheme.lower() != "token":
            return None
        fields = token_fields(authorization)
        token_repo = fields.get("repository", "")
        if request.namespace is not None and token_repo != layout.full_name(
            request.namespace, request.repository or ""
        ):
            return None
        access = fields.get("access")
        if request.api == "v2":
            allowed = (*ACCESS_ACTIONS.get(access or "", ACCESS_ACTIONS["write"]), None, "catalog")
            if access in ACCESS_ACTIONS and request.action not in allowed:
                return None
        elif access in ACCESS_METHODS and request.method not in ACCESS_METHODS[access]:
            return None
        if "/" not in token_repo:
            return None
        return token_repo

    def authorize(self, request: AccessRequest) -> Grant | None:
        token_repo = self._token_repository(request)
        if token_repo is None:
            return None
        authorization = request.authorization
        images = self._get_json(f"/v1/repositories/{token_repo}/images", authorization)
        if not isinstance(images, list) or not all(
            isinstance(item, dict) and "id" in item for item in images
        ):
            return None
        namespace, repository = token_repo.split("/", 1)
        ids = [str(item["id"]) for item in images]
        try:
            self.storage.put_content(
                layout.images_list_path(namespace, repository), json.dumps(ids).encode()
            )
        except Exception:
            log.warning("cannot record the image list of %s", token_repo, exc_info=True)
        return Grant(repository=token_repo)

    def refuses_early(self, request: AccessRequest) -> bool:
        """A token :meth:`authorize` refuses without asking the index (none, malformed,
        for another repository, or whose ``access`` does not cover the request): refused
        before the body. A well-formed token the index does not know is refused only
        after the body: asking the index takes a network call, which must not block the
        server's I/O thread that runs this check."""
        return self._token_repository(request) is None

    def permits(self, grant: Grant, repository: str, action: str) -> bool:
        """An index token covers the one repository it names."""
        if not grant.repository or "/" not in repository:
            return False
        return grant.repository == layout.full_name(*layout.parse_repository_name(repository))

    def parent_access(self, request: AccessRequest, grant: Grant, image_id: str) -> bool:
        if not grant.repository:
            return False
        answer = self._get_json(
            f"/v1/repositories/{grant.repository}/layer/{image_id}/access",
            request.authorization,
        )
        return isinstance(answer, dict) and answer.get("access") is True

    def image_allowed(self, request: AccessRequest, grant: Grant, image_id: str) -> bool:
        if not grant.repository or "/" not in grant.repository:
            return False
        namespace, repository = grant.repository.split("/", 1)
        try:
            ids = json.loads(
                self.storage.get_content(layout.images_list_path(namespace, repository))
            )
        except Exception:  # noqa: BLE001 - missing or unreadable list: not allowed
            return False
        return isinstance(ids, list) and image_id in ids
