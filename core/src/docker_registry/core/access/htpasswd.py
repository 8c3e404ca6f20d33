"""The ``htpasswd`` backend: HTTP Basic against an Apache htpasswd file, and an access list.

Accounts are bcrypt entries as ``htpasswd -B`` writes them (``$2y$``; ``$2a$``/``$2b$``
too); other hash kinds are refused with a warning naming the line. The file is re-read
when it changes (size, mtime or inode), so accounts are added with ``htpasswd -B file
name`` while the registry runs. What an account may do is the access list
(:mod:`.acl`); ``anonymous`` rules never cover repositories marked private over v1
(``PUT /v1/repositories/<repo>/properties {"access": "private"}``).

Every failed login is logged with the client address and account (never the password),
costs one bcrypt check whether or not the account exists (same answer time), and counts
against the address (:mod:`.throttle`). A successful check is remembered for
``cache_seconds`` by a SHA-256 of account, password and stored hash, so that clients
sending Basic on every request (each chunk of a push) do not pay bcrypt each time.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import bcrypt

from .. import names
from ..config import ConfigError
from ..config.keys import core as keys
from . import acl
from .model import LISTING, LOGIN, AccessRequest, Grant, Refused
from .throttle import FailedLogins

log = logging.getLogger(__name__)

_BCRYPT_PREFIXES = (b"$2y$", b"$2a$", b"$2b$")
#: bcrypt reads at most 72 bytes of a password (Apache's htpasswd -B too).
_BCRYPT_MAX = 72


class HtpasswdFile:
    """The accounts of an htpasswd file, re-read when the file changes.

    :param path: the file.
    :raises ConfigError: the file cannot be read at start-up.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._entries: dict[str, bytes] = {}
        self._dummy = bcrypt.hashpw(b"no such account", bcrypt.gensalt(5))
        try:
            self._reload()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the htpasswd file {path}: {exc}", key="htpasswd.path"
            ) from exc

    def hash_of(self, account: str) -> bytes | None:
        """The bcrypt hash of ``account``, or ``None``."""
        self._refresh()
        return self._entries.get(account)

    def dummy_hash(self) -> bytes:
        """A hash of the file's usual cost, checked for unknown accounts (same timing)."""
        return self._dummy

    def _refresh(self) -> None:
        try:
            info = os.stat(self.path)
        except OSError as exc:
            # NOTE: keep the accounts read last: an editor replacing the file leaves a
            # moment without it.
            log.error(
                "htpasswd file %s unreadable (%s); keeping the accounts read before", self.path, exc
            )
            return
        if (info.st_mtime_ns, info.st_size, info.st_ino) != self._stamp:
            with self._lock:
                try:
                    self._reload()
                except OSError as exc:
                    log.error(
                        "htpasswd file %s unreadable (%s); keeping the accounts read before",
                        self.path,
                        exc,
                    )

    def _reload(self) -> None:
        info = os.stat(self.path)
        with open(self.path, "rb") as stream:
            lines = stream.read().splitlines()
        entries: dict[str, bytes] = {}
        costs = []
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith(b"#"):
                continue
            name, sep, hashed = line.partition(b":")
            account = name.decode("utf-8", "replace")
            if not sep or not hashed.startswith(_BCRYPT_PREFIXES):
                log.warning(
                    "htpasswd file %s line %d (account %r): not a bcrypt entry, ignored; "
                    "write it with 'htpasswd -B'",
                    self.path,
                    number,
                    account,
                )
                continue
            entries[account] = hashed
            if hashed[4:6].isdigit():
                costs.append(int(hashed[4:6]))
        # NOTE: the dummy hash costs what the real ones cost, or timing tells them apart.
        cost = min(max(costs), 31) if costs else 5
        if cost != int(self._dummy[4:6]):
            self._dummy = bcrypt.hashpw(b"no such account", bcrypt.gensalt(max(cost, 4)))
        self._entries = entries
        self._stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        log.info("htpasswd file %s: %d account(s)", self.path, len(entries))


