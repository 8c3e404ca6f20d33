"""The failed-login limit keys on the client's address: behind the trusted proxy, the one
``X-Forwarded-For`` carries; from anyone else, the connection's (their
``X-Forwarded-For`` is not believed). Real server, real sockets."""

from __future__ import annotations

import base64
import http.client
import logging

from authsupport import ACCESS
from serversupport import serving

from docker_registry.core.config import Settings
from docker_registry.core.server import _create_server

WRONG = "Basic " + base64.b64encode(b"writer:wrong").decode()


def settings(htpasswd_file, **proxy) -> Settings:
    return Settings.from_mapping(
        {
            "auth_backend": "htpasswd",
            "htpasswd": {
                "path": str(htpasswd_file),
                "groups": {"admins": ["admin"]},
                "access": ACCESS,
                "max_failed_logins": 2,
                "failed_login_window": 60,
            },
            **proxy,
        }
    )


def login(port: int, forwarded_for: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "GET", "/v2/", headers={"Authorization": WRONG, "X-Forwarded-For": forwarded_for}
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_behind_the_trusted_proxy_each_client_has_its_own_limit(htpasswd_file, tmp_path, caplog):
    with (
        caplog.at_level(logging.WARNING, "docker_registry.core.access.htpasswd"),
        serving(settings(htpasswd_file, trusted_proxy="127.0.0.1"), tmp_path) as (port, _),
    ):
        assert [login(port, "203.0.113.7") for _ in range(3)] == [401, 401, 429]
        # another client behind the same proxy is not locked out by the first one
        assert login(port, "203.0.113.8") == 401
        assert login(port, "203.0.113.7") == 429
    failures = [r.getMessage() for r in caplog.records if "failed login" in r.getMessage()]
    assert failures and all("from 203.0.113." in message for message in failures)


def test_from_an_untrusted_peer_x_forwarded_for_is_ignored(htpasswd_file, tmp_path):
    """A client cannot escape the limit by inventing addresses: 127.0.0.1 is not the
    trusted proxy here, so its X-Forwarded-For is dropped and the limit is its own."""
    with serving(settings(htpasswd_file, trusted_proxy="192.0.2.1"), tmp_path) as (port, _):
        assert [login(port, f"198.51.100.{n}") for n in range(3)] == [401, 401, 429]
    with serving(settings(htpasswd_file), tmp_path) as (port, _):
        assert [login(port, f"198.51.100.{n}") for n in range(3)] == [401, 401, 429]


def test_a_proxy_whose_client_address_is_not_trusted_is_warned_about(htpasswd_file, caplog):
    proxied = settings(
        htpasswd_file, trusted_proxy="127.0.0.1", trusted_proxy_headers=["x-forwarded-proto"]
    )
    from docker_registry.core.app import create_served_app
    from docker_registry.core.storage import Storage
    from docker_registry.core.storage.inmemory import InMemoryDriver

    served = create_served_app(proxied, Storage(InMemoryDriver()))
    with caplog.at_level(logging.WARNING, "docker_registry.core.server"):
        server = _create_server(served, proxied, 1, host="127.0.0.1", port=0)
        server.close()
    assert any(
        "share" in r.getMessage() and "x-forwarded-for" in r.getMessage() for r in caplog.records
    )
