"""A plugin's open prefix: its pages decide access themselves; nothing else opens."""

from __future__ import annotations

import falcon
import pytest

from docker_registry.core import hookimpl
from docker_registry.core.access.model import OPEN
from docker_registry.core.app import create_app
from docker_registry.core.config import Settings
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver


class _Pages:
    @hookimpl
    def registry_routes(self, app, registry):
        registry.access.open_prefix("/pages/")
        app.add_sink(self.sink, prefix="/pages/")

    def sink(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"kind": req.context.access.target.kind, "method": req.method}


def test_open_prefix_lets_posts_reach_the_plugin_and_keeps_the_apis_closed(htpasswd_file):
    config = {"auth_backend": "htpasswd", "htpasswd": {"path": str(htpasswd_file)}}
    app = create_app(
        Settings.from_mapping(config), storage=Storage(InMemoryDriver()), extra_plugins=[_Pages()]
    )
    client = falcon.testing.TestClient(app)
    answer = client.simulate_post("/pages/anything/delete")
    assert answer.status_code == 200 and answer.json == {"kind": OPEN, "method": "POST"}
    assert client.simulate_post("/pagesx/").status_code == 401
    assert client.simulate_get("/v2/team/app/tags/list").status_code == 401


@pytest.mark.parametrize("prefix", ["/", "pages/", "/pages", "/v2/ui/", "/v1/ui/"])
def test_open_prefix_refuses_prefixes_that_could_open_the_apis(prefix):
    app = create_app(
        Settings.from_mapping({"auth_backend": "open"}), storage=Storage(InMemoryDriver())
    )
    with pytest.raises(ValueError):
        app.access.open_prefix(prefix)
