"""Several registry processes creating the index at the same moment (the seed's #892).

No lock file: every process must come up, the schema must exist once, the version row
must be the single row 1, and the storage walk must be inserted exactly once.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import sqlalchemy
from sqlalchemy import text

from docker_registry.plugins.sqlalchemy.index import SqlIndex

WORKERS = 8
NAMES = [f"ns/repo{number:02d}" for number in range(40)]

# NOTE: each process connects first (imports are slow), then waits for the shared start
# time so that all of them run the set-up at once.
SCRIPT = """
import sys, time
from docker_registry.plugins.sqlalchemy.index import SqlIndex
url, start = sys.argv[1], float(sys.argv[2])
names = [f"ns/repo{number:02d}" for number in range(40)]
index = SqlIndex.connect(url)
while time.time() < start:
    time.sleep(0.001)
print("created" if index.setup(lambda: names) else "joined")
"""


def _state(url: str) -> tuple[list[tuple], list[str]]:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            versions = [tuple(row) for row in conn.execute(text("SELECT id FROM version"))]
            names = [row[0] for row in conn.execute(text("SELECT name FROM repository"))]
    finally:
        engine.dispose()
    return versions, sorted(names)


def _race_processes(url: str) -> list[subprocess.CompletedProcess[str]]:
    start = time.time() + 4.0
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        results.append(
            subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        )
    return results


def _assert_one_creator(outcomes: list[str], url: str) -> None:
    assert sorted(outcomes) == ["created"] + ["joined"] * (WORKERS - 1)
    versions, names = _state(url)
    assert versions == [(1,)]
    assert names == NAMES


def test_processes_starting_at_once_on_sqlite(sqlite_url: str) -> None:
    results = _race_processes(sqlite_url)
    for result in results:
        assert result.returncode == 0, result.stderr
    _assert_one_creator([result.stdout.strip() for result in results], sqlite_url)


def test_processes_starting_at_once_on_postgresql(postgres_url: str) -> None:
    results = _race_processes(postgres_url)
    for result in results:
        assert result.returncode == 0, result.stderr
    _assert_one_creator([result.stdout.strip() for result in results], postgres_url)


def test_threads_starting_at_once(database_url: str) -> None:
    barrier = threading.Barrier(WORKERS)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    indexes = [SqlIndex.connect(database_url) for _ in range(WORKERS)]

    def run(index: SqlIndex) -> None:
        try:
            barrier.wait()
            outcomes.append("created" if index.setup(lambda: NAMES) else "joined")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in indexes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for index in indexes:
        index.close()
    assert errors == []
    _assert_one_creator(outcomes, database_url)
