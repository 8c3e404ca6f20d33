"""The vocabulary of access control: actions, what a request asks for, what was decided.

Backends see an :class:`AccessRequest` and answer a :class:`Grant` (or ``None``: not
allowed, or raise :class:`Refused` to choose the status); resources receive the
:class:`Decision`, never credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

#: Read a repository: manifests, blobs, tags, referrers, v1 images/tags/json.
PULL = "pull"
#: Write a repository: uploads, manifest and tag PUTs, v1 json/layer/checksum/tags.
PUSH = "push"
#: Remove from a repository: manifests, tags, blobs, v1 tags and repositories.
DELETE = "delete"
#: List every repository (``/v2/_catalog``): registry-wide, not per repository.
CATALOG = "catalog"
ACTIONS = (PULL, PUSH, DELETE, CATALOG)

#: What a route needs, beside the action (see :mod:`.routes`).
OPEN = "open"  # no check at all (ping, /v1/users, R26)
REPOSITORY = "repository"  # the action on one named repository
IMAGE = "image"  # v1 image routes: ids are not scoped to a repository
REGISTRY = "registry"  # registry-wide (catalog)
LOGIN = "login"  # /v2/: valid credentials (clients probe it to log in)
LISTING = "listing"  # /v1/search: anyone, results filtered by what they may pull
INVALID = "invalid"  # a name the API refuses anyway (400): reads pass, writes need all
UNKNOWN = "unknown"  # no route: reads pass (404/405), writes need unrestricted access


@dataclass(frozen=True)
class Target:
    """What one request asks for, as the route table reads it.

    :param api: ``v1``, ``v2`` or ``core`` (meta routes, plugins' routes).
    :param route: the route's label in the table (``R11``, ``v2 manifests``...).
    :param kind: one of the kinds above.
    :param action: the action asked for (``None`` for open routes).
    :param repository: the canonical repository name (``<ns>/<repo>``; a one-part v2
        name is ``library/<name>``, as v1 reads it), ``None`` when not per repository.
    :param namespace: v1 pieces of ``repository`` (namespace, quoted repository), which
        the ``token`` backend compares with the index token.
    :param quoted: see ``namespace``.
    """

    api: str
    route: str
    kind: str
    action: str | None = None
    repository: str | None = None
    namespace: str | None = None
    quoted: str | None = None

    @property
    def checked(self) -> bool:
        """True when a backend must be asked (everything but open routes and reads of
        routes that do not exist)."""
        return self.kind != OPEN


@dataclass(frozen=True)
class AccessRequest:
    """What a request asks for, as a backend sees it.

    :param method: HTTP method (``GET``...).
    :param path: request path (``/v1/images/<id>/json``).
    :param headers: request headers, names upper-cased with dashes (``AUTHORIZATION``).
    :param namespace: the v1 namespace of the route's repository, ``None`` without one.
    :param repository: the v1 (quoted) repository part, ``None`` without one.
    :param action: ``pull``, ``push``, ``delete``, ``catalog``, or ``None`` (login,
        listing).
    :param name: the canonical repository name (``<ns>/<repo>``), ``None`` without one.
    :param api: ``v1``, ``v2`` or ``core``.
    :param client: the client's address (for logs and rate limits).
    :param kind: what the route needs (``repository``, ``image``, ``login``...; see
        :mod:`.model`).
    :param scheme: ``http`` or ``https`` as the client reached the registry (``https``
        behind a TLS proxy trusted with ``trusted_proxy``); for challenges naming a URL.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    namespace: str | None = None
    repository: str | None = None
    action: str | None = None
    name: str | None = None
    api: str = "v1"
    client: str = ""
    kind: str = REPOSITORY
    scheme: str = "http"

    @property
    def authorization(self) -> str:
        return self.headers.get("AUTHORIZATION", "")


@dataclass(frozen=True)
class Grant:
    """A successful authorization.

    :param repository: ``<ns>/<repo>`` the credentials name (v1 index tokens), if any.
    :param privileged: granted by the privileged RSA signature (all access).
    :param account: the authenticated account (``None``: anonymous).
    :param unrestricted: every action on every repository (the ``open`` backend).
    :param groups: the account's groups (htpasswd access lists).
    :param scopes: what a bearer token grants: ``(type, name, action)`` triples, names
        canonical (``repository``, ``library/alpine``, ``pull``; ``*``: every action).
    """

    repository: str | None = None
    privileged: bool = False
    account: str | None = None
    unrestricted: bool = False
    groups: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[tuple[str, str, str]] = field(default_factory=frozenset)

    @property
    def all_access(self) -> bool:
        return self.privileged or self.unrestricted


#: The grant of a caller without credentials on a listing route.
ANONYMOUS = Grant()


class Refused(Exception):
    """A backend's explicit refusal, with the status to answer.

    :param status: 401 (no or bad credentials), 403 (known, not allowed), 429 (too many
        failed logins from the address).
    :param message: what to tell the client (never why a password was wrong).
    :param headers: extra response headers (``Retry-After``).
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class Decision:
    """The outcome of the authorize step, handed to resources in ``req.context.access``.

    :param target: what the route table read from the request.
    :param request: what the backend was asked.
    :param grant: what the backend granted.
    :param permits: ``permits(repository, action) -> bool`` for other repositories
        (listings, mount sources), with the same grant.
    """

    target: Target
    request: AccessRequest
    grant: Grant
    permits: Callable[[str, str], bool]

    @property
    def all_access(self) -> bool:
        return self.grant.all_access

    def may(self, repository: str, action: str) -> bool:
        """May this caller do ``action`` on ``repository`` (canonical name)?"""
        return self.grant.all_access or self.permits(repository, action)

    def pullable(self, names: Iterable[str], canonical: Callable[[str], str]) -> list[str]:
        """The names of ``names`` this caller may pull, in their order."""
        names = list(names)
        if self.grant.all_access:
            return names
        return [name for name in names if self.may(canonical(name), PULL)]
