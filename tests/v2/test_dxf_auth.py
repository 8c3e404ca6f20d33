"""python-dxf with credentials, against HTTP Basic (htpasswd) and the token protocol
(bearer with our issuer), behind the documented TLS front (python-dxf refuses
credentials over plain HTTP): the writer pushes and tags, the reader pulls and is
refused a push, a wrong password gets nowhere."""

from __future__ import annotations

import hashlib
import os

import pytest
import requests
from dxf import DXF
from dxf.exceptions import DXFUnauthorizedError
from test_auth_clients import need, run
from test_tls_proxy import PROXY_ADDRESS, start_tls_front
from v2support import start_ours

pytestmark = pytest.mark.slow

ACCOUNTS = {"writer": "writer pw", "reader": "reader-pw"}
ACCESS = [
    {"accounts": ["writer"], "repositories": ["team/**"], "actions": ["pull", "push"]},
    {"accounts": ["reader"], "repositories": ["team/**"], "actions": ["pull"]},
]
BACKENDS = {
    "basic": {"auth_backend": "htpasswd"},
    "bearer": {
        "auth_backend": "bearer",
        "bearer": {"service": "registry.dxf", "issuer": "registry.dxf-issuer"},
        "token_issuer": {},
    },
}


@pytest.fixture(params=sorted(BACKENDS))
def behind_tls(request, tmp_path):
    """Our registry with accounts from Apache's htpasswd, behind nginx with a test CA."""
    need("htpasswd")
    users = tmp_path / "htpasswd"
    for index, (account, password) in enumerate(ACCOUNTS.items()):
        run("htpasswd", "-cbB" if index == 0 else "-bB", str(users), account, password)
    registry = start_ours(
        tmp_path / "ours",
        htpasswd={"path": str(users), "access": ACCESS},
        trusted_proxy=PROXY_ADDRESS,
        trusted_proxy_headers=["x-forwarded-proto", "x-forwarded-for"],
        **BACKENDS[request.param],
    )
    https, cert_dir, _ = start_tls_front(registry, tmp_path)
    yield https, cert_dir / "ca.crt"
    https.process.stop()
    registry.process.stop()


def client(behind_tls, account: str, password: str | None = None) -> DXF:
    https, ca = behind_tls
    secret = ACCOUNTS[account] if password is None else password

    def authenticate(dxf: DXF, response: requests.Response) -> None:
        dxf.authenticate(account, secret, response=response)

    return DXF(https.host, "team/dxf", auth=authenticate, tlsverify=str(ca))


def test_python_dxf_with_credentials(behind_tls, tmp_path):
    data = os.urandom(2 * 1024 * 1024 + 5)
    layer = tmp_path / "layer.bin"
    layer.write_bytes(data)
    writer = client(behind_tls, "writer")
    blob = writer.push_blob(str(layer))
    writer.set_alias("v1", blob)
    reader = client(behind_tls, "reader")
    assert b"".join(reader.pull_blob(blob)) == data
    assert reader.get_alias("v1") == [blob]
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(1024))
    with pytest.raises(REFUSED) as refused:
        reader.push_blob(str(other))
    assert refused_status(refused.value) in (401, 403)
    with pytest.raises(requests.HTTPError, match="404"):
        writer.blob_size(digest_of(other.read_bytes()))
    with pytest.raises(REFUSED) as wrong:
        list(client(behind_tls, "writer", "not the password").pull_blob(blob))
    assert refused_status(wrong.value) == 401


#: How python-dxf reports a refusal: its own error once its credentials were refused
#: (always a 401), an HTTPError otherwise.
REFUSED = (requests.HTTPError, DXFUnauthorizedError)


def refused_status(error: Exception) -> int:
    if isinstance(error, DXFUnauthorizedError):
        return 401
    assert isinstance(error, requests.HTTPError) and error.response is not None
    return error.response.status_code


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
