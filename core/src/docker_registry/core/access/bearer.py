"""The ``bearer`` backend: the Docker registry token protocol, as CNCF distribution does it.

A request without a token is answered 401 with ``WWW-Authenticate: Bearer
realm="...",service="...",scope="repository:<name>:<actions>"``; the client fetches a
JSON Web Token at the realm (an external issuer, or the ``registry-plugin-issuer``
plugin) and sends ``Authorization: Bearer <jwt>``. Tokens are verified with PyJWT
against the keys of a certificate bundle (``rootcertbundle``) and/or a JWKS file
(``jwks``), signed with RS256/384/512, ES256/384/512 or EdDSA; ``iss`` must be the
configured ``issuer``, ``aud`` the ``service``, ``exp`` in the future (``nbf``/``iat``
checked too, with ``leeway``); what the token allows is its ``access`` claim::

    "access": [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]},
               {"type": "registry", "name": "catalog", "actions": ["*"]}]

A valid token without the action asked is answered 401 with ``error="insufficient_scope"``
(distribution answers so too; clients then ask the realm for the wider scope); an invalid
or expired one with ``error="invalid_token"``.

Key lookup: the token header's ``kid`` is the key id distribution (libtrust) computes for a
certificate's key (:func:`libtrust_key_id`), or a JWKS entry's ``kid``; a token without
``kid`` is tried against every trusted key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..config import ConfigError
from ..config.keys.core import BEARER_LEEWAY
from .model import (
    ANONYMOUS,
    CATALOG,
    DELETE,
    IMAGE,
    LISTING,
    LOGIN,
    PULL,
    PUSH,
    REGISTRY,
    AccessRequest,
    Grant,
    Refused,
)

log = logging.getLogger(__name__)

#: Algorithms accepted by default (distribution 2.8 signs RS*/ES*; EdDSA for newer issuers).
DEFAULT_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA")
_BY_KEY_TYPE = {
    "rsa": ("RS256", "RS384", "RS512"),
    "ec": ("ES256", "ES384", "ES512"),
    "ed25519": ("EdDSA",),
}
#: The scope a route asks for, per action (a push reads blobs too, as distribution asks).
SCOPE_ACTIONS = {PULL: "pull", PUSH: "pull,push", DELETE: "delete"}
#: Seconds between two looks for new keys of the built-in issuer (an unknown ``kid``).
KEY_REFRESH = 5.0
_V2_NAME = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags|referrers)/")

PublicKey = Any
KeySource = Callable[[], Mapping[str, PublicKey]]


def libtrust_key_id(key: PublicKey) -> str:
    """The key id distribution (libtrust) gives a public key: base32 of the first 240
    bits of the SHA-256 of its DER SubjectPublicKeyInfo, in 12 groups of 4 with ``:``."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def key_type(key: PublicKey) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    raise ValueError(f"unsupported key type {type(key).__name__} (use RSA, EC or Ed25519)")


def certificate_keys(pem: bytes) -> dict[str, PublicKey]:
    """``{libtrust key id: public key}`` of every certificate in a PEM bundle.

    :raises ValueError: no certificate, or a key type tokens cannot use.
    """
    certificates = x509.load_pem_x509_certificates(pem)
    keys = {}
    for certificate in certificates:
        key = certificate.public_key()
        key_type(key)
        keys[libtrust_key_id(key)] = key
    return keys


def jwks_keys(document: bytes) -> dict[str, PublicKey]:
    """``{kid: public key}`` of a JWKS document (keys without ``kid`` get the libtrust id).

    :raises ValueError: not a JWKS, or a key PyJWT cannot read.
    """
    try:
        parsed = json.loads(document)
        entries = parsed["keys"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a JWKS document ({exc})") from None
    keys = {}
    for entry in entries:
        try:
            key = jwt.PyJWK(entry).key
        except jwt.PyJWKError as exc:
            raise ValueError(f"JWKS key {entry.get('kid', '?')!r}: {exc}") from None
        if hasattr(key, "public_key") and not isinstance(
            key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)
        ):
            key = key.public_key()
        key_type(key)
        keys[str(entry.get("kid") or libtrust_key_id(key))] = key
    return keys


def canonical_name(name: str) -> str:
    """The name rules compare (a one-part name is ``library/<name>``, as the model says)."""
    return name if "/" in name else f"library/{name}"


def parse_access(claim: Any) -> frozenset[tuple[str, str, str]]:
    """The ``access`` claim as ``(type, canonical name, action)``; malformed entries are
    dropped."""
    scopes: set[tuple[str, str, str]] = set()
    if not isinstance(claim, list):
        return frozenset()
    for entry in claim:
        if not isinstance(entry, Mapping):
            continue
        kind, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
        if not isinstance(kind, str) or not isinstance(name, str) or not isinstance(actions, list):
            continue
        if kind == "repository":
            name = canonical_name(name)
        scopes.update((kind, name, action) for action in actions if isinstance(action, str))
    return frozenset(scopes)


