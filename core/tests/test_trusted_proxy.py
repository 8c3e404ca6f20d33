"""``trusted_proxy*`` settings: validated at start-up and handed to waitress.

The behaviour behind a real proxy (https in the realm, a direct client's headers
ignored) is proven end to end by ``tests/v2/test_tls_proxy.py``.
"""

from __future__ import annotations

import pytest
import waitress.server

from docker_registry.core.app import create_served_app
from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.server import _create_server
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver


def test_defaults_trust_nobody():
    settings = Settings.from_mapping({})
    assert settings.trusted_proxy is None
    assert settings.trusted_proxy_headers == ["x-forwarded-proto", "x-forwarded-for"]
    assert settings.trusted_proxy_count == 1


def test_headers_are_read_as_waitress_names_them():
    settings = Settings.from_mapping(
        {"trusted_proxy": "10.0.0.2", "trusted_proxy_headers": "X-Forwarded-Proto, x-forwarded-for"}
    )
    assert settings.trusted_proxy_headers == ["x-forwarded-proto", "x-forwarded-for"]


@pytest.mark.parametrize(
    "value, message",
    [
        (["x-real-ip"], "unknown proxy header"),
        (["forwarded", "x-forwarded-proto"], "cannot be trusted together"),
        ({"proto": True}, "expected a list"),
    ],
)
def test_bad_headers_name_the_key(value, message):
    with pytest.raises(ConfigError) as raised:
        Settings.from_mapping({"trusted_proxy": "10.0.0.2", "trusted_proxy_headers": value})
    assert raised.value.key == "trusted_proxy_headers"
    assert message in str(raised.value)


@pytest.mark.parametrize("proxy", [None, "127.0.0.2"])
def test_waitress_gets_them(proxy):
    settings = Settings.from_mapping(
        {"trusted_proxy": proxy, "trusted_proxy_headers": ["x-forwarded-proto", "x-forwarded-for"]}
    )
    served = create_served_app(settings, Storage(InMemoryDriver()))
    server = _create_server(served, settings, 1, host="127.0.0.1", port=0)
    try:
        assert isinstance(server, waitress.server.BaseWSGIServer)
        adj = server.adj
        assert adj.trusted_proxy == proxy
        assert adj.clear_untrusted_proxy_headers is True
        if proxy:
            assert adj.trusted_proxy_headers == {"x-forwarded-proto", "x-forwarded-for"}
            assert adj.trusted_proxy_count == 1
        else:
            assert adj.trusted_proxy_headers == set()
    finally:
        server.close()
