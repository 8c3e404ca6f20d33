"""A storage driver that keeps every file as chunks in one SQLite database."""

from __future__ import annotations

import io
import sqlite3
import threading
import time
import uuid
from typing import BinaryIO

from docker_registry.core.storage import (
    CHUNK_SIZE,
    Capability,
    DriverOption,
    FileInfo,
    FileWriter,
    InvalidOffsetError,
    PathNotFoundError,
    StorageDriver,
    StorageError,
    validate_path,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime REAL, version TEXT);
CREATE TABLE IF NOT EXISTS chunks (
    version TEXT, start INTEGER, data BLOB, PRIMARY KEY (version, start)
);
"""
# Rows whose path starts with ?1 (a directory prefix ending in "/").
_UNDER = "substr(path, 1, length(?1)) = ?1"


class SQLiteDriver(StorageDriver):
    """Files are rows ``(path, size, mtime, version)``; their bytes are ``chunks`` rows of
    at most ``CHUNK_SIZE`` bytes, keyed by version and offset. Directories are implied.

    A writer stores its chunks under a new version as they arrive; ``commit`` points the
    path at that version in one transaction. A reader reads its version's chunks one at a
    time in a read transaction of its own connection: SQLite's WAL mode keeps that
    snapshot, so it returns the version it opened, whole (``Capability.SNAPSHOT_READS``).

    :param sqlite_path: the database file, created if missing.
    """

    name = "sqlite"
    options = (DriverOption("sqlite_path", str, required=True, help="the SQLite database file"),)
    capabilities = frozenset({Capability.SNAPSHOT_READS})

    def __init__(self, *, sqlite_path: str) -> None:
        self.sqlite_path = sqlite_path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self._db().executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            # NOTE: "file is not a database" and friends: the core prints it as one line.
            raise StorageError(
                f"cannot use {sqlite_path}: {exc}; point sqlite_path at a SQLite database "
                "or at a file that does not exist yet",
                driver=self.name,
                operation="__init__",
                path="/",
            ) from exc

    def connect(self) -> sqlite3.Connection:
        """A new connection (each reader has its own, for its snapshot)."""
        db = sqlite3.connect(
            self.sqlite_path, timeout=30, isolation_level=None, check_same_thread=False
        )
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def _db(self) -> sqlite3.Connection:
        # NOTE: one connection per thread (waitress runs many); close() may run anywhere.
        db = getattr(self._local, "db", None)
        if db is None:
            db = self.connect()
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def transaction(self) -> _Transaction:
        """This thread's connection in an immediate transaction, committed by ``with``."""
        return _Transaction(self._db())

    def _children(self, db: sqlite3.Connection, path: str) -> list[str]:
        prefix = "/" if path == "/" else path + "/"
        rows = db.execute(f"SELECT path FROM files WHERE {_UNDER}", (prefix,))
        return sorted({prefix + key[len(prefix) :].split("/", 1)[0] for (key,) in rows})

    def check_storable(self, db: sqlite3.Connection, path: str) -> None:
        """Refuse a file where a directory is, or below a file."""
        validate_path(path)
        if self._children(db, path):
            raise StorageError("a directory is at this path", path=path)
        parts = path.split("/")
        ancestors = ["/".join(parts[:end]) for end in range(2, len(parts))]
        for ancestor in ancestors:
            if db.execute("SELECT 1 FROM files WHERE path = ?", (ancestor,)).fetchone():
                raise StorageError(f"{ancestor} is a file, not a directory", path=path)

    # -- the contract ------------------------------------------------------------------

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        validate_path(path)
        if offset < 0:
            raise InvalidOffsetError(f"negative offset {offset}", path=path)
        return io.BufferedReader(SQLiteReader(self, path, offset), CHUNK_SIZE)

    def writer(self, path: str, append: bool = False) -> FileWriter:
        validate_path(path)
        return SQLiteFileWriter(self, path, append)

    def stat(self, path: str) -> FileInfo:
        validate_path(path, allow_root=True)
        query = "SELECT size, mtime FROM files WHERE path = ?"
        row = self._db().execute(query, (path,)).fetchone()
        if row is not None:
            return FileInfo(path, row[0], row[1], False)
        if path == "/" or self._children(self._db(), path):
            return FileInfo(path, 0, None, True)
        raise PathNotFoundError(path=path)

    def list(self, path: str) -> list[str]:
        validate_path(path, allow_root=True)
        children = self._children(self._db(), path)
        if not children and path != "/":
            raise PathNotFoundError("not a directory", path=path)
        return children

    def move(self, source: str, destination: str) -> None:
        validate_path(source)
        with self.transaction() as db:
            if not db.execute("SELECT 1 FROM files WHERE path = ?", (source,)).fetchone():
                raise PathNotFoundError(path=source)
            if source == destination:
                return
            self.check_storable(db, destination)
            _drop(db, "path = ?", (destination,))
            db.execute(
                "UPDATE files SET path = ?, mtime = ? WHERE path = ?",
                (destination, time.time(), source),
            )

    def delete(self, path: str) -> None:
        validate_path(path)
        with self.transaction() as db:
            deleted = _drop(db, f"path = ?2 OR {_UNDER}", (path + "/", path))
        if not deleted:
            raise PathNotFoundError(path=path)

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()


