"""Fixtures: a SQLite file per test, and a real PostgreSQL server started for the session.

``REGISTRY_TEST_POSTGRES_URL`` (``postgresql+psycopg://user@host:port/db``) reuses a
running server instead; every test still gets a database of its own, created through it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from docker_registry.testing.services import ServiceProcess, free_port, service_url, tcp_ready

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(command: str) -> list[str]:
    """Run ``command`` as the ``postgres`` user when we are root (initdb refuses root)."""
    if os.geteuid() == 0:
        return ["su", "postgres", "-s", "/bin/sh", "-c", command]
    return ["/bin/sh", "-c", command]


class PostgresProcess(ServiceProcess):
    """A PostgreSQL server whose data directory is removed when it stops."""

    data_dir: Path | None = None

    def stop(self, *, remove_log: bool = True) -> int | None:
        code = super().stop(remove_log=remove_log)
        if self.data_dir is not None and remove_log:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return code


def start_postgres() -> PostgresProcess:
    """Start a throwaway PostgreSQL 15 on a free port; return it once it accepts TCP."""
    data = Path(tempfile.mkdtemp(prefix="registry-test-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(
        _as_postgres(f"{PG_BIN}/initdb -D {data}/db -U postgres -A trust >/dev/null"),
        check=True,
        timeout=120,
    )
    port = free_port()
    command = (
        f"exec {PG_BIN}/postgres -D {data}/db -p {port} -k {data} "
        "-c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    )
    process = PostgresProcess(
        _as_postgres(command),
        name="postgres",
        url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
        ready=tcp_ready("127.0.0.1", port),
        stop_signal=signal.SIGINT,
    )
    process.data_dir = data
    process.start()
    return process


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of the session's PostgreSQL server (its ``postgres`` database)."""
    with service_url("REGISTRY_TEST_POSTGRES_URL", start_postgres) as url:
        yield url


def create_database(server_url: str) -> str:
    """Create a fresh database on the server at ``server_url``; return its URL."""
    name = f"registry_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


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
