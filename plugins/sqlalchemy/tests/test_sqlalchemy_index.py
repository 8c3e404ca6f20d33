"""The SQL index on its own: the seed's schema, idempotent set-up, search, rebuild."""

from __future__ import annotations

import pytest
import sqlalchemy
from sqlalchemy import inspect, text

from docker_registry.core.config import ConfigError
from docker_registry.plugins.sqlalchemy.index import (
    NAME_LENGTH,
    SearchUnavailable,
    SqlIndex,
    clean_term,
    escape_like,
)
from docker_registry.testing.services import free_port


def _rows(url: str, query: str) -> list[tuple]:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query))]
    finally:
        engine.dispose()


def test_schema_is_the_seeds(database_url: str) -> None:
    index = SqlIndex.connect(database_url)
    assert index.setup() is True
    engine = sqlalchemy.create_engine(database_url)
    try:
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) == {"version", "repository"}
        version = {c["name"]: c for c in inspector.get_columns("version")}
        assert list(version) == ["id"]
        assert isinstance(version["id"]["type"], sqlalchemy.Integer)
        assert inspector.get_pk_constraint("version")["constrained_columns"] == ["id"]
        columns = {c["name"]: c for c in inspector.get_columns("repository")}
        assert list(columns) == ["id", "name", "description"]
        assert columns["name"]["type"].length == 95
        assert columns["name"]["nullable"] is False
        assert columns["description"]["type"].length == 100
        assert columns["description"]["nullable"] is True
        unique = [u["column_names"] for u in inspector.get_unique_constraints("repository")]
        indexes = [i["column_names"] for i in inspector.get_indexes("repository") if i["unique"]]
        assert ["name"] in unique + indexes
    finally:
        engine.dispose()
        index.close()
    assert _rows(database_url, "SELECT id FROM version") == [(1,)]


def test_setup_is_idempotent_and_fills_only_once(database_url: str) -> None:
    first = SqlIndex.connect(database_url)
    assert first.setup(lambda: ["library/ubuntu", "a/b", "a/b"]) is True
    calls: list[int] = []
    second = SqlIndex.connect(database_url)
    assert second.setup(lambda: calls.append(1) or ["x/y"]) is False
    assert calls == []  # an existing index is never re-walked
    assert second.names() == ["a/b", "library/ubuntu"]
    assert _rows(database_url, "SELECT id FROM version") == [(1,)]
    first.close()
    second.close()


def test_other_schema_version_fails_start_up(sqlite_url: str) -> None:
    index = SqlIndex.connect(sqlite_url)
    index.setup()
    with index.engine.begin() as conn:
        conn.execute(text("UPDATE version SET id = 2"))
    with pytest.raises(ConfigError, match="unrecognized search index version 2"):
        SqlIndex.connect(sqlite_url).setup()
    index.close()


def test_unreachable_database_is_one_config_error_line() -> None:
    port = free_port()
    url = f"postgresql+psycopg://registry:s3cret@127.0.0.1:{port}/index"
    with pytest.raises(ConfigError) as caught:
        SqlIndex.connect(url)
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot connect to the search index database" in message
    assert f"127.0.0.1:{port}" in message
    assert "s3cret" not in message
    assert caught.value.key == "sqlalchemy_index_database"


def test_malformed_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid database URL"):
        SqlIndex.connect("nosuchdialect://x/y")


@pytest.fixture
def index(database_url: str):
    created = SqlIndex.connect(database_url)
    created.setup()
    yield created
    created.close()


def test_search_matches_name_and_description_case_insensitively(index: SqlIndex) -> None:
    index.upsert("library/ubuntu", "Ubuntu base image")
    index.upsert("team/web", "the Frontend")
    index.upsert("team/db")
    assert index.search("UBU", 1, None) == (
        1,
        [{"description": "Ubuntu base image", "name": "library/ubuntu"}],
    )
    assert index.search("frontend", 1, None)[1][0]["name"] == "team/web"
    total, results = index.search("", 1, None)
    assert total == 3
    assert [r["name"] for r in results] == ["library/ubuntu", "team/db", "team/web"]


