"""Raw HTTP requests for hostile-input tests: http.client sends the target as written
(requests would normalise ``..`` and encodings away)."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit


def send(url: str, method: str, target: str, body: bytes | None = None, headers=None):
    """One raw request to the server at ``url``; ``(status, headers, body)``."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()
