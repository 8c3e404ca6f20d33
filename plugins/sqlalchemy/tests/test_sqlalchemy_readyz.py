"""/readyz asks the search index's database and names it when it is gone."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_sqlalchemy_app import make_client


def test_readyz_names_a_search_database_that_went_away(own_postgres, new_database) -> None:
    client, _ = make_client(new_database(own_postgres.url))
    ready = client.simulate_get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json["checks"] == {"search (sqlalchemy)": "ok", "storage": "ok"}
    own_postgres.stop()
    ready = client.simulate_get("/readyz")
    assert ready.status_code == 503
    assert ready.json["failed"] == ["search (sqlalchemy)"]
    assert ready.json["checks"]["storage"] == "ok"
    assert client.simulate_get("/healthz").status_code == 200
