"""Spec [BUG] items that had no test of their own, pinned over real HTTP (issue 15 §6).

Every [BUG] and [REC] of the spec, what we do and where it is tested: docs/v1.md,
"Spec [BUG] and [REC] items".
"""

from __future__ import annotations

import email.utils
import json
import time

import requests
from v1client import Image, V1Client


def test_expires_is_one_year_ahead_in_real_utc(registry):
    """§1.2 [BUG]: 0.9.1 formatted local time and labelled it GMT."""
    image = Image.create()
    V1Client(registry.url).push("spec/expires", [image], {"latest": image.id})
    response = requests.get(f"{registry.url}/v1/images/{image.id}/json")
    expires = email.utils.parsedate_to_datetime(response.headers["Expires"]).timestamp()
    assert response.headers["Expires"].endswith(" GMT")
    assert abs(expires - (time.time() + 365 * 24 * 3600)) < 60


def test_parent_without_ancestry_is_400_not_500(registry):
    """R4 step 9 [BUG]: a parent whose json exists but whose ancestry is missing was a 500."""
    parent = Image.create()
    V1Client(registry.url).push("spec/parent", [parent], {"latest": parent.id})
    (registry.storage_path / "images" / parent.id / "ancestry").unlink()
    child = Image.create(parent=parent)
    response = requests.put(f"{registry.url}/v1/images/{child.id}/json", data=child.json)
    assert response.status_code == 400
    assert response.json() == {"error": "Image depends on a non existing parent"}


def test_layer_put_never_refuses_a_client_by_user_agent(registry):
    """R6 step 2 [BUG]/[REC]: 0.9.1's version check never fired; we dropped it (Q3)."""
    for user_agent in ("docker/0.9.1 go/go1.2", "docker/0.6.0", "curl/8", ""):
        image = Image.create()
        base = f"{registry.url}/v1/images/{image.id}"
        headers = {"User-Agent": user_agent}
        assert requests.put(f"{base}/json", data=image.json, headers=headers).status_code == 200
        response = requests.put(f"{base}/layer", data=image.layer, headers=headers)
        assert response.status_code == 200, (user_agent, response.text)


def test_tag_last_update_is_the_real_epoch(registry):
    """R13 step 6 [BUG]: 0.9.1 read UTC wall time as local time."""
    image = Image.create()
    V1Client(registry.url).push("spec/epoch", [image], {"latest": image.id})
    metadata = requests.get(f"{registry.url}/v1/repositories/spec/epoch/tags/latest/json").json()
    assert abs(metadata["last_update"] - time.time()) < 60


def test_near_miss_and_unknown_paths_are_json_not_redirects(start_registry):
    """§1.1 [REC] JSON framework errors; §2.0 [REC] no 301 to the trailing-slash rule."""
    registry = start_registry(standalone=False, disable_token_auth=True)
    for method, path, status in (
        ("GET", "/v1/repositories/a/b/images", 404),  # 0.9.1: 301 to .../images/
        ("GET", "/v1/nothing/here", 404),
        ("POST", "/v1/_ping", 405),
    ):
        response = requests.request(method, f"{registry.url}{path}", allow_redirects=False)
        assert response.status_code == status, (method, path)
        assert "error" in json.loads(response.content), (method, path)


def test_image_json_sends_the_payload_checksum_under_both_names(registry):
    """R3 [REC]: ``X-Docker-Checksum-Payload``, and 0.7-0.8's ``X-Docker-Payload-Checksum``."""
    image = Image.create()
    V1Client(registry.url).push("spec/headers", [image], {"latest": image.id})
    response = requests.get(f"{registry.url}/v1/images/{image.id}/json")
    assert response.headers["X-Docker-Checksum-Payload"] == image.payload_checksum()
    assert response.headers["X-Docker-Payload-Checksum"] == image.payload_checksum()
    assert "X-Docker-Checksum" not in response.headers
