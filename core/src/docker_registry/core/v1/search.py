"""v1 search (R27): the backend protocol, the in-core ``storage`` backend, the seed's form.

A search backend (offered through ``registry_search_backends``, picked by config
``search_backend``) implements::

    search(query: str, page: int, per_page: int | None) -> tuple[int, list[dict]]

returning the total number of matches and the requested page of
``{"name": "<ns>/<repo>", "description": str | None}`` results (``per_page=None``: all).

Without ``search_backend`` the built-in ``storage`` scan answers. The seed's
``search_backend: some.module`` form keeps working: a configured name that no
plugin offers is imported as a module whose ``Index`` class is instantiated, and its
``results(term)`` list is paged here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from ..config import ConfigError
from ..plugins import load_module_plugin

log = logging.getLogger(__name__)


def _page(results: list[dict[str, Any]], page: int, per_page: int | None) -> list[dict]:
    if per_page is None:
        return results
    start = (page - 1) * per_page
    return results[start : start + per_page]


class StorageSearch:
    """Scans storage for v1 and v2 repository names on each query; a substring match.

    The default when no ``search_backend`` is set. Cost grows with the number of
    repositories (a listing per namespace and per v2 name component); a large registry
    wants an index (``search_backend: sqlalchemy``). Descriptions are ``None`` (the seed's
    storage walk gave ``null`` too).
    """

    def __init__(self, names: Callable[[], list[str]]) -> None:
        self.names = names

    @classmethod
    def from_registry(cls, registry: Any) -> StorageSearch:
        """Every repository, v1 ``<ns>/<repo>`` (decoded) and v2 ``<name>``, listed anew
        for each query."""
        return cls(registry.repositories)

    def search(self, query: str, page: int, per_page: int | None) -> tuple[int, list[dict]]:
        term = query.lower()
        results = [
            {"description": None, "name": name} for name in self.names() if term in name.lower()
        ]
        return len(results), _page(results, page, per_page)


class ModuleIndexSearch:
    """Adapter for the seed's ``search_backend: some.module`` (module with ``Index``)."""

    def __init__(self, index: Any) -> None:
        self.index = index

    @classmethod
    def load(cls, dotted: str) -> ModuleIndexSearch:
        try:
            module = load_module_plugin(dotted)
        except ConfigError as exc:
            raise ConfigError(
                f"no installed search backend is called '{dotted}' and it is not an "
                f"importable module with an Index class ({exc.detail})"
                + ("; pip install registry-plugin-sqlalchemy" if dotted == "sqlalchemy" else ""),
                key="search_backend",
            ) from None
        index_class = getattr(module, "Index", None)
        if index_class is None:
            raise ConfigError(
                f"search_backend '{dotted}' is neither an installed search backend nor a "
                "module with an Index class",
                key="search_backend",
            )
        return cls(index_class())

    def search(self, query: str, page: int, per_page: int | None) -> tuple[int, list[dict]]:
        results = list(self.index.results(query) or [])
        return len(results), _page(results, page, per_page)


def create_search_backend(registry: Any) -> Any:
    """The configured search backend; the storage scan when ``search_backend`` is empty.

    NOTE: 0.9.1 mounted no search without a backend; an empty answer instead made
    ``podman search HOST/<term>`` list nothing (it trusts a 200 from ``/v1/search``), so
    the default answer is the real one, from storage (issue 15).
    """
    name = registry.settings.search_backend
    if not name:
        return StorageSearch.from_registry(registry)
    offered = registry.search_backends()
    if name in offered:
        return offered[name].factory(registry)
    return ModuleIndexSearch.load(name)


def search_response(backend: Any, query: str, page: int, per_page: int | None) -> dict:
    """The R27 body: ``{"num_results", "query", "results"}`` (+ paging keys when paged)."""
    if backend is None:
        total, results = 0, []
    else:
        total, results = backend.search(query, page, per_page)
    body: dict[str, Any] = {"num_results": total, "query": query, "results": results}
    if per_page is not None:
        body.update(
            {"page": page, "page_size": per_page, "num_pages": max(1, -(-total // per_page))}
        )
    return json.loads(json.dumps(body, default=str))
