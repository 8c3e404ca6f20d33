"""ForwardingMiddleware: the client request pull-through stores forward upstream is set
for the registry APIs' requests only, and only while they are served."""

from __future__ import annotations

import falcon
import falcon.testing

from docker_registry.core.middleware import ForwardingMiddleware
from docker_registry.core.mirroring import ClientRequest, client_request


class Recorder:
    def __init__(self) -> None:
        self.seen: list[ClientRequest | None] = []

    def on_get(self, req: falcon.Request, resp: falcon.Response, rest: str = "") -> None:
        self.seen.append(client_request())
        if rest == "boom":
            raise falcon.HTTPBadRequest(title="boom")


def make_client() -> tuple[falcon.testing.TestClient, Recorder]:
    app = falcon.App(middleware=[ForwardingMiddleware()])
    recorder = Recorder()
    app.add_route("/v1/{rest}", recorder)
    app.add_route("/v2/{rest}", recorder)
    app.add_route("/ui/{rest}", recorder)
    return falcon.testing.TestClient(app), recorder


def test_api_requests_forward_their_headers_and_path_as_spelled() -> None:
    client, recorder = make_client()
    client.simulate_get(
        "/v1/search", query_string="q=a%20b&n=2", headers={"Authorization": "Token x"}
    )
    client.simulate_get("/v2/acme", headers={"Accept": "application/json"})
    first, second = recorder.seen
    assert first is not None and second is not None
    assert first.headers["AUTHORIZATION"] == "Token x"
    assert first.path == "/v1/search?q=a%20b&n=2"
    assert second.headers["ACCEPT"] == "application/json"
    assert client_request() is None  # reset once answered


def test_other_requests_forward_nothing_and_errors_reset_the_context() -> None:
    client, recorder = make_client()
    client.simulate_get("/ui/page", headers={"Cookie": "session=secret"})
    assert recorder.seen == [None]
    assert client.simulate_get("/v2/boom").status_code == 400
    assert recorder.seen[-1] is not None
    assert client_request() is None