class HtpasswdAuth:
    """HTTP Basic accounts from an htpasswd file, permissions from an access list.

    :param accounts: the htpasswd file.
    :param access: the access list.
    :param realm: the Basic realm clients show.
    :param throttle: failed logins per address.
    :param private: ``private(namespace, quoted repository)``: the v1 ``_private`` flag
        (``None``: none are honoured).
    :param cache_seconds: how long a successful password check is reused (0: never).
    """

    unrestricted = False

    def __init__(
        self,
        accounts: HtpasswdFile,
        access: acl.AccessList,
        *,
        realm: str = "docker-registry",
        throttle: FailedLogins | None = None,
        private: Callable[[str, str], bool] | None = None,
        cache_seconds: float = 60.0,
    ) -> None:
        self.accounts = accounts
        self.access = access
        self.challenge = f'Basic realm="{realm}"'
        self.throttle = throttle or FailedLogins(10, 60.0)
        self.private = private
        self.cache_seconds = cache_seconds
        self._verified: dict[bytes, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_registry(cls, registry: Any) -> HtpasswdAuth:
        """Read the ``htpasswd`` section. :raises ConfigError: naming the key."""
        settings = registry.settings
        section = settings.get("htpasswd") or {}
        if not isinstance(section, dict):
            raise ConfigError("expected a mapping (path, realm, groups, access...)", key="htpasswd")
        path = section.get("path")
        if not path:
            raise ConfigError("auth_backend 'htpasswd' needs htpasswd.path", key="htpasswd.path")
        realm = str(section.get("realm") or "docker-registry").replace('"', "'")
        return cls(
            HtpasswdFile(str(path)),
            acl.AccessList.from_config(section.get("access"), section.get("groups")),
            realm=realm,
            throttle=FailedLogins(
                keys.HTPASSWD_MAX_FAILED_LOGINS.value_of(section.get("max_failed_logins")),
                keys.HTPASSWD_FAILED_LOGIN_WINDOW.value_of(section.get("failed_login_window")),
            ),
            private=lambda namespace, repository: _v1_private(registry, namespace, repository),
            cache_seconds=keys.HTPASSWD_CACHE_SECONDS.value_of(section.get("cache_seconds")),
        )

    # -- the backend protocol ---------------------------------------------------------

    def authorize(self, request: AccessRequest) -> Grant | None:
        return self._decide(request, self._authenticate(request, record=True))

    def authenticate(self, request: AccessRequest) -> str | None:
        """The account of the request's valid Basic credentials (``None``: none sent),
        with the same logging, timing and rate limit as every login (the token issuer
        logs users in with it).

        :raises Refused: 401 for bad credentials, 429 for an address locked out.
        """
        return self._authenticate(request, record=True)

    def stored_hash(self, account: str) -> bytes | None:
        """The account's entry in the file now (``None``: removed)."""
        return self.accounts.hash_of(account)

    def refuses_early(self, request: AccessRequest) -> bool:
        """The same decision, without logging or counting failures (the application
        decides again, and that one counts)."""
        return self._decide(request, self._authenticate(request, record=False)) is None

    def permits(self, grant: Grant, repository: str, action: str) -> bool:
        """The account's rules, and below them what ``anonymous`` may (any caller may do
        what a caller without credentials may), except on repositories marked private
        over v1."""
        if grant.account is not None and self.access.allows(grant.account, repository, action):
            return True
        if not self.access.allows(None, repository, action):
            return False
        return not (repository and self._private(repository))

    def parent_access(self, request: AccessRequest, grant: Grant, image_id: str) -> bool:
        """v1 image ids are registry-wide here: a parent is usable by whoever may push."""
        return True

    def image_allowed(self, request: AccessRequest, grant: Grant, image_id: str) -> bool:
        """No index image lists with htpasswd: any image id may be pushed."""
        return True

    # -- internals --------------------------------------------------------------------

    def _decide(self, request: AccessRequest, account: str | None) -> Grant | None:
        grant = Grant(account=account, groups=self.access.groups_of(account))
        if request.kind == LISTING:
            return grant
        if request.kind == LOGIN:
            return grant if account is not None else None
        action = request.action or ""
        if (
            self.permits(grant, request.name or "", action)
            if request.name
            else self.access.allows(account, None, action)
        ):
            return grant
        if account is None:
            return None
        raise Refused(403, f"account {account} may not {action} {request.name or 'images'}")

    def _any(self, account: str | None, action: str) -> bool:
        """v1 image routes: the action on some repository."""
        return self.access.allows(account, None, action) or self.access.allows(None, None, action)

    def _authenticate(self, request: AccessRequest, *, record: bool) -> str | None:
        """The account of valid Basic credentials; ``None`` without Basic credentials.

        :raises Refused: 401 for bad credentials, 429 for an address locked out.
        """
        scheme, _, value = request.authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        wait = self.throttle.retry_after(request.client)
        if wait:
            raise Refused(
                429,
                f"too many failed logins from {request.client}; retry in {wait} s",
                {"Retry-After": str(wait)},
            )
        try:
            account, sep, password = (
                base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            )
        except ValueError:
            account, sep, password = "", "", ""
        if not sep:
            self._failed(request, "?", "malformed Basic credentials", record)
        elif not self._check(account, password):
            self._failed(request, account, "unknown account or wrong password", record)
        return account

    def _check(self, account: str, password: str) -> bool:
        stored = self.accounts.hash_of(account)
        secret = password.encode("utf-8")
        key = hashlib.sha256(b"\0".join((account.encode(), secret, stored or b""))).digest()
        now = time.monotonic()
        if stored is not None and self._verified.get(key, 0.0) > now:
            return True
        # NOTE: always one bcrypt check, against a dummy hash for unknown accounts, so
        # that the answer takes as long whether the account exists or not.
        matches = bcrypt.checkpw(secret[:_BCRYPT_MAX], stored or self.accounts.dummy_hash())
        if matches and stored is not None:
            if self.cache_seconds > 0:
                with self._lock:
                    if len(self._verified) > 4096:
                        self._verified.clear()
                    self._verified[key] = now + self.cache_seconds
            return True
        return False

    def _failed(self, request: AccessRequest, account: str, reason: str, record: bool) -> None:
        if record:
            self.throttle.failed(request.client)
            log.warning(
                "failed login from %s for account %r (%s %s): %s",
                request.client or "?",
                account[:64],
                request.method,
                request.path[:200],
                reason,
            )
        raise Refused(401, "invalid username or password")

    def _private(self, repository: str) -> bool:
        if self.private is None or "/" not in repository:
            return False
        namespace, quoted = names.parse_repository_name(repository)
        try:
            return bool(self.private(namespace, quoted))
        except Exception:  # noqa: BLE001 - an invalid name has no flag
            return False


def _v1_private(registry: Any, namespace: str, repository: str) -> bool:
    """The v1 API's ``_private`` flag of a repository (asked when the v1 API is mounted)."""
    v1 = registry.services.get("v1")
    return v1 is not None and bool(v1.tags.is_private(namespace, repository))
