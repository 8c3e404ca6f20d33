"""Access log and log formats (issue 13 §3): fields, masking, request ids in every line.

The live proof (a real server, skopeo pushing through htpasswd, JSON lines read back
from the process's stderr) is ``tests/v2/test_access_log_live.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging

import falcon.testing
import pytest

from docker_registry.core import hookimpl
from docker_registry.core.access_log import loggable_uri
from docker_registry.core.app import create_app
from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.logs import JsonFormatter, RequestIdFilter, TextFormatter
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver

IMAGE_ID = "a" * 64


class _Routes:
    @hookimpl
    def registry_routes(self, app, registry):
        class Boom:
            def on_get(self, req, resp):
                logging.getLogger("docker_registry.test").warning("about to fail")
                raise RuntimeError("the disk is on fire")

        app.add_route("/boom", Boom())


@pytest.fixture
def captured():
    """Every record of the docker_registry loggers, formatted both ways."""
    stream_text, stream_json = io.StringIO(), io.StringIO()
    handlers = []
    for stream, formatter in ((stream_text, TextFormatter()), (stream_json, JsonFormatter())):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        handlers.append(handler)
    root = logging.getLogger("docker_registry")
    previous = root.level
    root.setLevel(logging.INFO)
    for handler in handlers:
        root.addHandler(handler)
    yield stream_text, stream_json
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(previous)


def _client(**values) -> falcon.testing.TestClient:
    settings = Settings.from_mapping({"storage": "inmemory", **values})
    return falcon.testing.TestClient(
        create_app(settings, storage=Storage(InMemoryDriver()), extra_plugins=[_Routes()])
    )


def _json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_of_a_failing_request_carries_its_id(captured):
    text, as_json = captured
    answer = _client().simulate_get("/boom")
    request_id = answer.headers["X-Request-Id"]
    assert answer.status_code == 500 and request_id in answer.text
    records = _json_lines(as_json)
    warning = next(r for r in records if r["message"] == "about to fail")
    failure = next(r for r in records if r["level"] == "error")
    access = next(r for r in records if r["logger"] == "docker_registry.access")
    assert warning["request_id"] == failure["request_id"] == access["request_id"] == request_id
    assert "RuntimeError: the disk is on fire" in failure["exception"]
    assert access["status"] == 500 and access["method"] == "GET" and access["path"] == "/boom"
    assert f"docker_registry.test [{request_id}]: about to fail" in text.getvalue()


def test_no_id_outside_a_request(captured):
    text, as_json = captured
    logging.getLogger("docker_registry.test").warning("between requests")
    assert "request_id" not in _json_lines(as_json)[-1]
    assert "docker_registry.test: between requests" in text.getvalue()


def test_fields_of_a_v2_push_and_a_v1_image(captured):
    _, as_json = captured
    client = _client()
    started = client.simulate_post("/v2/team/app/blobs/uploads/")
    assert started.status_code == 202
    data = b"layer bytes"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = started.headers["Location"]
    finished = client.simulate_put(
        location + ("&" if "?" in location else "?") + f"digest={digest}",
        body=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert finished.status_code == 201, finished.text
    client.simulate_get(f"/v1/images/{IMAGE_ID}/json")
    records = [r for r in _json_lines(as_json) if r["logger"] == "docker_registry.access"]
    put = next(r for r in records if r["method"] == "PUT")
    assert put["repository"] == "team/app" and put["reference"] == digest
    assert put["bytes_in"] == len(data) and put["status"] == 201
    assert put["account"] == "-" and put["client"] == "127.0.0.1"
    assert isinstance(put["duration_ms"], float)
    v1 = next(r for r in records if r["path"].startswith("/v1/images/"))
    assert v1["reference"] == IMAGE_ID and v1["status"] == 404


def test_upload_state_is_masked_and_control_characters_escaped():
    uri = "/v2/a/b/blobs/uploads/u1?_state=SECRET.abc&digest=sha256:00"
    assert loggable_uri(uri) == "/v2/a/b/blobs/uploads/u1?_state=***&digest=sha256:00"
    assert loggable_uri("/v2/a\n1.2.3.4 forged\x1b[31m") == "/v2/a\\x0a1.2.3.4 forged\\x1b[31m"


def test_a_hostile_path_is_one_line(captured):
    text, as_json = captured
    _client().simulate_get("/v2/a\nb/tags/list", headers={"User-Agent": "x\x7fy"})
    lines = [line for line in text.getvalue().splitlines() if "docker_registry.access" in line]
    assert len(lines) == 1 and "/v2/a\\x0ab/tags/list" in lines[0]
    record = _json_lines(as_json)[-1]
    assert record["path"] == "/v2/a\\x0ab/tags/list" and record["user_agent"] == "x\\x7fy"


def test_log_format_and_level_keys():
    assert Settings.from_mapping({}).log_format == "text"
    assert Settings.from_mapping({"log_format": "JSON"}).log_format == "json"
    assert Settings.from_mapping({"log_level": "error", "loglevel": "debug"}).loglevel == "error"
    assert Settings.from_mapping({"loglevel": "debug"}).loglevel == "debug"
    with pytest.raises(ConfigError) as raised:
        Settings.from_mapping({"log_format": "xml"})
    assert raised.value.key == "log_format" and "text or json" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        Settings.from_mapping({"log_level": "loud"})
    assert raised.value.key == "log_level"
