"""Fixtures: a SQLite file per test, and a real PostgreSQL server started for the session.

``REGISTRY_TEST_POSTGRES_URL`` (``postgresql+psycopg://user@host:port/db``) reuses a
running server instead; every test still gets a database of its own, created through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_registry.testing.servers import PostgresProcess, create_database, start_postgres
from docker_registry.testing.services import service_url


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of the session's PostgreSQL server (its ``postgres`` database)."""
    with service_url("REGISTRY_TEST_POSTGRES_URL", start_postgres) as url:
        yield url


@pytest.fixture
def new_database():
    """``new_database(server_url) -> url``: create a fresh database on a server."""
    return create_database


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """A new, empty PostgreSQL database for one test."""
    return create_database(postgres_server_url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file (not yet created) for one test."""
    return f"sqlite:///{tmp_path / 'index.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def own_postgres() -> Iterator[PostgresProcess]:
    """A PostgreSQL server of this test's own, which the test may stop."""
    process = start_postgres()
    try:
        yield process
    finally:
        process.stop()