def _drop(db: sqlite3.Connection, where: str, parameters: tuple[str, ...]) -> int:
    """Delete the files matching ``where`` and their chunks; return how many files."""
    db.execute(
        f"DELETE FROM chunks WHERE version IN (SELECT version FROM files WHERE {where})",
        parameters,
    )
    return db.execute(f"DELETE FROM files WHERE {where}", parameters).rowcount


class _Transaction:
    """``with _Transaction(db) as db:`` runs the block in ``BEGIN IMMEDIATE`` ... ``COMMIT``."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        # NOTE: IMMEDIATE takes the write lock now, so the checks and the write are atomic.
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


class SQLiteReader(io.RawIOBase):
    """The chunks of one version, fetched one at a time in a read transaction."""

    def __init__(self, driver: SQLiteDriver, path: str, offset: int) -> None:
        self._db = driver.connect()
        # NOTE: the snapshot starts with the first SELECT and lasts until close().
        self._db.execute("BEGIN")
        query = "SELECT size, version FROM files WHERE path = ?"
        row = self._db.execute(query, (path,)).fetchone()
        if row is None:
            self._db.close()
            raise PathNotFoundError(path=path)
        self._size, self._version = row
        self._position = min(offset, self._size)
        self._chunk = memoryview(b"")
        self._chunk_start = self._position

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._position >= self._size:
            return 0
        used = self._position - self._chunk_start
        if used >= len(self._chunk):
            self._chunk_start, self._chunk = self._fetch(self._position)
            used = self._position - self._chunk_start
        count = min(len(buffer), len(self._chunk) - used)
        buffer[:count] = self._chunk[used : used + count]
        self._position += count
        return count

    def _fetch(self, position: int) -> tuple[int, memoryview]:
        """The chunk holding byte ``position`` of this version."""
        row = self._db.execute(
            "SELECT start, data FROM chunks WHERE version = ? AND start <= ? "
            "ORDER BY start DESC LIMIT 1",
            (self._version, position),
        ).fetchone()
        if row is None or row[0] + len(row[1]) <= position:
            raise StorageError(f"chunk at byte {position} of version {self._version} is missing")
        return row[0], memoryview(row[1])

    def close(self) -> None:
        if not self.closed:
            self._db.close()
        super().close()


class SQLiteFileWriter(FileWriter):
    """Stores each ``CHUNK_SIZE`` bytes as a chunk of a new version as they arrive;
    ``commit`` points the path at the version; ``cancel`` deletes its chunks."""

    def __init__(self, driver: SQLiteDriver, path: str, append: bool) -> None:
        self._driver = driver
        self._path = path
        self._version = uuid.uuid4().hex
        self._buffer = bytearray()
        self._stored = 0
        self._state = "open"
        if append:
            with driver.transaction() as db:
                row = db.execute(
                    "SELECT size, version FROM files WHERE path = ?", (path,)
                ).fetchone()
                if row is not None:
                    # NOTE: the current chunks are copied inside the database, not read.
                    db.execute(
                        "INSERT INTO chunks SELECT ?, start, data FROM chunks WHERE version = ?",
                        (self._version, row[1]),
                    )
                    self._stored = row[0]

    def write(self, data: bytes) -> int:
        self._check_open()
        self._buffer += data
        while len(self._buffer) >= CHUNK_SIZE:
            self._flush(CHUNK_SIZE)
        return len(data)

    def _flush(self, count: int) -> None:
        """Store the first ``count`` buffered bytes as the next chunk."""
        with self._driver.transaction() as db:
            db.execute(
                "INSERT INTO chunks VALUES (?, ?, ?)",
                (self._version, self._stored, bytes(self._buffer[:count])),
            )
        del self._buffer[:count]
        self._stored += count

    @property
    def size(self) -> int:
        return self._stored + len(self._buffer)

    def commit(self) -> None:
        self._check_open()
        if self._buffer:
            self._flush(len(self._buffer))
        with self._driver.transaction() as db:
            self._driver.check_storable(db, self._path)
            _drop(db, "path = ?", (self._path,))
            db.execute(
                "INSERT INTO files VALUES (?, ?, ?, ?)",
                (self._path, self._stored, time.time(), self._version),
            )
        self._state = "committed"

    def cancel(self) -> None:
        if self._state == "open":
            self._state = "cancelled"
            self._buffer.clear()
            with self._driver.transaction() as db:
                db.execute("DELETE FROM chunks WHERE version = ?", (self._version,))

    def close(self) -> None:
        self.cancel()

    def _check_open(self) -> None:
        if self._state != "open":
            raise StorageError(f"the writer is already {self._state}", path=self._path)
