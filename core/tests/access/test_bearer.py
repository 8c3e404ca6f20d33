"""The ``bearer`` backend: registry tokens (JWT) verified against a certificate bundle or a
JWKS, challenges as CNCF distribution words them, the ``access`` claim on both APIs.

Tokens are signed here with PyJWT and real keys (RSA, EC P-256, Ed25519) made by
``cryptography``; the application is the real one on the inmemory driver.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any

import falcon.testing
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from docker_registry.core.access.bearer import libtrust_key_id, parse_access
from docker_registry.core.app import create_app
from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver

SERVICE = "registry.test"
ISSUER = "test-issuer"
REALM = "https://auth.test/token"
ALGORITHM = {"rsa": "RS256", "ec": "ES256", "ed25519": "EdDSA"}


def make_key(kind: str) -> Any:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def certificate(key: Any) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token signer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def sign(key: Any, kind: str, *, kid: Any = "libtrust", headers: dict | None = None, **claims):
    now = int(time.time())
    body = {"iss": ISSUER, "aud": SERVICE, "sub": "alice", "exp": now + 300, "iat": now}
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}
    header = dict(headers or {})
    if kid == "libtrust":
        header["kid"] = libtrust_key_id(key.public_key())
    elif kid is not None:
        header["kid"] = kid
    return jwt.encode(body, key, algorithm=ALGORITHM[kind], headers=header)


def access(name: str, *actions: str, kind: str = "repository") -> list[dict]:
    return [{"type": kind, "name": name, "actions": list(actions)}]


class Bearer:
    def __init__(self, client: falcon.testing.TestClient, key: Any, kind: str) -> None:
        self.client = client
        self.key = key
        self.kind = kind

    def token(self, **claims: Any) -> str:
        return sign(self.key, self.kind, **claims)

    def request(self, method: str, path: str, token: str | None = None, **kwargs: Any):
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.simulate_request(method, path, headers=headers, **kwargs)


@pytest.fixture(params=["rsa", "ec", "ed25519"])
def bearer(request, tmp_path) -> Bearer:
    """Our app in bearer mode trusting one key of each kind, by certificate bundle."""
    key = make_key(request.param)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(certificate(key))
    return Bearer(bearer_client(tmp_path, rootcertbundle=str(bundle)), key, request.param)


def bearer_client(tmp_path: Path, **section: Any) -> falcon.testing.TestClient:
    config = {
        "auth_backend": "bearer",
        "delete_enabled": True,
        "bearer": {"realm": REALM, "service": SERVICE, "issuer": ISSUER, **section},
    }
    app = create_app(Settings.from_mapping(config), storage=Storage(InMemoryDriver()))
    return falcon.testing.TestClient(app)


def challenge(response) -> str:
    return response.headers.get("WWW-Authenticate", "")


def push_blob(bearer: Bearer, repository: str, token: str) -> falcon.testing.Result:
    data = b"layer bytes"
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return bearer.request(
        "POST", f"/v2/{repository}/blobs/uploads/?digest={digest}", token, body=data
    )


def test_no_token_gets_the_distribution_challenge(bearer):
    response = bearer.request("GET", "/v2/team/app/tags/list")
    assert response.status_code == 401
    assert challenge(response) == (
        f'Bearer realm="{REALM}",service="{SERVICE}",scope="repository:team/app:pull"'
    )
    assert response.json["errors"][0]["code"] == "UNAUTHORIZED"
    push = bearer.request("POST", "/v2/team/app/blobs/uploads/")
    assert challenge(push).endswith('scope="repository:team/app:pull,push"')
    delete = bearer.request("DELETE", f"/v2/team/app/manifests/sha256:{'0' * 64}")
    assert challenge(delete).endswith('scope="repository:team/app:delete"')
    catalog = bearer.request("GET", "/v2/_catalog")
    assert challenge(catalog).endswith('scope="registry:catalog:*"')
    login = bearer.request("GET", "/v2/")
    assert challenge(login) == f'Bearer realm="{REALM}",service="{SERVICE}"'


def test_a_one_part_name_is_challenged_as_the_client_named_it(bearer):
    response = bearer.request("GET", "/v2/alpine/manifests/latest")
    assert challenge(response).endswith('scope="repository:alpine:pull"')
    # and a token for "alpine" covers it (the model's canonical library/alpine)
    token = bearer.token(access=access("alpine", "pull"))
    assert bearer.request("GET", "/v2/alpine/manifests/latest", token).status_code == 404


def test_a_valid_token_allows_what_its_access_claim_says(bearer):
    token = bearer.token(access=access("team/app", "pull", "push"))
    assert bearer.request("GET", "/v2/", token).status_code == 200
    assert push_blob(bearer, "team/app", token).status_code == 201
    assert bearer.request("GET", "/v2/team/app/tags/list", token).json["tags"] == []
    # another repository: insufficient scope, 401 with the error, as distribution answers
    other = bearer.request("GET", "/v2/team/other/tags/list", token)
    assert other.status_code == 401
    assert challenge(other) == (
        f'Bearer realm="{REALM}",service="{SERVICE}",'
        'scope="repository:team/other:pull",error="insufficient_scope"'
    )
    delete = bearer.request("DELETE", f"/v2/team/app/blobs/sha256:{'1' * 64}", token)
    assert delete.status_code == 401
    assert 'error="insufficient_scope"' in challenge(delete)


def test_pull_only_token_cannot_push_and_the_body_is_refused(bearer):
    token = bearer.token(access=access("team/app", "pull"))
    response = push_blob(bearer, "team/app", token)
    assert response.status_code == 401
    assert 'scope="repository:team/app:pull,push",error="insufficient_scope"' in challenge(response)
    refuses = bearer.client.app.access.refuses_early
    headers = {"AUTHORIZATION": f"Bearer {token}"}
    assert refuses("POST", "/v2/team/app/blobs/uploads/", headers)
    writer = {"AUTHORIZATION": f"Bearer {bearer.token(access=access('team/app', 'push'))}"}
    assert not refuses("POST", "/v2/team/app/blobs/uploads/", writer)
    assert refuses("POST", "/v2/team/app/blobs/uploads/", {})


@pytest.mark.parametrize(
    "claims, reason",
    [
        ({"iss": "someone-else"}, "issuer"),
        ({"aud": "other.service"}, "audience"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not yet valid"),
        ({"exp": None}, "exp"),
        ({"aud": None}, "aud"),
    ],
)
def test_claims_are_checked(bearer, claims, reason):
    token = bearer.token(access=access("team/app", "pull"), **claims)
    response = bearer.request("GET", "/v2/team/app/tags/list", token)
    assert response.status_code == 401, reason
    assert 'error="invalid_token"' in challenge(response)
    assert reason.split()[0].lower() in response.json["errors"][0]["message"].lower()


def test_a_token_of_another_key_or_tampered_is_refused(bearer):
    stranger = make_key(bearer.kind)
    token = sign(stranger, bearer.kind, access=access("team/app", "pull"))
    assert bearer.request("GET", "/v2/team/app/tags/list", token).status_code == 401
    # the stranger names our key id: the signature does not verify
    forged = sign(
        stranger,
        bearer.kind,
        kid=libtrust_key_id(bearer.key.public_key()),
        access=access("team/app", "pull"),
    )
    response = bearer.request("GET", "/v2/team/app/tags/list", forged)
    assert response.status_code == 401
    assert 'error="invalid_token"' in challenge(response)
    good = bearer.token(access=access("team/app", "pull"))
    head, payload, signature = good.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["access"] = access("**", "pull", "push", "delete")
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    tampered = f"{head}.{forged_payload}.{signature}"
    assert bearer.request("GET", "/v2/team/app/tags/list", tampered).status_code == 401
    assert bearer.request("GET", "/v2/team/app/tags/list", "not-a-jwt").status_code == 401


def test_hmac_with_the_public_key_as_secret_is_refused(tmp_path):
    key = make_key("rsa")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(certificate(key))
    client = bearer_client(tmp_path, rootcertbundle=str(bundle))
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": SERVICE, "exp": now + 60, "access": access("team/app", "pull")}
    # NOTE: PyJWT itself refuses to HMAC with a PEM key; build the token by hand.
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "kid": libtrust_key_id(key.public_key())}).encode())
    body = b64(json.dumps(claims).encode())
    mac = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    response = client.simulate_get(
        "/v2/team/app/tags/list", headers={"Authorization": f"Bearer {head}.{body}.{b64(mac)}"}
    )
    assert response.status_code == 401
    assert "HS256" in response.json["errors"][0]["message"]


def test_a_jwks_file_and_tokens_without_kid(tmp_path):
    keys = {"rsa": make_key("rsa"), "ec": make_key("ec"), "ed25519": make_key("ed25519")}
    writers = {"rsa": RSAAlgorithm, "ec": ECAlgorithm, "ed25519": OKPAlgorithm}
    entries = []
    for kind, key in keys.items():
        entry = json.loads(writers[kind].to_jwk(key.public_key()))
        entry["kid"] = f"key-{kind}"
        entries.append(entry)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": entries}))
    client = bearer_client(tmp_path, jwks=str(jwks))
    for kind, key in keys.items():
        for kid in (f"key-{kind}", None):
            token = sign(key, kind, kid=kid, access=access("team/app", "pull"))
            response = client.simulate_get(
                "/v2/team/app/tags/list", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 404, (kind, kid, response.text)
    token = sign(keys["rsa"], "rsa", kid="key-ec", access=access("team/app", "pull"))
    response = client.simulate_get(
        "/v2/team/app/tags/list", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


def test_algorithms_can_be_restricted(tmp_path):
    key = make_key("ec")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(certificate(key))
    client = bearer_client(tmp_path, rootcertbundle=str(bundle), algorithms=["RS256"])
    token = sign(key, "ec", access=access("team/app", "pull"))
    response = client.simulate_get(
        "/v2/team/app/tags/list", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert "ES256" in response.json["errors"][0]["message"]


def test_catalog_needs_registry_catalog_and_lists_what_the_token_may_pull(bearer):
    writer = bearer.token(access=access("team/a", "pull", "push") + access("team/b", "push"))
    for name in ("team/a", "team/b"):
        push_image(bearer, name, writer)
    pull_a = access("team/a", "pull")
    assert bearer.request("GET", "/v2/_catalog", bearer.token(access=pull_a)).status_code == 401
    lister = bearer.token(access=pull_a + access("catalog", "*", kind="registry"))
    listed = bearer.request("GET", "/v2/_catalog", lister)
    assert listed.status_code == 200
    assert listed.json["repositories"] == ["team/a"]


def push_image(bearer: Bearer, name: str, token: str) -> None:
    import hashlib

    config = b"{}"
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    done = bearer.request("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", token, body=config)
    assert done.status_code == 201, done.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest,
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    put = bearer.request(
        "PUT",
        f"/v2/{name}/manifests/1",
        token,
        body=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert put.status_code == 201, put.text


def test_v1_routes_follow_the_token_too(bearer):
    token = bearer.token(access=access("team/app", "pull"))
    assert bearer.request("GET", "/v1/repositories/team/app/tags", token).status_code == 404
    refused = bearer.request("GET", "/v1/repositories/team/other/tags", token)
    assert refused.status_code == 401
    assert refused.json == {"error": "Requires authorization"}
    assert 'error="insufficient_scope"' in challenge(refused)
    assert bearer.request("GET", "/v1/repositories/team/app/tags").status_code == 401


def test_the_access_claim_is_read_strictly():
    claim = [
        {"type": "repository", "name": "alpine", "actions": ["pull"]},
        {"type": "repository", "name": "team/app", "actions": ["pull", 3, "push"]},
        {"type": "repository", "name": 7, "actions": ["pull"]},
        "junk",
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    assert parse_access(claim) == {
        ("repository", "library/alpine", "pull"),
        ("repository", "team/app", "pull"),
        ("repository", "team/app", "push"),
        ("registry", "catalog", "*"),
    }
    assert parse_access("everything") == frozenset()


@pytest.mark.parametrize(
    "section, key",
    [
        ({"issuer": ISSUER, "rootcertbundle": "/nonexistent.pem"}, "bearer.service"),
        ({"service": SERVICE, "rootcertbundle": "/nonexistent.pem"}, "bearer.issuer"),
        (
            {"service": SERVICE, "issuer": ISSUER, "rootcertbundle": "/nonexistent.pem"},
            "bearer.rootcertbundle",
        ),
        ({"service": SERVICE, "issuer": ISSUER, "realm": REALM}, "bearer"),
        ({"service": SERVICE, "issuer": ISSUER, "algorithms": ["HS256"]}, "bearer.algorithms"),
        ({"service": SERVICE, "issuer": ISSUER, "audience": "x"}, "bearer"),
    ],
)
def test_configuration_errors_name_the_key(section, key):
    config = {"auth_backend": "bearer", "bearer": section}
    with pytest.raises(ConfigError) as raised:
        create_app(Settings.from_mapping(config), storage=Storage(InMemoryDriver()))
    assert raised.value.key == key, str(raised.value)


def test_without_a_realm_and_without_the_issuer_start_up_fails(tmp_path):
    key = make_key("rsa")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(certificate(key))
    config = {
        "auth_backend": "bearer",
        "bearer": {"service": SERVICE, "issuer": ISSUER, "rootcertbundle": str(bundle)},
    }
    with pytest.raises(ConfigError) as raised:
        create_app(Settings.from_mapping(config), storage=Storage(InMemoryDriver()))
    assert raised.value.key == "bearer.realm"


def test_the_v1_token_backend_keeps_its_name():
    # NOTE: `token` stays the v1 index-token backend (spec §1); bearer is its own name.
    client = falcon.testing.TestClient(
        create_app(
            Settings.from_mapping({"standalone": False, "index_endpoint": "http://127.0.0.1:9"}),
            storage=Storage(InMemoryDriver()),
        )
    )
    response = client.simulate_get("/v2/team/app/tags/list")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
