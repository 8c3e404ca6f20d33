"""/healthz, /readyz and /metrics answer without credentials when auth is on, and the
metrics never name a repository (private or not): routes are labelled by template."""

from __future__ import annotations

import base64
import hashlib

from authsupport import PASSWORDS


def _basic(account: str) -> dict[str, str]:
    token = base64.b64encode(f"{account}:{PASSWORDS[account]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_probes_and_metrics_need_no_credentials(make_auth_app):
    app = make_auth_app(metrics={"enabled": True})
    assert app.client.simulate_get("/v2/").status_code == 401
    assert app.client.simulate_get("/healthz").json == {"status": "ok"}
    ready = app.client.simulate_get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json["checks"] == {"storage": "ok"}
    assert app.client.simulate_get("/metrics").status_code == 200


def test_metrics_never_name_a_private_repository(make_auth_app):
    app = make_auth_app(metrics={"enabled": True})
    data = b"secret layer"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    headers = _basic("writer")
    start = app.client.simulate_post("/v2/team/hiddenproject/blobs/uploads/", headers=headers)
    assert start.status_code == 202, start.text
    put = app.client.simulate_put(
        start.headers["Location"] + f"&digest={digest}", body=data, headers=headers
    )
    assert put.status_code == 201, put.text
    refused = app.client.simulate_get(f"/v2/team/hiddenproject/blobs/{digest}")
    assert refused.status_code == 401
    text = app.client.simulate_get("/metrics").text
    assert "hiddenproject" not in text and "team/" not in text
    assert 'route="v2 uploads",status="201"' in text
    assert 'route="v2 blobs",status="401"' in text
