"""The backend protocol, the v1 backends (spec §1.6-1.7) and the privileged signature.

A backend is chosen by config ``auth_backend`` among the :class:`AuthBackendSpec` records
offered through ``registry_auth_backends``; the default is ``open`` when ``standalone``
or ``disable_token_auth`` is true, else ``token``. A backend implements
:class:`AuthBackend`; the one authorize step (:mod:`docker_registry.core.access`) calls
it through :class:`Authorizer` for every route of both APIs, so v2 honours what the v1
backends decide.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import urllib.error
import urllib.request
from typing import Any, Protocol

from ..access.model import AccessRequest, Grant
from ..config import ConfigError
from ..config.keys.v1 import INDEX_TIMEOUT
from ..storage import Storage
from . import layout

__all__ = ["AccessRequest", "AuthBackend", "Authorizer", "Grant", "OpenAuth", "TokenAuth"]

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


class AuthBackend(Protocol):
    """What an ``auth_backend`` must answer. Every method must be thread-safe.

    Optional members the authorize step uses when present: ``permits(grant, repository,
    action) -> bool`` (listings and mount sources; without it a grant covers only the
    repository it names), ``refuses_early(request) -> bool`` (cheap checks, no network,
    run before a body is spooled), ``challenge`` (the ``WWW-Authenticate`` value of a
    401; default ``Token``), ``unrestricted`` (every request allowed) and
    ``image_ids_registry_wide`` (v1 image routes are not narrowed to the repositories
    holding the image, :mod:`docker_registry.core.v1.image_access`; the ``token``
    backend's own rules, spec §1.6).
    """

    def authorize(self, request: AccessRequest) -> Grant | None:
        """Allow (a :class:`Grant`) or deny (``None`` -> 401) one request; raise
        :class:`~docker_registry.core.access.model.Refused` to answer 403 or 429."""

    def parent_access(self, request: AccessRequest, grant: Grant, image_id: str) -> bool:
        """May this caller use/read image ``image_id`` (parent checks, private gate)?"""

    def image_allowed(self, request: AccessRequest, grant: Grant, image_id: str) -> bool:
        """May ``PUT json`` store ``image_id`` for the caller's repository?"""


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


def read_privileged_key(path: str) -> Any:
    """The ``privileged_key`` file as a key object.

    :raises ConfigError: the file is missing or not an RSA public key.
    """
    try:
        with open(path, "rb") as stream:
            pem = stream.read()
    except OSError as exc:
        raise ConfigError(f"Heads-up! File is missing: {path}", key="privileged_key") from exc
    try:
        return load_public_key(pem)
    except ValueError as exc:
        raise ConfigError(f"Key at {path} is not a valid RSA key", key="privileged_key") from exc


def load_public_key(pem: bytes) -> Any:
    """Load an RSA public key from PKCS#1 (``RSA PUBLIC KEY``) or SPKI (``PUBLIC KEY``) PEM.

    :raises ValueError: not an RSA public key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    # NOTE: cryptography reads both "RSA PUBLIC KEY" (PKCS#1) and "PUBLIC KEY" (SPKI).
    key = serialization.load_pem_public_key(pem.strip())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def signature_message(request: AccessRequest) -> bytes:
    """Method, path, then ``Name:value`` of every ``X-Docker*`` header sorted by name."""
    parts = [request.method, request.path]
    docker = sorted(
        (_header_case(name), value)
        for name, value in request.headers.items()
        if name.upper().startswith("X-DOCKER")
    )
    parts.extend(f"{name}:{value}" for name, value in docker)
    return ",".join(parts).encode("utf-8")


def _header_case(name: str) -> str:
    # NOTE: the seed saw Werkzeug's spelling of header names (``X-Docker-Token``).
    return name.title()


class Authorizer:
    """The one entry point resources use: privileged signature first, then the backend.

    :param backend: the configured :class:`AuthBackend`.
    :param privileged_key: an RSA public key object, or ``None``.
    """

    def __init__(self, backend: AuthBackend, privileged_key: Any = None) -> None:
        self.backend = backend
        self.privileged_key = privileged_key

    def authorize(self, request: AccessRequest) -> Grant | None:
        if self.signed(request):
            return Grant(privileged=True)
        return self.backend.authorize(request)

    def signed(self, request: AccessRequest) -> bool:
        """True when the request carries a valid privileged signature."""
        return self.privileged_key is not None and self._signature_valid(request)

    def permits(self, request: AccessRequest, grant: Grant, repository: str, action: str) -> bool:
        """May ``grant`` do ``action`` on ``repository`` (for listings, mount sources)?"""
        if grant.all_access:
            return True
        permits = getattr(self.backend, "permits", None)
        if permits is not None:
            return bool(permits(grant, repository, action))
        # NOTE: a backend that cannot say covers only the repository it granted.
        return grant.repository is not None and grant.repository == repository

    def parent_access(self, request: AccessRequest, grant: Grant, image_id: str) -> bool:
        return grant.privileged or self.backend.parent_access(request, grant, image_id)

    def image_allowed(self, request: AccessRequest, grant: Grant, image_id: str) -> bool:
        return grant.privileged or self.backend.image_allowed(request, grant, image_id)

    def _signature_valid(self, request: AccessRequest) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = request.headers.get("X-SIGNATURE", "")
        if not header:
            return False
        fields = dict(item.split("=", 1) for item in header.split(";") if "=" in item)
        try:
            signature = base64.b64decode(fields.get("data", ""), validate=False)
            self.privileged_key.verify(
                signature, signature_message(request), padding.PKCS1v15(), hashes.SHA1()
            )
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True
