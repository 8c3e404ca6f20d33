"""v1 search (R27): the backend protocol, the in-core ``storage`` backend, the seed's form.

A search backend (offered through ``registry_search_backends``, picked by config
``search_backend``) implements::

    search(query: str, page: int, per_page: int | None) -> tuple[int, list[dict]]

returning the total number of matches and the requested page of
``{"name": "<ns>/<repo>", "description": str | None}`` results (``per_page=None``: all).

The seed's ``search_backend: some.module`` form keeps working: a configured name that no
plugin offers is imported as a module whose ``Index`` class is instantiated, and its
``results(term)`` list is paged here.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..config import ConfigError
from ..plugins import load_module_plugin
from ..storage import PathNotFoundError, Storage
from . import layout

log = logging.getLogger(__name__)


def _page(results: list[dict[str, Any]], page: int, per_page: int | None) -> list[dict]:
    if per_page is None:
        return results
    start = (page - 1) * per_page
    return results[start : start + per_page]


class StorageSearch:
    """Scans ``/repositories/<ns>/<repo>`` on each query; a name substring match.

    Fine for small registries and tests; descriptions are ``None`` (the seed's storage
    walk gave ``null`` too).
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @classmethod
    def from_registry(cls, registry: Any) -> StorageSearch:
        return cls(registry.storage)

    def names(self) -> list[str]:
        """Every repository as ``<ns>/<repo>`` (decoded), sorted."""
        found = []
        try:
            namespaces = self.storage.list(layout.repositories_path())
        except PathNotFoundError:
            return []
        for namespace_path in namespaces:
            try:
                repositories = self.storage.list(namespace_path)
            except PathNotFoundError:
                continue  # a file, or removed meanwhile
            namespace = layout.decode_component(namespace_path.rsplit("/", 1)[-1])
            for repository_path in repositories:
                encoded = repository_path.rsplit("/", 1)[-1]
                # NOTE: double-encoded on storage (spec §1.5): decode twice.
                repository = layout.decode_component(layout.decode_component(encoded))
                found.append(f"{namespace}/{repository}")
        return sorted(found)

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
        module = load_module_plugin(dotted)
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


def create_search_backend(registry: Any) -> Any | None:
    """The configured search backend, or ``None`` when ``search_backend`` is empty."""
    name = registry.settings.search_backend
    if not name:
        return None
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
