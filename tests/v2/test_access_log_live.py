"""Access log of a live server (issue 13 §3): skopeo pushes through htpasswd, and the
JSON lines on the server's stderr name the account, repository, digests and bytes."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess

import pytest
import requests
from v2support import digest, start_ours, write_oci_layout

pytestmark = pytest.mark.slow

PASSWORD = "writer pw"


@pytest.fixture
def server(tmp_path):
    if shutil.which("htpasswd") is None:
        pytest.fail("htpasswd is missing: apt-get install -y apache2-utils")
    users = tmp_path / "htpasswd"
    subprocess.run(["htpasswd", "-cbB", str(users), "writer", PASSWORD], check=True)
    access = [{"accounts": ["writer"], "repositories": ["team/**"], "actions": ["pull", "push"]}]
    ours = start_ours(
        tmp_path / "ours",
        loglevel="info",
        log_format="json",
        auth_backend="htpasswd",
        htpasswd={"path": str(users), "realm": "logs", "access": access},
    )
    yield ours
    ours.process.stop()


def _access_records(server) -> list[dict]:
    records = []
    for line in server.process.log_path.read_text().splitlines():
        record = json.loads(line)  # every line is one JSON object
        if record["logger"] == "docker_registry.access":
            records.append(record)
    return records


def test_skopeo_push_is_logged_with_account_repository_and_digests(server, tmp_path):
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo is missing: apt-get install -y skopeo")
    parts = write_oci_layout(tmp_path / "layout", "v1", {"etc/motd": b"logged push\n" * 100})
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"writer:{PASSWORD}",
            f"oci:{tmp_path / 'layout'}:v1",
            f"docker://{server.host}/team/app:1.0",
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    forged = requests.get(
        f"{server.url}/v2/", headers={"X-Request-Id": "forged-by-client"}, timeout=10
    )
    assert forged.headers["X-Request-Id"] != "forged-by-client"

    records = _access_records(server)
    manifest = next(r for r in records if r["method"] == "PUT" and "/manifests/" in r["path"])
    assert manifest["status"] == 201
    assert manifest["account"] == "writer" and manifest["repository"] == "team/app"
    assert manifest["reference"] == digest(parts["manifest"])
    assert manifest["bytes_in"] == len(parts["manifest"])
    assert manifest["client"] == "127.0.0.1" and manifest["user_agent"].startswith("skopeo")
    finished = {
        r["reference"]
        for r in records
        if r["method"] == "PUT" and "/blobs/uploads/" in r["path"] and r["status"] == 201
    }
    assert {digest(parts["layer"]), digest(parts["config"])} <= finished
    received = sum(
        r["bytes_in"] for r in records if "/blobs/uploads/" in r["path"] and r["status"] < 300
    )
    assert received == len(parts["layer"]) + len(parts["config"])
    states = [r["path"] for r in records if "_state=" in r["path"]]
    assert all("_state=***" in path for path in states), states
    refused = [r for r in records if r["status"] == 401]
    assert refused and all(r["account"] == "-" for r in refused)
    assert all(r["request_id"] and len(r["request_id"]) == 32 for r in records)
    assert any(r["request_id"] == forged.headers["X-Request-Id"] for r in records)


@pytest.mark.parametrize("trusted", [True, False])
def test_request_id_and_client_come_from_the_trusted_proxy_only(tmp_path, trusted):
    ours = start_ours(
        tmp_path / "ours",
        loglevel="info",
        log_format="json",
        trusted_proxy="127.0.0.1" if trusted else "10.9.9.9",
        trusted_proxy_headers=["x-forwarded-for", "x-forwarded-proto"],
    )
    try:
        answer = requests.get(
            f"{ours.url}/v2/",
            headers={"X-Request-Id": "proxy-id-1", "X-Forwarded-For": "203.0.113.9"},
            timeout=10,
        )
        records = _access_records(ours)
    finally:
        ours.process.stop()
    record = next(r for r in records if r["path"] == "/v2/")
    assert record["request_id"] == answer.headers["X-Request-Id"]
    if trusted:
        assert answer.headers["X-Request-Id"] == "proxy-id-1"
        assert record["client"] == "203.0.113.9"
    else:
        assert answer.headers["X-Request-Id"] != "proxy-id-1"
        assert record["client"] == "127.0.0.1"


def _raw(host: str, request: bytes) -> bytes:
    address, port = host.split(":")
    with socket.create_connection((address, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_answers_of_the_http_server_itself_are_logged_too(tmp_path):
    ours = start_ours(
        tmp_path / "ours", loglevel="info", log_format="json", max_request_body_size=1024
    )
    try:
        too_large = _raw(
            ours.host,
            b"PUT /v2/team/app/blobs/uploads/x HTTP/1.1\r\nHost: r\r\n"
            b"User-Agent: big-pusher\r\nContent-Length: 5000\r\n\r\n",
        )
        malformed = _raw(ours.host, b"GET /v2/ HTTP/1.1\r\nHost: r\r\nBad Header\r\n\r\n")
        records = _access_records(ours)
    finally:
        ours.process.stop()
    assert too_large.startswith(b"HTTP/1.1 413") and b" 400 Bad Request" in malformed[:30]
    large = next(r for r in records if r["status"] == 413)
    assert large["method"] == "PUT" and large["path"] == "/v2/team/app/blobs/uploads/x"
    assert large["user_agent"] == "big-pusher" and large["client"] == "127.0.0.1"
    assert large["bytes_out"] > 0 and len(large["request_id"]) == 32
    assert any(r["status"] == 400 for r in records)
