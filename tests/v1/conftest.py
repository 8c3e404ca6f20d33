"""Fixtures of the v1 black-box tests: the v1 test client and a Hub-like token index."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# NOTE: the client lives in tests/v1client.py so that benchmarks can import it too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from v1client import V1Client


class TokenIndex:
    """A Hub-like index over real HTTP: a token is valid when it has ``signature=GOOD``.

    ``GET /v1/repositories/<ns>/<repo>/images`` lists ``images``;
    ``GET .../layer/<id>/access`` grants ids in ``allowed``.
    """

    def __init__(self) -> None:
        self.images: list[str] = []
        self.allowed: set[str] = set()
        self.calls: list[tuple[str, str | None]] = []
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                authorization = self.headers.get("Authorization")
                index.calls.append((self.path, authorization))
                if "signature=GOOD" not in (authorization or ""):
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path.endswith("/access"):
                    body = {"access": self.path.split("/")[-2] in index.allowed}
                else:
                    body = [{"id": image} for image in index.images]
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def token_index():
    index = TokenIndex()
    yield index
    index.close()


@pytest.fixture
def v1client(registry) -> V1Client:
    return V1Client(registry.url)


@pytest.fixture
def client_for():
    return V1Client
