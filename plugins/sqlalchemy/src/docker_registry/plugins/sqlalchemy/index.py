"""The SQL search index: the seed's schema, set up idempotently, kept current, searched.

Schema version 1, exactly the seed's (docker-registry 0.9.1, spec §6.5)::

    version     id INTEGER PRIMARY KEY                  -- the single row 1
    repository  id INTEGER PRIMARY KEY,
                name VARCHAR(95) NOT NULL UNIQUE,       -- "<ns>/<repo>" (30 + 1 + 64)
                description VARCHAR(100) NULL

Several registry processes may start at once against one database. No lock file: each
creates the tables with ``CREATE TABLE IF NOT EXISTS`` in a transaction, then inserts the
version row if it is absent; losing either race (a duplicate-table or duplicate-key
error, a busy SQLite file) just means another process did it, so the step is retried
and the outcome re-read. Only the process whose version row was committed fills the
index from storage, in the same transaction.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.schema import CreateTable

from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.http_errors import RegistryError
from docker_registry.core.storage.factory import canonical_name

from .options import INDEX_DATABASE

log = logging.getLogger(__name__)


def database_url(settings: Settings) -> str:
    """``sqlalchemy_index_database``, else a SQLite file in the registry's own folder.

    The folder is the file storage's ``storage_path`` (so the index travels with the data
    it describes), or the working folder for other drivers. NOTE: the seed's default,
    ``/tmp/docker-registry.db``, was one file for every registry on the machine: a second
    instance with another storage found the first one's repositories in its search.
    """
    configured: str | None = INDEX_DATABASE.read(settings)
    if configured:
        return configured
    if canonical_name(settings.storage) == "file" and settings.storage_path:
        folder = Path(settings.storage_path).resolve()
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path.cwd()
    return f"sqlite:///{folder / DEFAULT_FILE}"


#: The default index: a SQLite file of this name next to the registry's data.
DEFAULT_FILE = "search-index.sqlite"
SCHEMA_VERSION = 1
NAME_LENGTH = 30 + 1 + 64
DESCRIPTION_LENGTH = 100
#: Seconds a client waits for the database: SQLite's busy timeout, PostgreSQL's connect.
CONNECT_TIMEOUT = 5

metadata = MetaData()
version_table = Table(
    "version", metadata, Column("id", Integer, primary_key=True, autoincrement=False)
)
repository_table = Table(
    "repository",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False, unique=True),
    Column("description", String(DESCRIPTION_LENGTH), nullable=True),
)

_T = TypeVar("_T")
_KEEP: Any = object()


class SearchUnavailable(RegistryError):
    """The index database cannot be reached: ``/v1/search`` answers a JSON 503."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            503,
            f"search index unavailable ({reason}); try again later",
            code="UNAVAILABLE",
            headers={"Retry-After": "5"},
        )


@dataclass(frozen=True)
class RebuildResult:
    """What :meth:`SqlIndex.rebuild` changed."""

    added: int
    removed: int
    kept: int


def one_line(exc: BaseException) -> str:
    """A database error as one short line (psycopg messages span several lines)."""
    orig = getattr(exc, "orig", None) or exc
    text = re.sub(r"\s+", " ", str(orig)).strip()
    return f"{type(orig).__name__}: {text[:300]}"