def test_search_pages(index: SqlIndex) -> None:
    for number in range(7):
        index.upsert(f"ns/repo{number}")
    assert index.search("repo", 1, 3) == (
        7,
        [{"description": None, "name": f"ns/repo{n}"} for n in range(3)],
    )
    assert [r["name"] for r in index.search("repo", 3, 3)[1]] == ["ns/repo6"]
    assert index.search("repo", 4, 3) == (7, [])


def test_sql_metacharacters_match_literally(index: SqlIndex) -> None:
    index.upsert("ns/plain")
    index.upsert("ns/per%cent")
    index.upsert("ns/under_score")
    index.upsert("ns/back\\slash")
    index.upsert("ns/quote'd")
    assert index.search("%", 1, None)[1] == [{"description": None, "name": "ns/per%cent"}]
    assert [r["name"] for r in index.search("_", 1, None)[1]] == ["ns/under_score"]
    assert [r["name"] for r in index.search("\\", 1, None)[1]] == ["ns/back\\slash"]
    assert [r["name"] for r in index.search("'", 1, None)[1]] == ["ns/quote'd"]
    assert index.search("'; DROP TABLE repository; --", 1, None) == (0, [])
    assert index.search("", 1, None)[0] == 5


def test_long_nul_and_undecodable_terms_are_answered(index: SqlIndex) -> None:
    index.upsert("ns/café", "crème brûlée")
    assert index.search("x" * 10_000, 1, None) == (0, [])
    assert index.search("a\x00b", 1, None) == (0, [])
    assert index.search("\udcff\udcfe", 1, None) == (0, [])
    assert index.search("brûlée", 1, None)[0] == 1
    assert clean_term("\udcff") == "?"
    assert escape_like("a%b_c\\") == "a\\%b\\_c\\\\"


def test_upsert_keeps_or_sets_description_and_delete_forgets(index: SqlIndex) -> None:
    index.upsert("a/b", "first")
    index.upsert("a/b")
    assert index.search("a/b", 1, None)[1] == [{"description": "first", "name": "a/b"}]
    index.upsert("a/b", "")
    assert index.search("a/b", 1, None)[1] == [{"description": "", "name": "a/b"}]
    index.upsert("a/b", "d" * 500)
    assert index.search("a/b", 1, None)[1][0]["description"] == "d" * 100
    index.delete("a/b")
    index.delete("never/indexed")
    assert index.names() == []
    index.upsert("n/" + "x" * NAME_LENGTH)
    assert index.names() == []  # longer than the seed's VARCHAR(95): logged, skipped


def test_rebuild_matches_storage_and_keeps_descriptions(index: SqlIndex) -> None:
    index.upsert("stays/here", "kept description")
    index.upsert("gone/away")
    progress: list[tuple[int, int]] = []
    result = index.rebuild(["stays/here", "new/one", "new/two"], lambda *p: progress.append(p))
    assert (result.added, result.removed, result.kept) == (2, 1, 1)
    assert index.names() == ["new/one", "new/two", "stays/here"]
    assert index.search("stays", 1, None)[1][0]["description"] == "kept description"
    assert progress[-1] == (3, 3)


def test_search_raises_503_when_the_database_is_gone(own_postgres, new_database) -> None:
    url = new_database(own_postgres.url)
    index = SqlIndex.connect(url)
    index.setup()
    index.upsert("a/b")
    assert index.search("a", 1, None)[0] == 1
    own_postgres.stop()
    with pytest.raises(SearchUnavailable) as caught:
        index.search("a", 1, None)
    assert str(caught.value.status).startswith("503")
    assert "search index unavailable" in caught.value.description
    index.close()
