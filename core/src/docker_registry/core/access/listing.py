"""Listings show only what the caller may pull: catalog, search, mount sources.

Kept apart from the listing services on purpose: they list storage; this module decides
what of it the caller sees, with the request's :class:`.model.Decision`. Per-repository
listings (``tags/list``, referrers, v1 tags, the v1-over-v2 bridge reached through a v2
name) need ``pull`` on their repository already, in the route table.
"""

from __future__ import annotations

from typing import Any

import falcon

from .middleware import decision_of
from .model import PULL, Decision
from .routes import canonical_v2


def pullable_v2_names(req: falcon.Request, names: list[str]) -> list[str]:
    """The v2 repository names (``_catalog``) of ``names`` the caller may pull."""
    return decision_of(req).pullable(names, canonical_v2)


def may_mount_from(req: falcon.Request, source: str | None) -> bool:
    """May a cross-repository mount take a blob from ``source`` (a v2 name)? It needs
    pull there (push on the target was decided already). Without ``from`` the registry
    would mount any blob it holds: only a caller with access to everything may."""
    decision = decision_of(req)
    if decision.all_access:
        return True
    return source is not None and decision.may(canonical_v2(source), PULL)


class PullableSearch:
    """A search backend seen through a decision: only results the caller may pull,
    counted and paged after filtering.

    :param backend: the configured search backend (``search(query, page, per_page)``).
    :param decision: the request's decision.
    """

    def __init__(self, backend: Any, decision: Decision) -> None:
        self.backend = backend
        self.decision = decision

    def search(self, query: str, page: int, per_page: int | None) -> tuple[int, list[dict]]:
        _, everything = self.backend.search(query, 1, None)
        visible = filter_search_results(self.decision, everything)
        if per_page is None:
            return len(visible), visible
        start = (page - 1) * per_page
        return len(visible), visible[start : start + per_page]


def searchable(req: falcon.Request, backend: Any) -> Any:
    """``backend`` as the caller may see it (unchanged for callers who see everything)."""
    decision = decision_of(req)
    if backend is None or decision.all_access:
        return backend
    return PullableSearch(backend, decision)


def filter_search_results(decision: Decision, results: list[dict]) -> list[dict]:
    """The search results (``{"name": "<ns>/<repo>", ...}``) the caller may pull."""
    if decision.all_access:
        return list(results)
    return [
        item
        for item in results
        if isinstance(item, dict)
        and isinstance(item.get("name"), str)
        and decision.may(_v1_search_name(item["name"]), PULL)
    ]


def _v1_search_name(name: str) -> str:
    # NOTE: results name ``<ns>/<repo>``; a bare name (an old module index) is library's.
    return name if "/" in name else f"library/{name}"