def escape_like(term: str) -> str:
    """Escape LIKE metacharacters (``\\``, ``%``, ``_``) for ``ESCAPE '\\'``."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def clean_term(query: str) -> str | None:
    """The search term to use, or ``None`` when nothing stored can match it.

    Lone surrogates (from undecodable bytes) become ``?``; a NUL or a term longer than
    any stored value cannot match (and PostgreSQL refuses NUL in text).
    """
    term = query.encode("utf-8", "replace").decode("utf-8")
    if "\x00" in term or len(term) > max(NAME_LENGTH, DESCRIPTION_LENGTH):
        return None
    return term


def create_index_engine(url: str) -> Engine:
    """An engine for ``url`` with short timeouts and stale-connection checks.

    :raises ConfigError: the URL is malformed or names a dialect that is not installed.
    """
    try:
        parsed = make_url(url)
        connect_args: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            connect_args = {"timeout": 30, "check_same_thread": False}
        elif parsed.get_backend_name() == "postgresql":
            connect_args = {"connect_timeout": CONNECT_TIMEOUT}
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise ConfigError(
            f"invalid database URL: {one_line(exc)}", key="sqlalchemy_index_database"
        ) from None


class SqlIndex:
    """Repository names and descriptions in a SQL database, searched with ``LIKE``.

    :param engine: the index database.
    :param setup_attempts: how often a lost start-up race is retried.
    """

    def __init__(self, engine: Engine, *, setup_attempts: int = 30) -> None:
        self.engine = engine
        self.setup_attempts = setup_attempts

    @classmethod
    def connect(cls, url: str) -> SqlIndex:
        """An index on the database at ``url``, checked to answer.

        :raises ConfigError: bad URL, or the database does not answer (one line).
        """
        engine = create_index_engine(url)
        try:
            with engine.connect():
                pass
        except DBAPIError as exc:
            engine.dispose()
            shown = make_url(url).render_as_string(hide_password=True)
            raise ConfigError(
                f"cannot connect to the search index database {shown}: {one_line(exc)}",
                key="sqlalchemy_index_database",
            ) from None
        return cls(engine)

    def _retry(self, step: str, call: Callable[[], _T]) -> _T:
        """Run ``call``; on a database error (a lost race) wait a little and retry."""
        for attempt in range(1, self.setup_attempts + 1):
            try:
                return call()
            except DBAPIError as exc:
                if attempt == self.setup_attempts:
                    raise ConfigError(
                        f"search index {step} failed {attempt} times: {one_line(exc)}",
                        key="sqlalchemy_index_database",
                    ) from None
                log.debug("search index %s: attempt %d lost a race: %s", step, attempt, exc)
                time.sleep(random.uniform(0.02, 0.1) * attempt)
        raise AssertionError("unreachable")

    def _create_tables(self) -> None:
        with self.engine.begin() as conn:
            for table in metadata.sorted_tables:
                conn.execute(CreateTable(table, if_not_exists=True))

    def version(self) -> int | None:
        """The schema version stored in the database (``None`` before set-up)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(version_table.c.id))).scalar()

    def _claim(self, initial: Callable[[], Iterable[str]] | None) -> bool:
        if self.version() is not None:
            return False
        names = sorted(set(initial())) if initial is not None else []
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(version_table).values(id=SCHEMA_VERSION))
                self._insert_missing(conn, names, None)
        except IntegrityError:
            return False  # another process committed the version row first
        log.info("search index created with %d repositories found in storage", len(names))
        return True

    def setup(self, initial: Callable[[], Iterable[str]] | None = None) -> bool:
        """Create the schema if needed; safe when several processes run it at once.

        :param initial: returns the repository names to index when this call creates the
            index (the seed's one-off storage walk); not called otherwise.
        :returns: True when this call created the index.
        :raises ConfigError: the database holds another schema version, or keeps failing.
        """
        self._retry("table creation", self._create_tables)
        created = self._retry("initialisation", lambda: self._claim(initial))
        found = self._retry("version check", self.version)
        if found != SCHEMA_VERSION:
            raise ConfigError(
                f"unrecognized search index version {found} (this registry knows version "
                f"{SCHEMA_VERSION}); point sqlalchemy_index_database at a new database",
                key="sqlalchemy_index_database",
            )
        return created

    @staticmethod
    def _insert_missing(conn: Any, names: Iterable[str], description: str | None) -> int:
        wanted = [name for name in names if _indexable(name)]
        present = set(conn.execute(select(repository_table.c.name)).scalars())
        rows = [{"name": n, "description": description} for n in wanted if n not in present]
        if rows:
            conn.execute(insert(repository_table), rows)
        return len(rows)

    def upsert(self, name: str, description: Any = _KEEP) -> None:
        """Index ``name``; set its description if one is given, else keep the stored one.

        :raises sqlalchemy.exc.DBAPIError: the database is unreachable.
        """
        if not _indexable(name):
            log.warning("search index: repository name longer than %d: %s", NAME_LENGTH, name)
            return
        values: dict[str, str | None] = {}
        if description is not _KEEP:
            text = None if description is None else str(description)[:DESCRIPTION_LENGTH]
            values["description"] = text
        for _attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    where = repository_table.c.name == name
                    if values:
                        found = conn.execute(update(repository_table).where(where).values(values))
                        present = found.rowcount > 0
                    else:
                        row = conn.execute(select(repository_table.c.id).where(where)).first()
                        present = row is not None
                    if not present:
                        conn.execute(insert(repository_table).values(name=name, **values))
                return
            except IntegrityError:
                continue  # inserted by another process meanwhile: update it next time

    def delete(self, name: str) -> None:
        """Forget ``name`` (no error when it is not indexed)."""
        with self.engine.begin() as conn:
            conn.execute(delete(repository_table).where(repository_table.c.name == name))

    def names(self) -> list[str]:
        """Every indexed name, sorted."""
        with self.engine.connect() as conn:
            query = select(repository_table.c.name).order_by(repository_table.c.name)
            return list(conn.execute(query).scalars())

    def search(self, query: str, page: int, per_page: int | None) -> tuple[int, list[dict]]:
        """Repositories whose name or description contains ``query``, case-insensitively.

        The search backend protocol of ``/v1/search``: the number of matches and the
        requested page of ``{"name", "description"}`` (all of them when ``per_page`` is
        ``None``), sorted by name.

        :raises SearchUnavailable: the database does not answer (a JSON 503).
        """
        term = clean_term(query)
        if term is None:
            return 0, []
        pattern = f"%{escape_like(term)}%"
        condition = or_(
            repository_table.c.name.ilike(pattern, escape="\\"),
            repository_table.c.description.ilike(pattern, escape="\\"),
        )
        rows_query = (
            select(repository_table.c.name, repository_table.c.description)
            .where(condition)
            .order_by(repository_table.c.name)
        )
        if per_page is not None:
            rows_query = rows_query.limit(per_page).offset((max(page, 1) - 1) * per_page)
        count_query = select(func.count()).select_from(repository_table).where(condition)
        try:
            with self.engine.connect() as conn:
                total = int(conn.execute(count_query).scalar_one())
                rows = conn.execute(rows_query).all()
        except DBAPIError as exc:
            log.error("search index query failed: %s", one_line(exc))
            raise SearchUnavailable(one_line(exc)) from exc
        return total, [{"description": row.description, "name": row.name} for row in rows]

    def rebuild(
        self, names: Iterable[str], progress: Callable[[int, int], None] | None = None
    ) -> RebuildResult:
        """Make the index hold exactly ``names`` (descriptions of kept names survive).

        :param names: every repository found in storage.
        :param progress: called as ``progress(done, total)`` while rows are written.
        """
        wanted = {name for name in names if _indexable(name)}
        with self.engine.begin() as conn:
            present = set(conn.execute(select(repository_table.c.name)).scalars())
            doomed = sorted(present - wanted)
            missing = sorted(wanted - present)
            total = len(doomed) + len(missing)
            done = 0
            for batch in _batches(doomed, 500):
                conn.execute(delete(repository_table).where(repository_table.c.name.in_(batch)))
                done += len(batch)
                if progress:
                    progress(done, total)
            for batch in _batches(missing, 500):
                conn.execute(
                    insert(repository_table), [{"name": n, "description": None} for n in batch]
                )
                done += len(batch)
                if progress:
                    progress(done, total)
        return RebuildResult(added=len(missing), removed=len(doomed), kept=len(wanted & present))

    def close(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()


def _indexable(name: str) -> bool:
    return 0 < len(name) <= NAME_LENGTH


def _batches(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
