"""Start the servers that plugins talk to (Redis, PostgreSQL) from their Debian packages.

Used by the plugins' test suites and by the scale-out end-to-end test, which runs several
registry instances beside one Redis and one PostgreSQL. Nothing here needs pytest.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

from .services import ServiceProcess, free_port, tcp_ready

#: Debian 12's PostgreSQL server binaries (package postgresql).
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def start_redis(maxmemory: str = "64mb", port: int | None = None) -> ServiceProcess:
    """Start ``redis-server`` as an LRU store on a free (or the given) port."""
    port = port or free_port()
    command = [
        "redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
        "--appendonly", "no", "--maxmemory", maxmemory, "--maxmemory-policy", "allkeys-lru",
    ]  # fmt: skip
    return ServiceProcess(
        command,
        name="redis",
        url=f"redis://127.0.0.1:{port}/0",
        ready=tcp_ready("127.0.0.1", port),
    ).start()


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
    """Start a throwaway PostgreSQL 15 on a free port; return it once it accepts TCP.

    Its ``url`` is a SQLAlchemy URL of the ``postgres`` database.
    """
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


def create_database(server_url: str) -> str:
    """Create a fresh database on the server at ``server_url``; return its URL (needs
    SQLAlchemy, which registry-plugin-sqlalchemy brings)."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    name = f"registry_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)
