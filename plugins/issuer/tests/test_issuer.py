"""The token issuer in the real application: the realm's GET and OAuth2 POST, scopes cut
down to the access list, refresh tokens, keys generated into storage (0600) or from
config, and the registry (bearer backend) accepting exactly what was issued."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import subprocess
import urllib.parse

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from issuersupport import ISSUER, PASSWORDS, SERVICE, basic

from docker_registry.core.access.bearer import certificate_keys, libtrust_key_id
from docker_registry.core.config import ConfigError
from docker_registry.testing.cli import modules_of_an_app

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def form(**fields: str) -> str:
    return urllib.parse.urlencode(fields)


def test_the_challenge_sends_clients_to_this_registrys_realm(issuer_app):
    response = issuer_app.client.simulate_get(
        "/v2/team/app/tags/list", headers={"Host": "registry.test:5000"}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="http://registry.test:5000/token",service="{SERVICE}",'
        'scope="repository:team/app:pull"'
    )


def test_get_cuts_scopes_down_to_the_access_list(issuer_app):
    body = issuer_app.token(
        "alice",
        "repository:team/app:pull,push,delete",
        "repository:other/x:pull",
        "registry:catalog:*",
    )
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300 and body["issued_at"].endswith("Z")
    decoded = claims(body["token"])
    assert decoded["sub"] == "alice"
    assert decoded["iss"] == ISSUER and decoded["aud"] == SERVICE
    assert decoded["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull", "push"]}
    ]
    assert "refresh_token" not in body
    reader = claims(issuer_app.token("bob", "repository:team/app:pull,push")["token"])
    assert reader["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
    admin = claims(issuer_app.token("admin", "registry:catalog:*", "repository:x/y:*")["token"])
    assert admin["access"] == [
        {"type": "registry", "name": "catalog", "actions": ["*"]},
        {"type": "repository", "name": "x/y", "actions": ["pull", "push", "delete"]},
    ]


def test_anonymous_tokens_carry_what_anonymous_may(issuer_app):
    body = issuer_app.token(None, "repository:public/app:pull,push", "repository:team/app:pull")
    decoded = claims(body["token"])
    assert decoded["sub"] == ""
    assert decoded["access"] == [{"type": "repository", "name": "public/app", "actions": ["pull"]}]
    client = issuer_app.client
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert client.simulate_get("/v2/public/app/tags/list", headers=bearer).status_code == 404
    refused = client.simulate_get("/v2/team/app/tags/list", headers=bearer)
    assert refused.status_code == 401
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]


def test_a_wrong_password_is_refused_logged_and_rate_limited(issuer_app, caplog):
    client = issuer_app.client
    caplog.set_level(logging.INFO)
    for _ in range(3):
        response = client.simulate_get(
            "/token",
            params={"service": SERVICE, "scope": "repository:team/app:pull"},
            headers={"Authorization": basic("alice", "guess")},
        )
        assert response.status_code == 401
        assert response.json["error"] == "invalid_grant"
    assert "failed login from 127.0.0.1 for account 'alice'" in caplog.text
    assert "guess" not in caplog.text
    locked = client.simulate_get(
        "/token", params={"service": SERVICE}, headers={"Authorization": basic("alice")}
    )
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    # no token or password ever reaches the log
    assert PASSWORDS["alice"] not in caplog.text


def test_the_registry_accepts_what_was_issued_and_nothing_more(issuer_app):
    client = issuer_app.client
    token = issuer_app.token("alice", "repository:team/app:pull,push")["token"]
    data = b"a layer"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    done = client.simulate_post(
        f"/v2/team/app/blobs/uploads/?digest={digest}",
        body=data,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert done.status_code == 201, done.text
    head = client.simulate_head(
        f"/v2/team/app/blobs/{digest}", headers={"Authorization": f"Bearer {token}"}
    )
    assert head.status_code == 200
    delete = client.simulate_delete(
        f"/v2/team/app/blobs/{digest}", headers={"Authorization": f"Bearer {token}"}
    )
    assert delete.status_code == 401


def test_oauth2_password_grant_and_refresh(issuer_app):
    client = issuer_app.client
    response = client.simulate_post(
        "/token",
        body=form(
            grant_type="password",
            username="bob",
            password=PASSWORDS["bob"],
            service=SERVICE,
            scope="repository:team/app:pull,push repository:team/b:pull",
            client_id="containerd",
            access_type="offline",
        ),
        headers=FORM,
    )
    assert response.status_code == 200, response.text
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "repository:team/app:pull repository:team/b:pull"
    assert claims(body["access_token"])["sub"] == "bob"
    refresh = body["refresh_token"]
    # the refresh token is no access token
    refused = client.simulate_get(
        "/v2/team/app/tags/list", headers={"Authorization": f"Bearer {refresh}"}
    )
    assert refused.status_code == 401
    again = client.simulate_post(
        "/token",
        body=form(
            grant_type="refresh_token",
            refresh_token=refresh,
            service=SERVICE,
            scope="repository:team/c:pull",
        ),
        headers=FORM,
    )
    assert again.status_code == 200, again.text
    assert again.json["refresh_token"] == refresh
    assert claims(again.json["access_token"])["access"] == [
        {"type": "repository", "name": "team/c", "actions": ["pull"]}
    ]
    # an access token is no refresh token
    misuse = client.simulate_post(
        "/token",
        body=form(grant_type="refresh_token", refresh_token=body["access_token"]),
        headers=FORM,
    )
    assert misuse.status_code == 401 and misuse.json["error"] == "invalid_grant"
    # changing the password ends the refresh token
    subprocess.run(
        ["htpasswd", "-bB", str(issuer_app.htpasswd), "bob", "new password"],
        check=True,
        capture_output=True,
    )
    ended = client.simulate_post(
        "/token", body=form(grant_type="refresh_token", refresh_token=refresh), headers=FORM
    )
    assert ended.status_code == 401


def test_oauth2_errors(issuer_app):
    client = issuer_app.client
    wrong = client.simulate_post(
        "/token",
        body=form(grant_type="password", username="alice", password="nope"),
        headers=FORM,
    )
    assert wrong.status_code == 401 and wrong.json["error"] == "invalid_grant"
    unsupported = client.simulate_post(
        "/token", body=form(grant_type="client_credentials"), headers=FORM
    )
    assert unsupported.status_code == 400
    assert unsupported.json["error"] == "unsupported_grant_type"
    other = client.simulate_get("/token", params={"service": "another.service"})
    assert other.status_code == 400 and other.json["error"] == "invalid_request"


def test_offline_token_on_get(issuer_app):
    response = issuer_app.client.simulate_get(
        "/token",
        params={"service": SERVICE, "offline_token": "true", "scope": "repository:team/a:pull"},
        headers={"Authorization": basic("alice")},
    )
    assert response.status_code == 200
    assert claims(response.json["refresh_token"])["token_use"] == "refresh"


def test_a_generated_key_is_private_kept_and_reused(make_issuer_app):
    first = make_issuer_app()
    keys = first.storage_path / "auth" / "token_issuer" / "keys"
    [key_file] = list(keys.glob("*.key"))
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    token = first.token("alice", "repository:team/a:pull")["token"]
    second = make_issuer_app()  # a restart: same storage
    assert list(keys.glob("*.key")) == [key_file]
    response = second.client.simulate_get(
        "/v2/team/a/tags/list", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404
    # the certificate served is the key's: another registry can trust it
    bundle = second.client.simulate_get("/token/certificate.pem")
    assert bundle.status_code == 200
    header = jwt.get_unverified_header(token)
    assert list(certificate_keys(bundle.content)) == [header["kid"]]
    jwks = second.client.simulate_get("/token/jwks.json").json
    assert [entry["kid"] for entry in jwks["keys"]] == [header["kid"]]


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_a_generated_key_of_another_algorithm(make_issuer_app, algorithm):
    app = make_issuer_app({"algorithm": algorithm})
    token = app.token("alice", "repository:team/a:pull")["token"]
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    response = app.client.simulate_get(
        "/v2/team/a/tags/list", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404


def test_a_configured_key(make_issuer_app, tmp_path):
    private = ec.generate_private_key(ec.SECP256R1())
    key = tmp_path / "token.key"
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    app = make_issuer_app({"key": str(key), "path": "/auth/token"})
    body = app.client.simulate_get(
        "/auth/token", params={"service": SERVICE}, headers={"Authorization": basic("alice")}
    )
    assert body.status_code == 200
    header = jwt.get_unverified_header(body.json["token"])
    assert header == {"alg": "ES256", "kid": libtrust_key_id(private.public_key()), "typ": "JWT"}
    assert not (app.storage_path / "auth" / "token_issuer").exists()


@pytest.mark.parametrize(
    "section, values, key",
    [
        ({"key": "/nonexistent.key"}, {}, "token_issuer.key"),
        ({"certificate": "/x.crt"}, {}, "token_issuer.certificate"),
        ({"algorithm": "HS256"}, {}, "token_issuer.algorithm"),
        ({"expiration": 0}, {}, "token_issuer.expiration"),
        ({"path": "/v2/token"}, {}, "token_issuer.path"),
        ({"lifetime": 5}, {}, "token_issuer"),
        # the issuer alone (this registry on htpasswd): it still needs bearer.issuer/service
        ({}, {"auth_backend": "htpasswd", "bearer": {"service": SERVICE}}, "bearer"),
    ],
)
def test_configuration_errors_name_the_key(make_issuer_app, section, values, key):
    with pytest.raises(ConfigError) as raised:
        make_issuer_app(section, **values)
    assert raised.value.key == key, str(raised.value)


def test_workers_that_each_generated_a_key_verify_each_others_tokens(make_issuer_app):
    """Two workers starting together on one storage: a second key appears after the first
    worker has started; tokens of the worker signing with it verify in the first."""
    from docker_registry.plugins.issuer.keys import KEYS_PATH, generate, private_pem, self_signed

    first = make_issuer_app()
    other = generate("RS256")
    keys = first.storage_path / KEYS_PATH.lstrip("/")
    # "0..." sorts before the first worker's key: a worker starting now signs with it
    (keys / "0000000000000000.key").write_bytes(private_pem(other))
    (keys / "0000000000000000.crt").write_bytes(self_signed(other, ISSUER))
    second = make_issuer_app()
    token = second.token("alice", "repository:team/a:pull")["token"]
    assert jwt.get_unverified_header(token)["kid"] == libtrust_key_id(other.public_key())
    response = first.client.simulate_get(
        "/v2/team/a/tags/list", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404, response.text
    bundle = second.client.simulate_get("/token/certificate.pem").content
    assert len(certificate_keys(bundle)) == 2


def test_no_token_library_is_imported_without_a_token_issuer():
    # PERF: PyJWT and cryptography cost ~9 MiB in every worker; installed but not
    # configured, the issuer plugin must not load them.
    assert {"jwt", "cryptography"}.isdisjoint(modules_of_an_app({"storage": "inmemory"}))
