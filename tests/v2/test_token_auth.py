"""The Docker registry token protocol on live servers, with real clients.

Our registry runs ``auth_backend: bearer`` with the token issuer plugin (accounts written
by Apache's ``htpasswd -B``). The reference registry (CNCF distribution 2.8) configured
with ``auth: token`` and our issuer's certificate accepts our tokens (podman login, push,
pull through it); podman, skopeo and oras-py log in to our registry through the realm.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from test_auth_clients import need, podman, run
from v2support import Server, start_ours, start_reference, write_oci_layout

pytestmark = pytest.mark.slow

SERVICE = "registry.e2e"
ISSUER = "registry.e2e-issuer"
ACCOUNTS = {"writer": "writer pw", "reader": "reader-pw"}
ACCESS = [
    {"accounts": ["writer"], "repositories": ["team/**"], "actions": ["pull", "push"]},
    {"accounts": ["reader"], "repositories": ["team/**"], "actions": ["pull"]},
]


def write_accounts(path: Path) -> Path:
    need("htpasswd")
    for index, (account, password) in enumerate(ACCOUNTS.items()):
        run("htpasswd", "-cbB" if index == 0 else "-bB", str(path), account, password)
    return path


@pytest.fixture
def issuing(tmp_path):
    """Our registry in bearer mode, with its own token issuer at /token."""
    server = start_ours(
        tmp_path / "ours",
        auth_backend="bearer",
        bearer={"service": SERVICE, "issuer": ISSUER},
        htpasswd={"path": str(write_accounts(tmp_path / "htpasswd")), "access": ACCESS},
        token_issuer={},
    )
    yield server
    server.process.stop()


@pytest.fixture
def oci_image(tmp_path) -> str:
    write_oci_layout(tmp_path / "layout", "v1", {"etc/motd": b"hello with a token\n"})
    return f"oci:{tmp_path / 'layout'}:v1"


def login_push_pull(server: Server, oci_image: str, tool_root: Path) -> None:
    """podman: a wrong password fails, the writer pushes, the reader pulls and may not push."""
    need("podman")
    host = server.host
    authfile = str(tool_root / "auth.json")
    common = ["--authfile", authfile, "--tls-verify=false"]
    failed = podman(tool_root, "login", *common, "-u", "writer", "-p", "wrong", host, ok=False)
    assert failed.returncode != 0
    podman(tool_root, "login", *common, "-u", "writer", "-p", ACCOUNTS["writer"], host)
    podman(tool_root, "pull", "--tls-verify=false", oci_image)
    [image_id] = podman(tool_root, "images", "-q").stdout.split()
    podman(tool_root, "tag", image_id, f"{host}/team/app:1")
    podman(tool_root, "push", *common, f"{host}/team/app:1")
    podman(tool_root, "rmi", "-f", image_id)
    podman(tool_root, "logout", "--authfile", authfile, host)
    anonymous = podman(tool_root, "pull", *common, f"{host}/team/app:1", ok=False)
    assert anonymous.returncode != 0
    podman(tool_root, "login", *common, "-u", "reader", "-p", ACCOUNTS["reader"], host)
    podman(tool_root, "pull", *common, f"{host}/team/app:1")
    pulled = podman(tool_root, "image", "inspect", f"{host}/team/app:1")
    assert json.loads(pulled.stdout)[0]["RepoTags"] == [f"{host}/team/app:1"]
    refused = podman(tool_root, "push", *common, f"{host}/team/app:1", f"{host}/team/x:1", ok=False)
    assert refused.returncode != 0


def test_reference_registry_accepts_our_tokens(issuing, oci_image, tool_root, tmp_path):
    bundle = requests.get(f"{issuing.url}/token/certificate.pem", timeout=10)
    assert bundle.status_code == 200
    (tmp_path / "issuer.pem").write_bytes(bundle.content)
    reference = start_reference(
        tmp_path / "reference",
        auth={
            "token": {
                "realm": f"{issuing.url}/token",
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(tmp_path / "issuer.pem"),
            }
        },
    )
    try:
        challenge = requests.get(f"{reference.url}/v2/", timeout=10)
        assert challenge.status_code == 401
        assert f'realm="{issuing.url}/token"' in challenge.headers["WWW-Authenticate"]
        login_push_pull(reference, oci_image, tool_root)
        # the push landed in the reference registry's storage, not ours
        assert (reference.storage_path / "docker/registry/v2/repositories/team/app").is_dir()
        assert not (issuing.storage_path / "v2" / "repositories" / "team").exists()
        # a token of another issuer's key is refused by it (the check is real)
        forged = requests.get(
            f"{reference.url}/v2/team/app/tags/list",
            headers={"Authorization": "Bearer " + _foreign_token()},
            timeout=10,
        )
        assert forged.status_code == 401
    finally:
        reference.process.stop()


def _foreign_token() -> str:
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from docker_registry.core.access.bearer import libtrust_key_id

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": SERVICE,
        "sub": "writer",
        "exp": now + 300,
        "nbf": now - 1,
        "iat": now,
        "access": [{"type": "repository", "name": "team/app", "actions": ["pull"]}],
    }
    return jwt.encode(
        claims, key, algorithm="RS256", headers={"kid": libtrust_key_id(key.public_key())}
    )


def test_podman_login_push_pull_against_our_bearer_mode(issuing, oci_image, tool_root):
    challenge = requests.get(f"{issuing.url}/v2/", timeout=10)
    assert challenge.headers["WWW-Authenticate"] == (
        f'Bearer realm="{issuing.url}/token",service="{SERVICE}"'
    )
    login_push_pull(issuing, oci_image, tool_root)


def test_skopeo_copy_with_creds_in_bearer_mode(issuing, oci_image, tmp_path):
    need("skopeo")
    dest = f"docker://{issuing.host}/team/skopeo:1"
    anonymous = run("skopeo", "copy", "--dest-tls-verify=false", oci_image, dest, ok=False)
    assert anonymous.returncode != 0
    reader = f"reader:{ACCOUNTS['reader']}"
    writer = f"writer:{ACCOUNTS['writer']}"
    refused = run(
        "skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", reader, oci_image, dest,
        ok=False,
    )  # fmt: skip
    assert refused.returncode != 0
    run("skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", writer, oci_image, dest)
    inspect = run("skopeo", "inspect", "--tls-verify=false", "--creds", reader, dest)
    assert json.loads(inspect.stdout)["Name"] == f"{issuing.host}/team/skopeo"
    out = tmp_path / "out"
    run("skopeo", "copy", "--src-tls-verify=false", "--src-creds", reader, dest, f"oci:{out}:x")
    assert (out / "index.json").exists()
    tags = run("skopeo", "list-tags", "--tls-verify=false", "--creds", reader, dest[: -len(":1")])
    assert json.loads(tags.stdout)["Tags"] == ["1"]


def test_oras_with_credentials_in_bearer_mode(issuing, tmp_path, monkeypatch):
    import oras.auth.utils
    import oras.client

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "artifact.txt").write_text("an artifact behind a token\n")
    target = f"{issuing.host}/team/oras:v1"
    # NOTE: oras-py's default auth backend is the token flow; it asks the realm for the
    # scope of the first challenge and renews its token only after a 403, while
    # distribution (and we) answer a token lacking push with 401 insufficient_scope: a
    # push would keep the pull token of its first blob check. So the writer asks oras-py's
    # own token request for the push scope first, with its credentials.
    writer = oras.client.OrasClient(hostname=issuing.host, insecure=True)
    writer.login(
        username="writer", password=ACCOUNTS["writer"], hostname=issuing.host, tls_verify=False
    )
    challenge = requests.post(f"{issuing.url}/v2/team/oras/blobs/uploads/", timeout=10)
    header = oras.auth.utils.parse_auth_header(challenge.headers["WWW-Authenticate"])
    assert header.scope == "repository:team/oras:pull,push"
    token = writer.auth.request_token(header)
    assert token, "the realm refused the writer's credentials"
    writer.auth.set_token_auth(token)
    assert writer.push(files=["artifact.txt"], target=target).status_code == 201
    # a reader follows the challenges with its credentials alone
    reader = oras.client.OrasClient(hostname=issuing.host, insecure=True)
    reader.login(
        username="reader", password=ACCOUNTS["reader"], hostname=issuing.host, tls_verify=False
    )
    pulled = reader.pull(target=target, outdir=str(tmp_path / "out"))
    assert [Path(path).read_text() for path in pulled] == ["an artifact behind a token\n"]
    assert reader.get_tags(f"{issuing.host}/team/oras") == ["v1"]
    with pytest.raises(ValueError, match=r"(?i)unauthorized"):
        reader.push(files=["artifact.txt"], target=f"{issuing.host}/team/oras:v2")
    response = requests.get(f"{issuing.url}/v2/team/oras/manifests/v1", timeout=10)
    assert response.status_code == 401
    assert 'scope="repository:team/oras:pull"' in response.headers["WWW-Authenticate"]


def test_the_token_endpoint_speaks_oauth2_on_a_live_server(issuing):
    """containerd's flow: POST password grant with access_type=offline, then refresh."""
    response = requests.post(
        f"{issuing.url}/token",
        data={
            "grant_type": "password",
            "username": "writer",
            "password": ACCOUNTS["writer"],
            "service": SERVICE,
            "scope": "repository:team/app:pull,push",
            "client_id": "containerd-client",
            "access_type": "offline",
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    access = response.json()["access_token"]
    tags = requests.get(
        f"{issuing.url}/v2/team/app/tags/list",
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert tags.status_code == 404  # allowed; nothing pushed yet
    again = requests.post(
        f"{issuing.url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": response.json()["refresh_token"],
            "service": SERVICE,
            "scope": "repository:team/app:pull",
        },
        timeout=10,
    )
    assert again.status_code == 200, again.text
