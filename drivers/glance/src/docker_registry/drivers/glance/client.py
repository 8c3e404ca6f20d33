"""A small Glance v2 images client on requests, with optional Keystone authentication.

Only what the driver needs: create an image record, upload its data with one streamed
``PUT /v2/images/<id>/file``, read it back with ``Range``, change properties with a JSON
patch, find images by properties (``GET /v2/images?<property>=<value>``, paged with
``marker``) and delete them. With Keystone credentials the token and the image endpoint
come from ``POST /v3/auth/tokens`` (or ``/v2.0/tokens``); a 401 re-authenticates once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

#: Image records per listing page (Glance's default maximum is 1000).
PAGE_SIZE = 1000
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"


class GlanceHTTPError(Exception):
    """Glance (or Keystone) answered with an unexpected status.

    :param status: the HTTP status code.
    :param detail: what was asked and the start of the answer's body.
    """

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


@dataclass(frozen=True)
class Credentials:
    """How to reach Glance: a fixed endpoint and token, or Keystone credentials."""

    endpoint: str | None = None
    token: str | None = None
    auth_url: str | None = None
    username: str | None = None
    password: str | None = None
    tenant_name: str | None = None
    region_name: str | None = None
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"

    @property
    def uses_keystone(self) -> bool:
        return bool(self.auth_url and self.username and self.password)


class GlanceClient:
    """Thread-safe Glance v2 calls (one pooled :class:`requests.Session`).

    :param credentials: a static endpoint/token or Keystone credentials.
    :param timeout: seconds to connect and between two bytes of an answer.
    """

    def __init__(self, credentials: Credentials, timeout: float = 60.0) -> None:
        self.credentials = credentials
        self.timeout = timeout
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._lock = threading.Lock()
        self._endpoint = (credentials.endpoint or "").rstrip("/") or None
        self._token = credentials.token

    # -- authentication ----------------------------------------------------------------

    def _auth(self, renew: bool = False) -> tuple[str, str | None]:
        with self._lock:
            if self.credentials.uses_keystone and (renew or not self._token):
                token, endpoint = self._keystone_token()
                self._token = token
                self._endpoint = (self.credentials.endpoint or endpoint).rstrip("/")
            if not self._endpoint:
                raise GlanceHTTPError(0, "no Glance endpoint: set glance_endpoint or OS_AUTH_URL")
            return self._endpoint, self._token

    def _keystone_token(self) -> tuple[str, str]:
        creds = self.credentials
        base = (creds.auth_url or "").rstrip("/")
        if base.endswith("/v3"):
            body: dict[str, Any] = {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": creds.username,
                                "password": creds.password,
                                "domain": {"name": creds.user_domain_name},
                            }
                        },
                    },
                    "scope": {
                        "project": {
                            "name": creds.tenant_name,
                            "domain": {"name": creds.project_domain_name},
                        }
                    },
                }
            }
            answer = self._checked(self.session.post(f"{base}/auth/tokens", json=body), "auth")
            token = answer.headers["X-Subject-Token"]
            catalog = answer.json()["token"].get("catalog", [])
            urls = [
                endpoint["url"]
                for service in catalog
                if service.get("type") == "image"
                for endpoint in service.get("endpoints", [])
                if endpoint.get("interface") == "public"
                and creds.region_name in (None, endpoint.get("region"), endpoint.get("region_id"))
            ]
        else:
            body = {
                "auth": {
                    "tenantName": creds.tenant_name,
                    "passwordCredentials": {"username": creds.username, "password": creds.password},
                }
            }
            answer = self._checked(self.session.post(f"{base}/tokens", json=body), "auth")
            access = answer.json()["access"]
            token = access["token"]["id"]
            urls = [
                endpoint["publicURL"]
                for service in access.get("serviceCatalog", [])
                if service.get("type") == "image"
                for endpoint in service.get("endpoints", [])
                if creds.region_name in (None, endpoint.get("region"))
            ]
        if not urls and not creds.endpoint:
            raise GlanceHTTPError(0, "Keystone's catalog has no public 'image' endpoint")
        return token, (urls[0] if urls else "")

    # -- requests ----------------------------------------------------------------------

    @staticmethod
    def _checked(response: requests.Response, what: str) -> requests.Response:
        if response.status_code >= 400:
            detail = f"{what}: {response.text[:200]!r}"
            response.close()
            raise GlanceHTTPError(response.status_code, detail)
        return response

    def request(
        self, method: str, path: str, *, renewable: bool = True, **kwargs: Any
    ) -> requests.Response:
        """Send one request to ``<endpoint><path>``; re-authenticate once on 401."""
        endpoint, token = self._auth()
        headers = dict(kwargs.pop("headers", None) or {})
        if token:
            headers["X-Auth-Token"] = token
        kwargs.setdefault("timeout", self.timeout)
        response = self.session.request(method, endpoint + path, headers=headers, **kwargs)
        if response.status_code == 401 and renewable and self.credentials.uses_keystone:
            response.close()
            endpoint, token = self._auth(renew=True)
            headers["X-Auth-Token"] = token or ""
            response = self.session.request(method, endpoint + path, headers=headers, **kwargs)
        return self._checked(response, f"{method} {path}")

    def create_image(self, properties: Mapping[str, str]) -> dict[str, Any]:
        """Create a queued, private image record (``raw`` / ``docker``) with properties."""
        body = {"name": "docker-registry-layer", "disk_format": "raw"}
        body |= {"container_format": "docker", "visibility": "private", **properties}
        return dict(self.request("POST", "/v2/images", json=body).json())

    def upload(self, image_id: str, chunks: Iterable[bytes]) -> None:
        """Stream ``chunks`` as the image's data (chunked transfer encoding)."""
        # NOTE: no re-authentication here: a generator cannot be replayed.
        self.request(
            "PUT",
            f"/v2/images/{image_id}/file",
            data=chunks,
            headers={"Content-Type": "application/octet-stream"},
            renewable=False,
        )

    def download(self, image_id: str, offset: int = 0) -> requests.Response:
        """The image's data from ``offset``, as a streamed response."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        return self.request("GET", f"/v2/images/{image_id}/file", headers=headers, stream=True)

    def update(self, image_id: str, properties: Mapping[str, str]) -> None:
        """Set (add or replace) properties of an image with one JSON patch."""
        patch = [
            {"op": "add", "path": f"/{key}", "value": value} for key, value in properties.items()
        ]
        self.request(
            "PATCH", f"/v2/images/{image_id}", json=patch, headers={"Content-Type": PATCH_TYPE}
        )

    def images(self, filters: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """Every image record matching ``filters`` (exact property values), page by page."""
        params = {**filters, "limit": str(PAGE_SIZE)}
        while True:
            page = self.request("GET", "/v2/images", params=params).json()
            yield from page.get("images", [])
            images = page.get("images", [])
            if "next" not in page or not images:
                return
            params["marker"] = images[-1]["id"]

    def delete(self, image_id: str) -> None:
        """Delete an image (any status)."""
        self.request("DELETE", f"/v2/images/{image_id}")

    def close(self) -> None:
        self.session.close()
