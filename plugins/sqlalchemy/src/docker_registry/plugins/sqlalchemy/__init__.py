"""registry-plugin-sqlalchemy: the seed's SQL search index, as a docker-registry plugin.

Enable it with::

    search_backend: sqlalchemy
    sqlalchemy_index_database: sqlite:////var/lib/docker-registry/index.db
    # or postgresql+psycopg://user:password@db.example/registry
    # unset: search-index.sqlite in the file storage's folder, else the working folder

Hooks implemented here:

* ``registry_search_backends`` offers ``sqlalchemy`` (:class:`~.index.SqlIndex`);
* ``registry_event`` keeps the index current: ``tag``/``push`` add a repository,
  ``repository_delete`` (v1) removes it, a v2 manifest ``delete`` removes it once no
  manifest is left. Failures are logged; a push never fails because of the index;
* ``registry_commands`` adds ``docker-registry index rebuild``.

Nothing is imported or connected until the backend is chosen.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from docker_registry.core.hookspecs import Event, SearchBackendSpec, hookimpl

from .options import registry_options as registry_options  # the hook, re-exported

if TYPE_CHECKING:
    from docker_registry.core.registry import Registry

    from .index import SqlIndex

log = logging.getLogger(__name__)

#: Where the running index is kept in ``registry.services``.
SERVICE_KEY = "sqlalchemy.index"

#: Event kinds that mean "this repository exists".
_INDEXING_KINDS = frozenset({"push", "tag"})


def create_index(registry: Registry) -> SqlIndex:
    """The ``sqlalchemy`` search backend: connect, set up the schema, remember it.

    The first process to create the index fills it from storage (the seed's walk).

    :raises ConfigError: the database is unreachable or holds another schema version.
    """
    from .index import SqlIndex, database_url
    from .scan import all_repositories

    # NOTE: the storage scan, not registry.repositories(): the search backend is built
    # while the APIs mount, before every API has registered its names.
    index = SqlIndex.connect(database_url(registry.settings))
    index.setup(lambda: all_repositories(registry.storage))
    registry.services[SERVICE_KEY] = index
    return index


@hookimpl
def registry_search_backends() -> Iterable[SearchBackendSpec]:
    yield SearchBackendSpec("sqlalchemy", create_index, "SQL search index (SQLite, PostgreSQL)")


def apply_event(index: SqlIndex, event: Event, registry: Registry) -> None:
    """Update ``index`` for ``event`` (may raise database errors)."""
    if event.kind in _INDEXING_KINDS:
        if event.api == "v2" and event.kind == "push" and event.details.get("kind") == "blob":
            return  # a layer upload alone does not make a repository
        if "description" in event.details:
            index.upsert(event.repository, event.details.get("description"))
        else:
            index.upsert(event.repository)
    elif event.kind == "repository_delete":
        index.delete(event.repository)
    elif event.kind == "delete" and event.api == "v2":
        from .scan import v2_has_manifests

        if not v2_has_manifests(registry.storage, event.repository):
            index.delete(event.repository)


@hookimpl
def registry_event(event: Event, registry: Registry) -> None:
    """Keep the index current; never fail the request that caused the event."""
    index: Any = registry.services.get(SERVICE_KEY)
    if index is None:
        return
    try:
        apply_event(index, event, registry)
    except Exception as exc:  # noqa: BLE001 - the push succeeded; the index can be rebuilt
        from .index import one_line

        log.warning(
            "search index not updated for %s %s of %s: %s (run 'docker-registry index "
            "rebuild' once the database is back)",
            event.api,
            event.kind,
            event.repository,
            one_line(exc),
        )


@hookimpl
def registry_commands(commands: argparse._SubParsersAction) -> None:
    """``docker-registry index rebuild``."""
    from .cli import add_index_command

    add_index_command(commands)
