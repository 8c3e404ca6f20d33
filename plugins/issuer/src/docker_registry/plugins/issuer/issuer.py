"""The token endpoint (the realm): Docker registry tokens for the htpasswd accounts.

``GET <path>?service=...&scope=...`` (HTTP Basic, or no credentials for an anonymous
token) answers ``{"token", "access_token", "expires_in", "issued_at"}``, plus a
``refresh_token`` with ``offline_token=true``. ``POST <path>`` is the OAuth2 form
(``grant_type=password`` with ``username``/``password``, or ``grant_type=refresh_token``
with ``refresh_token``; ``access_type=offline`` asks for a refresh token), answering
``{"access_token", "token_type", "scope", "expires_in", "issued_at"}``.

Scopes (``repository:<name>:<actions>``, ``registry:catalog:*``) are cut down to what the
htpasswd backend's access list allows the account (or ``anonymous``); what is not
allowed is left out of the token, never an error (as distribution's issuers do). Logins
use the htpasswd backend's checks: failed ones are logged with address and account,
answered in constant time and rate-limited per address.

Refresh tokens are JWTs of the same key (``token_use: refresh``, audience the issuer
itself, so the registry never accepts one as an access token); they stop working when
the account's htpasswd entry changes or is removed.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import logging
import secrets
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

import falcon
import jwt

from docker_registry.core.access.bearer import canonical_name, key_type
from docker_registry.core.access.htpasswd import HtpasswdAuth
from docker_registry.core.access.model import (
    CATALOG,
    DELETE,
    PULL,
    PUSH,
    AccessRequest,
    Grant,
    Refused,
)
from docker_registry.core.config import ConfigError

from .keys import KeyRing
from .options import EXPIRATION, REFRESH_EXPIRATION

log = logging.getLogger(__name__)

_REPOSITORY_ACTIONS = (PULL, PUSH, DELETE)
_MAX_FORM = 64 * 1024


class TokenError(Exception):
    """An answer other than a token: ``status``, OAuth2 ``error`` code, description."""

    def __init__(self, status: int, error: str, description: str, headers: Mapping[str, str] = {}):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.headers = dict(headers)


class TokenIssuer:
    """Issues tokens (see the module docstring).

    :param accounts: the htpasswd backend (accounts, access list, failed-login checks).
    :param keys: the signing key and its certificate.
    :param issuer: ``iss`` of the tokens (``bearer.issuer``).
    :param service: ``aud`` of the tokens (``bearer.service``).
    :param path: where the endpoint is mounted.
    :param expiration: seconds an access token lives.
    :param refresh_expiration: seconds a refresh token lives.
    """

    def __init__(
        self,
        accounts: HtpasswdAuth,
        keys: KeyRing,
        *,
        issuer: str,
        service: str,
        path: str = "/token",
        expiration: int = 300,
        refresh_expiration: int = 7 * 86400,
    ) -> None:
        self.accounts = accounts
        self.keys = keys
        self.issuer = issuer
        self.service = service
        self.path = path
        self.expiration = expiration
        self.refresh_expiration = refresh_expiration

    @classmethod
    def from_registry(cls, registry: Any, section: Mapping[str, Any]) -> TokenIssuer:
        """:raises ConfigError: naming the key."""
        known = {"path", "key", "certificate", "algorithm", "expiration", "refresh_expiration"}
        unknown = sorted(set(map(str, section)) - known)
        if unknown:
            raise ConfigError(f"unknown field(s) {', '.join(unknown)}", key="token_issuer")
        bearer = registry.settings.get("bearer") or {}
        issuer = bearer.get("issuer") if isinstance(bearer, Mapping) else None
        service = bearer.get("service") if isinstance(bearer, Mapping) else None
        if not issuer or not service:
            raise ConfigError(
                "the token issuer signs for bearer.issuer and bearer.service: set both",
                key="bearer",
            )
        path = str(section.get("path") or "/token")
        if not path.startswith("/") or path.startswith(("/v1/", "/v2/")) or path in ("/v2",):
            raise ConfigError(
                f"expected a path of its own such as /token, got {path!r}",
                key="token_issuer.path",
            )
        return cls(
            HtpasswdAuth.from_registry(registry),
            KeyRing.from_config(section, registry.storage, str(issuer)),
            issuer=str(issuer),
            service=str(service),
            path=path.rstrip("/") or "/token",
            expiration=EXPIRATION.value_of(section.get("expiration")),
            refresh_expiration=REFRESH_EXPIRATION.value_of(section.get("refresh_expiration")),
        )

    # -- scopes -----------------------------------------------------------------------

    def granted(self, account: str | None, scopes: Iterable[str]) -> list[dict[str, Any]]:
        """The ``access`` claim: each requested scope cut down to what is allowed."""
        grant = Grant(account=account, groups=self.accounts.access.groups_of(account))
        access: dict[tuple[str, str], list[str]] = {}
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            kind, name, actions = parsed
            if kind == "registry":
                allowed = (
                    ["*"]
                    if name == "catalog"
                    and "*" in actions
                    and self.accounts.permits(grant, "", CATALOG)
                    else []
                )
            elif kind == "repository":
                wanted = _REPOSITORY_ACTIONS if "*" in actions else actions
                canonical = canonical_name(name)
                allowed = [
                    action
                    for action in _REPOSITORY_ACTIONS
                    if action in wanted and self.accounts.permits(grant, canonical, action)
                ]
            else:
                continue
            if allowed:
                have = access.setdefault((kind, name), [])
                have.extend(action for action in allowed if action not in have)
        return [
            {"type": kind, "name": name, "actions": actions}
            for (kind, name), actions in access.items()
        ]

    # -- tokens -----------------------------------------------------------------------

    def access_token(self, account: str | None, scopes: Iterable[str]) -> tuple[str, list, float]:
        now = time.time()
        access = self.granted(account, scopes)
        claims = {
            "iss": self.issuer,
            "sub": account or "",
            "aud": self.service,
            "exp": int(now) + self.expiration,
            "nbf": int(now) - 1,
            "iat": int(now),
            "jti": secrets.token_urlsafe(16),
            "access": access,
        }
        return self._sign(claims), access, now

    def refresh_token(self, account: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": account,
            "aud": self.issuer,
            "exp": now + self.refresh_expiration,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "token_use": "refresh",
            "pwh": self._entry_fingerprint(account),
        }
        return self._sign(claims)

    def account_of_refresh(self, token: str, client: str) -> str:
        """:raises TokenError: 401 ``invalid_grant`` for any refresh token not ours,
        expired, or of an account whose htpasswd entry changed."""
        keys = self.keys.public_keys()
        try:
            header = jwt.get_unverified_header(token)
            key = keys.get(str(header.get("kid")))
            if key is None:
                raise jwt.InvalidTokenError("unknown key")
            claims = jwt.decode(
                token,
                key,
                algorithms=[self.keys.signing.algorithm, str(header.get("alg"))],
                audience=self.issuer,
                issuer=self.issuer,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.InvalidTokenError as exc:
            log.warning("refused refresh token from %s: %s", client or "?", exc)
            raise TokenError(401, "invalid_grant", "invalid refresh token") from None
        account = str(claims.get("sub") or "")
        if (
            claims.get("token_use") != "refresh"
            or not account
            or claims.get("pwh") != self._entry_fingerprint(account)
        ):
            log.warning(
                "refused refresh token from %s for account %r: account changed or removed",
                client or "?",
                account[:64],
            )
            raise TokenError(401, "invalid_grant", "invalid refresh token")
        return account

    def _sign(self, claims: dict[str, Any]) -> str:
        signing = self.keys.signing
        return jwt.encode(
            claims, signing.private, algorithm=signing.algorithm, headers={"kid": signing.kid}
        )

    def _entry_fingerprint(self, account: str) -> str | None:
        stored = self.accounts.stored_hash(account)
        return hashlib.sha256(stored).hexdigest()[:32] if stored is not None else None

    # -- logins -----------------------------------------------------------------------

    def login(self, req: falcon.Request, authorization: str) -> str | None:
        """The account of Basic ``authorization`` (``None``: none given).

        :raises TokenError: 401 (bad credentials) or 429 (address locked out).
        """
        request = AccessRequest(
            method=req.method,
            path=req.path,
            headers={"AUTHORIZATION": authorization},
            client=req.remote_addr or "",
            kind="login",
        )
        try:
            return self.accounts.authenticate(request)
        except Refused as refused:
            error = "invalid_grant" if refused.status == 401 else "slow_down"
            headers = dict(refused.headers)
            if refused.status == 401:
                headers["WWW-Authenticate"] = self.accounts.challenge
            raise TokenError(refused.status, error, refused.message, headers) from None


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """``repository:team/app:pull,push`` -> ``("repository", "team/app", [...])``; a
    resource class (``repository(plugin):...``) is ignored. ``None`` when malformed."""
    parts = scope.split(":")
    if len(parts) < 3:
        return None
    kind = parts[0].split("(", 1)[0]
    name = ":".join(parts[1:-1])
    actions = [action for action in parts[-1].split(",") if action]
    if not kind or not name or not actions:
        return None
    return kind, name, actions


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _issued_at(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenResource:
    """``GET`` and ``POST`` on the realm."""

    def __init__(self, issuer: TokenIssuer) -> None:
        self.issuer = issuer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self._check_service(req.get_param("service"))
            account = self.issuer.login(req, req.get_header("Authorization") or "")
            scopes = _scopes(req.get_param_as_list("scope") or [])
            token, access, now = self.issuer.access_token(account, scopes)
            body: dict[str, Any] = {
                "token": token,
                "access_token": token,
                "expires_in": self.issuer.expiration,
                "issued_at": _issued_at(now),
            }
            if account and req.get_param_as_bool("offline_token"):
                body["refresh_token"] = self.issuer.refresh_token(account)
        except TokenError as error:
            return _error(resp, error)
        _log_issued(req, account, access)
        _json(resp, body)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            form = self._form(req)
            self._check_service(form.get("service"))
            grant_type = form.get("grant_type", "")
            if grant_type == "password":
                if not form.get("username"):
                    raise TokenError(400, "invalid_request", "username is required")
                account = self.issuer.login(req, _basic(form["username"], form.get("password", "")))
            elif grant_type == "refresh_token":
                account = self.issuer.account_of_refresh(
                    form.get("refresh_token", ""), req.remote_addr or ""
                )
            else:
                raise TokenError(
                    400,
                    "unsupported_grant_type",
                    "grant_type must be password or refresh_token",
                )
            token, access, now = self.issuer.access_token(account, _scopes([form.get("scope", "")]))
            body: dict[str, Any] = {
                "access_token": token,
                "token_type": "Bearer",
                "scope": " ".join(
                    f"{entry['type']}:{entry['name']}:{','.join(entry['actions'])}"
                    for entry in access
                ),
                "expires_in": self.issuer.expiration,
                "issued_at": _issued_at(now),
            }
            if account and grant_type == "refresh_token":
                body["refresh_token"] = form["refresh_token"]
            elif account and form.get("access_type") == "offline":
                body["refresh_token"] = self.issuer.refresh_token(account)
        except TokenError as error:
            return _error(resp, error)
        _log_issued(req, account, access)
        _json(resp, body)

    def _check_service(self, service: str | None) -> None:
        if service and service != self.issuer.service:
            raise TokenError(
                400, "invalid_request", f"this issuer signs for service {self.issuer.service!r}"
            )

    def _form(self, req: falcon.Request) -> dict[str, str]:
        if (req.content_length or 0) > _MAX_FORM:
            raise TokenError(400, "invalid_request", "form too large")
        raw = req.bounded_stream.read(_MAX_FORM + 1)
        if len(raw) > _MAX_FORM:
            raise TokenError(400, "invalid_request", "form too large")
        try:
            pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            raise TokenError(400, "invalid_request", "expected a form") from None
        form: dict[str, str] = {}
        for key, value in pairs:
            # NOTE: several scope fields add up, as several scope query parameters do.
            form[key] = f"{form[key]} {value}" if key == "scope" and key in form else value
        return form


def _scopes(values: Iterable[str]) -> list[str]:
    """Scopes from repeated parameters and/or space-separated lists (OAuth2 style)."""
    return [scope for value in values for scope in value.split() if scope]


def _log_issued(req: falcon.Request, account: str | None, access: list[dict[str, Any]]) -> None:
    log.info(
        "issued a token to %s for %s: %s",
        account or "anonymous",
        req.remote_addr or "?",
        " ".join(f"{e['type']}:{e['name']}:{','.join(e['actions'])}" for e in access) or "-",
    )


def _json(resp: falcon.Response, body: dict[str, Any]) -> None:
    resp.status = falcon.HTTP_200
    resp.content_type = "application/json"
    resp.set_header("Cache-Control", "no-store")
    resp.text = json.dumps(body)


def _error(resp: falcon.Response, error: TokenError) -> None:
    resp.status = falcon.code_to_http_status(error.status)
    resp.content_type = "application/json"
    resp.set_header("Cache-Control", "no-store")
    for name, value in error.headers.items():
        resp.set_header(name, value)
    resp.text = json.dumps({"error": error.error, "error_description": error.description})


class CertificateResource:
    """``GET <path>/certificate.pem``: the certificates tokens verify with (a bundle for
    ``bearer.rootcertbundle`` or distribution's ``auth.token.rootcertbundle``)."""

    def __init__(self, issuer: TokenIssuer) -> None:
        self.issuer = issuer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "application/x-pem-file"
        resp.data = self.issuer.keys.certificates()


class JwksResource:
    """``GET <path>/jwks.json``: the public keys as a JWKS (for ``bearer.jwks``)."""

    def __init__(self, issuer: TokenIssuer) -> None:
        self.issuer = issuer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        keys = []
        for kid, key in self.issuer.keys.public_keys().items():
            entry = json.loads(_jwk(key))
            entry["kid"] = kid
            keys.append(entry)
        resp.content_type = "application/json"
        resp.text = json.dumps({"keys": keys})


def _jwk(key: Any) -> str:
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    kind = key_type(key)
    if kind == "rsa":
        return str(RSAAlgorithm.to_jwk(key))
    if kind == "ec":
        return str(ECAlgorithm.to_jwk(key))
    return str(OKPAlgorithm.to_jwk(key))
