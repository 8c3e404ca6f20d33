"""The key registry-plugin-sqlalchemy reads, declared through ``registry_options``."""

from __future__ import annotations

from collections.abc import Iterable

from docker_registry.core.config.options import Option
from docker_registry.core.config.parsers import text
from docker_registry.core.hookspecs import hookimpl

INDEX_DATABASE = Option(
    "sqlalchemy_index_database",
    text,
    env="SQLALCHEMY_INDEX_DATABASE",
    default_doc="(empty: `search-index.sqlite` in the file storage's folder, else the "
    "working folder)",
    help="SQLAlchemy URL of the search index, used with `search_backend: sqlalchemy` (the "
    "seed's `/tmp/docker-registry.db` was shared by every registry on the machine)",
)


@hookimpl
def registry_options() -> Iterable[Option]:
    return (INDEX_DATABASE,)
