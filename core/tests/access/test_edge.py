"""Refusing a body before it is spooled: the transport asks the authorize step at
header time and the spool discards the body; the app then answers the refusal."""

from __future__ import annotations

import base64
import json
import os

import falcon.testing
from authsupport import PASSWORDS
from waitress.adjustments import Adjustments

from docker_registry.core.spool import RefusedBody, body_refused, spooled
from docker_registry.core.transport import INBUF_OVERFLOW, channel_class

BODY = b"x" * (4 * INBUF_OVERFLOW)  # large enough to go to a spool file


def _parse(make_auth_app, tmp_path, headers: dict[str, str], path: str):
    app = make_auth_app()
    staging = tmp_path / "staging"
    gate = app.client.app.access.refuses_early
    parser_class = channel_class(str(staging), gate=gate).parser_class
    parser = parser_class(Adjustments(inbuf_overflow=INBUF_OVERFLOW))
    head = f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(BODY)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    data = head.encode() + BODY
    while data:
        data = data[parser.received(data) :]
        if parser.completed:
            break
        # NOTE: the spool must stay empty while the body arrives, not only afterwards
        assert not staging.exists() or not os.listdir(staging) or headers
    return parser, staging


def _basic(account: str) -> dict[str, str]:
    token = base64.b64encode(f"{account}:{PASSWORDS[account]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_an_unauthorized_body_is_never_written(make_auth_app, tmp_path):
    parser, staging = _parse(make_auth_app, tmp_path, {}, "/v2/team/app/blobs/uploads/u")
    assert parser.completed
    body = parser.get_body_stream()
    assert isinstance(body, RefusedBody) and body.body_size == len(BODY)
    assert body_refused(body)
    assert not staging.exists() or os.listdir(staging) == []


def test_a_wrong_password_or_missing_permission_is_refused_too(make_auth_app, tmp_path):
    for headers in (
        {"Authorization": "Basic " + base64.b64encode(b"writer:nope").decode()},
        _basic("reader"),
    ):
        parser, staging = _parse(make_auth_app, tmp_path, headers, "/v2/team/app/blobs/uploads/u")
        assert body_refused(parser.get_body_stream()), headers
        assert not staging.exists() or os.listdir(staging) == []


def test_an_authorized_body_is_spooled(make_auth_app, tmp_path):
    parser, staging = _parse(
        make_auth_app, tmp_path, _basic("writer"), "/v2/team/app/blobs/uploads/u"
    )
    body = spooled(parser.get_body_stream())
    assert body is not None and body.read() == BODY
    assert len(os.listdir(staging)) == 1


def test_the_app_answers_a_refused_body_even_if_it_would_allow(make_auth_app):
    """A body discarded at the edge never reaches a resource as an empty body."""
    app = make_auth_app()
    environ = falcon.testing.create_environ(
        "/v2/team/app/blobs/uploads/u", method="PUT", headers=_basic("writer")
    )
    environ["wsgi.input"] = RefusedBody(10)
    statuses = []
    body = b"".join(app.client.app(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["401 Unauthorized"]
    assert json.loads(body)["errors"][0]["code"] == "UNAUTHORIZED"


def test_open_registries_spool_as_before(tmp_path):
    parser_class = channel_class(str(tmp_path), None).parser_class
    parser = parser_class(Adjustments(inbuf_overflow=INBUF_OVERFLOW))
    head = f"PUT /v2/a/b/blobs/uploads/u HTTP/1.1\r\nContent-Length: {len(BODY)}\r\n\r\n"
    data = head.encode() + BODY
    while data and not parser.completed:
        data = data[parser.received(data) :]
    assert spooled(parser.get_body_stream()) is not None
