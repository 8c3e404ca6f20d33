"""The authorize step's entry point: privileged signatures (spec §1.7), then the
configured backend; and the protocol every ``auth_backend`` implements."""

from __future__ import annotations

import base64
from typing import Any, Protocol

from ..config import ConfigError
from .model import AccessRequest, Grant


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
