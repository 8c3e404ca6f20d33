"""A fake upstream registry for unit tests of the pull-through stores: no HTTP.

:class:`FakeUpstream` has the interface of :class:`docker_registry.core.mirroring.Upstream`
(``open``, ``get_json``, ``layer_chunks``) and answers from a dictionary::

    upstream = FakeUpstream("http://upstream.invalid", BadGateway)
    upstream.routes["/v2/acme/app/blobs/sha256:..."] = (b"bytes", {"Content-Type": "..."})
    upstream.failures["/v1/images/<id>/json"] = BadGateway("upstream down")

Any other path is a 404 (:class:`~docker_registry.core.mirroring.UpstreamMiss`). Each
answer carries a ``Content-Length`` unless the route sets its own; bodies are cut into
``piece``-byte chunks, and every request is recorded in ``seen``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from docker_registry.core.mirroring import MirrorConfig, Upstream, UpstreamAnswer, UpstreamMiss


class FakeResponse:
    """An upstream answer: ``body``, ``headers`` and whether it was ``closed``."""

    def __init__(self, body: bytes, headers: Mapping[str, str]) -> None:
        self.body = body
        self.headers = dict(headers)
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeUpstream(Upstream):
    """Answers ``routes[path] = (body, headers)``, raises ``failures[path]``, else a 404.

    :param source: the upstream URL every request must name.
    :param gateway_error: the API's gateway error (raised for an answer ``get_json``'s
        validator refuses).
    """

    def __init__(self, source: str, gateway_error: Callable[[str], Exception]) -> None:
        super().__init__(MirrorConfig(source, timeout=5))
        self.source = source
        self.bad_gateway = self.gateway_timeout = gateway_error
        self.routes: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.failures: dict[str, Exception] = {}
        self.seen: list[tuple[str, str, Mapping[str, str]]] = []
        self.responses: list[FakeResponse] = []
        #: bytes per chunk of a streamed body
        self.piece = 4

    def open(self, base: str, path: str, headers: Mapping[str, str], *, method: str = "GET") -> Any:
        if base != self.source:
            raise AssertionError(f"asked {base}, not the upstream {self.source}")
        self.seen.append((method, path, headers))
        if path in self.failures:
            raise self.failures[path]
        if path not in self.routes:
            raise UpstreamMiss(404)
        body, answer_headers = self.routes[path]
        response = FakeResponse(body, {"Content-Length": str(len(body)), **answer_headers})
        self.responses.append(response)
        return response

    def get_json(
        self,
        base: str,
        path: str,
        headers: Mapping[str, str],
        validate: Callable[[Any], bool],
        what: str,
    ) -> UpstreamAnswer:
        response = self.open(base, path, headers)
        try:
            value = json.loads(response.body)
        except ValueError:
            value = None
        if value is None or not validate(value):
            raise self.bad_gateway(f"Mirror upstream {base} did not answer {what} (GET {path})")
        return UpstreamAnswer(response.body, value, response.headers)

    def layer_chunks(self, response: Any) -> Iterator[bytes]:
        body = response.body
        for start in range(0, len(body), self.piece):
            yield body[start : start + self.piece]

    def requests(self, method: str = "GET") -> list[str]:
        """The paths asked with ``method``, in order."""
        return [path for seen_method, path, _ in self.seen if seen_method == method]