class BearerAuth:
    """Verifies registry tokens (see the module docstring).

    :param service: the token audience, and ``service=`` of challenges.
    :param issuer: the ``iss`` tokens must carry.
    :param keys: ``{kid: public key}`` trusted.
    :param realm: the token endpoint's URL; ``None``: ``<scheme>://<host><realm_path>``
        of each request (set by the token issuer plugin through :meth:`use_issuer`).
    :param algorithms: the JWS algorithms accepted.
    :param leeway: seconds of clock skew allowed on ``exp``/``nbf``/``iat``.
    """

    unrestricted = False

    def __init__(
        self,
        *,
        service: str,
        issuer: str,
        keys: Mapping[str, PublicKey] | None = None,
        realm: str | None = None,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        leeway: float = 60.0,
    ) -> None:
        self.service = service
        self.issuer = issuer
        self.keys: dict[str, PublicKey] = dict(keys or {})
        self.realm = realm
        self.realm_path: str | None = None
        self.algorithms = tuple(algorithms)
        self.leeway = leeway
        self._source: KeySource | None = None
        self._lock = threading.Lock()
        self._asked = 0.0

    @classmethod
    def from_registry(cls, registry: Any) -> BearerAuth:
        """Read the ``bearer`` section. :raises ConfigError: naming the key."""
        section = registry.settings.get("bearer") or {}
        if not isinstance(section, Mapping):
            raise ConfigError("expected a mapping (realm, service, issuer...)", key="bearer")
        known = {"realm", "service", "issuer", "rootcertbundle", "jwks", "algorithms", "leeway"}
        unknown = sorted(set(map(str, section)) - known)
        if unknown:
            raise ConfigError(f"unknown field(s) {', '.join(unknown)}", key="bearer")
        for required in ("service", "issuer"):
            if not section.get(required):
                raise ConfigError(
                    f"auth_backend 'bearer' needs bearer.{required}", key=f"bearer.{required}"
                )
        keys: dict[str, PublicKey] = {}
        for field, reader in (("rootcertbundle", certificate_keys), ("jwks", jwks_keys)):
            path = section.get(field)
            if not path:
                continue
            try:
                with open(path, "rb") as stream:
                    keys.update(reader(stream.read()))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot use {path}: {exc}", key=f"bearer.{field}") from exc
        algorithms = section.get("algorithms") or DEFAULT_ALGORITHMS
        if isinstance(algorithms, str):
            algorithms = [algorithms]
        bad = sorted(set(map(str, algorithms)) - set(DEFAULT_ALGORITHMS))
        if bad:
            raise ConfigError(
                f"unsupported algorithm(s) {', '.join(bad)} (use {', '.join(DEFAULT_ALGORITHMS)})",
                key="bearer.algorithms",
            )
        leeway: float = BEARER_LEEWAY.value_of(section.get("leeway"))
        realm = section.get("realm")
        return cls(
            service=str(section["service"]),
            issuer=str(section["issuer"]),
            keys=keys,
            realm=str(realm).replace('"', "") if realm else None,
            algorithms=[str(a) for a in algorithms],
            leeway=leeway,
        )

    def use_issuer(self, realm_path: str, keys: KeySource) -> None:
        """Trust a built-in issuer: its keys (asked again when a token names an unknown
        ``kid``: another worker may have made one) and, without ``realm``, its path."""
        self.realm_path = realm_path
        self._source = keys
        with self._lock:
            self.keys.update(keys())

    def started(self, registry: Any) -> None:
        """:raises ConfigError: no key to verify with, or no realm to send clients to."""
        if not self.keys and self._source is None:
            raise ConfigError(
                "auth_backend 'bearer' has no key to verify tokens with: set "
                "bearer.rootcertbundle or bearer.jwks, or configure token_issuer "
                "(pip install registry-plugin-issuer)",
                key="bearer",
            )
        if self.realm is None and self.realm_path is None:
            raise ConfigError(
                "auth_backend 'bearer' needs bearer.realm (the token endpoint's URL) "
                "unless the token_issuer plugin serves it",
                key="bearer.realm",
            )

    # -- challenges -------------------------------------------------------------------

    def realm_for(self, request: AccessRequest) -> str:
        if self.realm:
            return self.realm
        host = re.sub(r'["\\\s]', "", request.headers.get("HOST", "")) or "localhost"
        return f"{request.scheme}://{host}{self.realm_path or ''}"

    def scope_for(self, request: AccessRequest) -> str | None:
        """The scope a request needs, with the repository named as the client named it."""
        if request.kind == REGISTRY and request.action == CATALOG:
            return "registry:catalog:*"
        if not request.name or request.action not in SCOPE_ACTIONS:
            return None
        name = request.name
        if request.api == "v2":
            match = _V2_NAME.match(request.path)
            if match is not None and canonical_name(match["name"]) == name:
                name = match["name"]
        return f"repository:{name}:{SCOPE_ACTIONS[request.action]}"

    def challenge_for(self, request: AccessRequest, error: str | None = None) -> str:
        parts = [f'realm="{self.realm_for(request)}"', f'service="{self.service}"']
        scope = self.scope_for(request)
        if scope:
            parts.append(f'scope="{scope}"')
        if error:
            parts.append(f'error="{error}"')
        return "Bearer " + ",".join(parts)

    def _refuse(self, request: AccessRequest, message: str, error: str | None = None) -> Refused:
        return Refused(401, message, {"WWW-Authenticate": self.challenge_for(request, error)})

    # -- the backend protocol ---------------------------------------------------------

    def authorize(self, request: AccessRequest) -> Grant | None:
        scheme, _, token = request.authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            if request.kind == LISTING:
                return ANONYMOUS
            raise self._refuse(request, "authentication required")
        claims = self.verify(token.strip(), request)
        subject = claims.get("sub")
        grant = Grant(
            account=str(subject) if subject else None, scopes=parse_access(claims.get("access"))
        )
        if request.kind in (LISTING, LOGIN):
            return grant
        action = request.action or ""
        allowed = (
            self.permits(grant, request.name, action)
            if request.name
            else self._registry_wide(grant, request, action)
        )
        if allowed:
            return grant
        raise self._refuse(
            request,
            f"the token does not allow {action} on {request.name or 'this route'}",
            "insufficient_scope",
        )

    def refuses_early(self, request: AccessRequest) -> bool:
        """Signature and claims are checked without network I/O: the same decision."""
        try:
            return self.authorize(request) is None
        except Refused:
            return True

    def permits(self, grant: Grant, repository: str, action: str) -> bool:
        if action == CATALOG:
            return ("registry", "catalog", "*") in grant.scopes
        return bool(
            {("repository", repository, action), ("repository", repository, "*")} & grant.scopes
        )

    def parent_access(self, request: AccessRequest, grant: Grant, image_id: str) -> bool:
        return True

    def image_allowed(self, request: AccessRequest, grant: Grant, image_id: str) -> bool:
        return True

    # -- verification -----------------------------------------------------------------

    def verify(self, token: str, request: AccessRequest) -> dict[str, Any]:
        """The claims of a valid token. :raises Refused: 401 ``invalid_token``."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise self._refuse(request, "malformed token", "invalid_token") from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise self._refuse(request, f"algorithm {algorithm!r} not accepted", "invalid_token")
        candidates = self._candidates(header.get("kid"))
        if not candidates:
            log.info(
                "bearer token from %s names an unknown key %r",
                request.client or "?",
                header.get("kid"),
            )
            raise self._refuse(request, "token signed by an unknown key", "invalid_token")
        failure: Exception | None = None
        for key in candidates:
            if algorithm not in _BY_KEY_TYPE[key_type(key)]:
                continue
            try:
                return dict(
                    jwt.decode(
                        token,
                        key,
                        algorithms=[algorithm],
                        audience=self.service,
                        issuer=self.issuer,
                        leeway=self.leeway,
                        options={"require": ["exp", "iss", "aud"]},
                    )
                )
            except jwt.InvalidSignatureError as exc:
                failure = exc
            except jwt.InvalidTokenError as exc:
                failure = exc
                break
        reason = str(failure) if failure else "no key of the token's algorithm"
        log.info("bearer token from %s refused: %s", request.client or "?", reason)
        raise self._refuse(request, f"invalid token: {reason}", "invalid_token")

    def _candidates(self, kid: Any) -> list[PublicKey]:
        if kid is None:
            return list(self.keys.values())
        key = self.keys.get(str(kid))
        if key is None and self._source is not None:
            # NOTE: at most once per KEY_REFRESH seconds, so that tokens naming made-up
            # key ids cannot make every request list storage.
            with self._lock:
                now = time.monotonic()
                if now - self._asked >= KEY_REFRESH:
                    self._asked = now
                    self.keys.update(self._source())
            key = self.keys.get(str(kid))
        return [key] if key is not None else []

    def _registry_wide(self, grant: Grant, request: AccessRequest, action: str) -> bool:
        if request.kind == IMAGE:
            return any(
                kind == "repository" and act in (action, "*") for kind, _, act in grant.scopes
            )
        return self.permits(grant, "", action) if action == CATALOG else False
