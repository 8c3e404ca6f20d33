"""THE route table: every v1 and v2 route, as (repository, action).

One row per route of both APIs (v1 spec §2.0 R1-R27, the OCI endpoints). The patterns
and their order are the routers' own (``v1/resources/repositories.py`` tries the most
specific pattern first and skips a pattern whose methods do not include the request's;
``v2/routing.py`` takes the first pattern that matches the path). The routers confirm the
name they act on against :attr:`.Target.repository` (:func:`.middleware.confirm`), so a
disagreement between this table and a router is a refusal, never a bypass.

Paths are matched exactly as routers see them (``req.path``: percent-decoded, no
normalisation): names with empty, ``.`` or ``..`` components are :data:`.INVALID`
(refused by the API anyway), and anything no row matches is :data:`.UNKNOWN`: reads pass
(to answer 404/405), writes need unrestricted access.

docs/auth.md prints this table (``python -m docker_registry.core.access.routes``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .. import names
from ..names import is_valid_name
from .model import (
    CATALOG,
    DELETE,
    IMAGE,
    INVALID,
    LISTING,
    LOGIN,
    OPEN,
    PULL,
    PUSH,
    REGISTRY,
    REPOSITORY,
    UNKNOWN,
    Target,
)

#: Methods that read; a read of an unknown route passes (the router answers 404/405).
READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Row:
    """One route: path pattern, and per method the label and action.

    :param pattern: regex on the path tail (after ``/v1/repositories/`` or ``/v2/``), or
        on the whole path for fixed routes; group ``name`` is the repository.
    :param methods: method -> ``(label, action)``; action ``None`` means open.
    :param kind: what the route needs (see :mod:`.model`).
    :param standalone: only mounted when ``standalone: true`` (v1 index routes).
    """

    pattern: str
    methods: Mapping[str, tuple[str, str | None]]
    kind: str = REPOSITORY
    standalone: bool = False


# -- v1 -----------------------------------------------------------------------------------

#: Fixed v1 and meta routes (whole path).
FIXED = [
    Row(r"/", {"GET": ("R1", None)}, OPEN),
    Row(r"/_ping|/v1/_ping", {"GET": ("R2", None)}, OPEN),
    # NOTE: probes and scrapes carry no credentials and no repository names (ops/).
    Row(r"/healthz", {"GET": ("healthz", None)}, OPEN),
    Row(r"/readyz", {"GET": ("readyz", None)}, OPEN),
    Row(r"/metrics", {"GET": ("metrics", None)}, OPEN),
    Row(r"/v1/search", {"GET": ("R27", None)}, LISTING),
    Row(r"/v1/users/?", {"GET": ("R20", None), "POST": ("R20", None)}, OPEN, standalone=True),
    Row(r"/v1/users/[^/]+/", {"PUT": ("R21", None)}, OPEN, standalone=True),
    Row(
        r"/v1/images/[^/]+/(?:json|layer|ancestry|files|diff)",
        {"GET": ("R3 R5 R8-R10", PULL)},
        IMAGE,
    ),
    Row(r"/v1/images/[^/]+/(?:json|layer|checksum)", {"PUT": ("R4 R6 R7", PUSH)}, IMAGE),
    Row(r"/v2", {"GET": ("v2 ping", None)}, LOGIN),
]

#: ``/v1/repositories/<tail>``, in the sink's order (most specific first).
V1_REPOSITORIES = [
    Row(r"(?P<name>.+)/tags/(?P<tag>[^/]+)/json", {"GET": ("R15", PULL)}),
    Row(
        r"(?P<name>.+)/tags/(?P<tag>[^/]+)",
        {"GET": ("R12", PULL), "PUT": ("R13", PUSH), "DELETE": ("R14", DELETE)},
    ),
    Row(r"(?P<name>.+)/tags", {"GET": ("R11", PULL), "DELETE": ("R19", DELETE)}),
    Row(
        r"(?P<name>.+)/images",
        {"GET": ("R24", PULL), "PUT": ("R23", PUSH), "DELETE": ("R25", DELETE)},
        standalone=True,
    ),
    Row(r"(?P<name>.+)/auth", {"PUT": ("R26", None)}, OPEN, standalone=True),
    Row(r"(?P<name>.+)/properties", {"GET": ("R17", PULL), "PUT": ("R18", PUSH)}),
    Row(r"(?P<name>.+)/json", {"GET": ("R16", PULL)}),
    Row(r"(?P<name>.+)/", {"DELETE": ("R19", DELETE), "PUT": ("R22", PUSH)}),
    Row(r"(?P<name>.+)/", {"DELETE": ("R19", DELETE)}),  # not standalone: no R22
    Row(r"(?P<name>[^/].*[^/]|[^/])", {"PUT": ("R22", PUSH)}, standalone=True),
]
# NOTE: the two ``<repo>/`` rows: standalone mounts DELETE+PUT, otherwise DELETE only.
_SLASH_STANDALONE, _SLASH_PLAIN = V1_REPOSITORIES[7], V1_REPOSITORIES[8]

# -- v2 -----------------------------------------------------------------------------------

#: ``/v2/<tail>``, in the router's order (the first path match decides).
V2_ROUTES = [
    Row(r"_catalog", {"GET": ("v2 catalog", CATALOG)}, REGISTRY),
    Row(
        r"(?P<name>.+)/manifests/(?P<arg>[^/]+)",
        {
            "GET": ("v2 manifests", PULL),
            "HEAD": ("v2 manifests", PULL),
            "PUT": ("v2 manifests", PUSH),
            "DELETE": ("v2 manifests", DELETE),
        },
    ),
    Row(
        r"(?P<name>.+)/blobs/uploads/?(?P<arg>[^/]*)",
        {
            "POST": ("v2 uploads", PUSH),
            "PATCH": ("v2 uploads", PUSH),
            "PUT": ("v2 uploads", PUSH),
            "GET": ("v2 uploads", PUSH),
            "DELETE": ("v2 uploads", PUSH),
        },
    ),
    Row(
        r"(?P<name>.+)/blobs/(?P<arg>[^/]+)",
        {"GET": ("v2 blobs", PULL), "HEAD": ("v2 blobs", PULL), "DELETE": ("v2 blobs", DELETE)},
    ),
    Row(r"(?P<name>.+)/tags/(?P<arg>list)", {"GET": ("v2 tags", PULL)}),
    Row(r"(?P<name>.+)/referrers/(?P<arg>[^/]+)", {"GET": ("v2 referrers", PULL)}),
]

_COMPILED: dict[str, re.Pattern[str]] = {}


def _match(row: Row, text: str) -> re.Match[str] | None:
    pattern = _COMPILED.get(row.pattern)
    if pattern is None:
        pattern = _COMPILED[row.pattern] = re.compile(row.pattern, re.DOTALL)
    return pattern.fullmatch(text)


def _match_v1(row: Row, text: str) -> re.Match[str] | None:
    """The v1 sink's own matching: ``^pattern$`` (``$`` also matches before a final
    newline, which ``fullmatch`` would not)."""
    key = "v1:" + row.pattern
    pattern = _COMPILED.get(key)
    if pattern is None:
        pattern = _COMPILED[key] = re.compile(f"^{row.pattern}$", re.DOTALL)
    return pattern.match(text)


def canonical_v2(name: str) -> str:
    """The repository name access rules see for a v2 name: as is, except that a
    one-part name is ``library/<name>``, the v1 repository it shares (the bridge)."""
    return name if "/" in name else f"library/{name}"


def v1_name(raw: str) -> tuple[str, str] | None:
    """``(namespace, quoted repository)`` of a v1 ``<repo>`` URL part, as the v1 API
    parses it, or ``None`` when the API refuses the name (400)."""
    name = raw.rstrip("/")
    parts = name.split("/")
    if (
        not name
        or any(part in ("", ".", "..") for part in parts)
        or any(ord(char) < 32 or ord(char) == 127 for char in name)
    ):
        return None
    namespace, repository = names.parse_repository_name(name)
    if not names.is_storable(namespace, repository):
        return None
    return namespace, repository


def canonical_v1(namespace: str, quoted: str) -> str:
    """The repository name access rules see for v1 ``(namespace, quoted repository)``."""
    return names.display_name(namespace, quoted)


def classify(method: str, path: str, *, standalone: bool) -> Target:
    """What ``method path`` asks for (the query string plays no part).

    :param standalone: the v1 index routes are mounted.
    """
    method = method.upper()
    if path.startswith("/v1/repositories/"):
        return _v1_repository(method, path[len("/v1/repositories/") :], standalone)
    if path.startswith("/v2/"):
        return _v2(method, path[4:])
    for row in FIXED:
        if row.standalone and not standalone:
            continue
        if _match(row, path) is None:
            continue
        found = _method(row, method)
        if found is None:
            continue
        label, action = found
        api = "v2" if path == "/v2" else ("v1" if path.startswith("/v1/") else "core")
        return Target(api, label, row.kind, action)
    return _unknown("v1" if path.startswith("/v1/") else "core", method)


def _method(row: Row, method: str) -> tuple[str, str | None] | None:
    found = row.methods.get(method)
    if found is None and method == "HEAD":
        found = row.methods.get("GET")
    return found


def _v1_repository(method: str, tail: str, standalone: bool) -> Target:
    for row in V1_REPOSITORIES:
        if row is (_SLASH_PLAIN if standalone else _SLASH_STANDALONE):
            continue
        if row.standalone and not standalone:
            continue
        match = _match_v1(row, tail)
        if match is None:
            continue
        found = _method(row, method)
        if found is None:
            continue
        label, action = found
        if row.kind == OPEN:
            return Target("v1", label, OPEN)
        parsed = v1_name(match["name"])
        if parsed is None:
            return _invalid("v1", label, method, action)
        namespace, quoted = parsed
        return Target(
            "v1", label, REPOSITORY, action, canonical_v1(namespace, quoted), namespace, quoted
        )
    return _unknown("v1", method)


def _v2(method: str, tail: str) -> Target:
    if tail == "":
        return Target("v2", "v2 ping", LOGIN)
    for row in V2_ROUTES:
        match = _match(row, tail)
        if match is None:
            continue
        found = row.methods.get(method)
        if found is None:
            return _unknown("v2", method)  # the router answers 405
        label, action = found
        if row.kind == REGISTRY:
            return Target("v2", label, REGISTRY, action)
        name = match["name"]
        if not is_valid_name(name):
            return _invalid("v2", label, method, action)
        repository = canonical_v2(name)
        namespace, quoted = names.parse_repository_name(repository)
        return Target("v2", label, REPOSITORY, action, repository, namespace, quoted)
    return _unknown("v2", method)


def _invalid(api: str, label: str, method: str, action: str | None) -> Target:
    """A name the API refuses with 400 before touching storage: reads may get that 400;
    writes are treated as unknown (no name, no grant to check against)."""
    return Target(api, label, INVALID, action)


def _unknown(api: str, method: str) -> Target:
    return Target(api, "unknown", UNKNOWN, PULL if method in READS else PUSH)


def table_rows() -> Iterator[tuple[str, str, str, str, str]]:
    """``(route, method, path, needs, notes)`` for every row, for docs/auth.md."""
    for row in FIXED:
        for method, (label, action) in row.methods.items():
            yield label, method, row.pattern, action or row.kind, "standalone" * row.standalone
    for row in V1_REPOSITORIES:
        if row is _SLASH_PLAIN:
            continue
        for method, (label, action) in row.methods.items():
            path = "/v1/repositories/" + row.pattern
            note = "standalone" if row.standalone or label == "R22" else ""
            yield label, method, path, action or row.kind, note
    for row in V2_ROUTES:
        for method, (label, action) in row.methods.items():
            yield label, method, "/v2/" + row.pattern, action or row.kind, ""


if __name__ == "__main__":  # pragma: no cover - prints the table for the docs
    print("| route | method | path | needs | |")
    print("|---|---|---|---|---|")
    for label, method, path, needs, note in table_rows():
        print(f"| {label} | {method} | `{path}` | {needs} | {note} |")
