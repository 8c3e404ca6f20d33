"""TLS in front: the nginx site of docs/deploy.md, a test CA, podman with verification on.

The site is read from docs/deploy.md (so the page and the test cannot drift apart), its
certificate, upstream and listen address replaced by the test's; the registry runs in
bearer mode with the token issuer and trusts X-Forwarded-Proto from the proxy only.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from test_auth_clients import need, podman, run
from v2support import Server, digest, start_ours, write_oci_layout

from docker_registry.testing.services import ServiceProcess, free_port, tcp_ready

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
SERVICE = "registry.tls"
ISSUER = "registry.tls-issuer"
ACCOUNTS = {"writer": "writer pw"}
PROXY_ADDRESS = "127.0.0.2"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1/localhost signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("docker-registry test CA"))
        .issuer_name(_name("docker-registry test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_path = directory / "ca.crt"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path = directory.parent / "server.pem"
    cert_path.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_path = directory.parent / "server.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


def documented_site() -> str:
    """The ```nginx block of docs/deploy.md."""
    blocks = re.findall(r"```nginx\n(.*?)```", DEPLOY.read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/deploy.md must hold exactly one nginx site"
    return blocks[0]


def nginx_config(
    site: str, directory: Path, *, port: int, upstream: str, cert: Path, key: Path
) -> Path:
    replacements = {
        "server 127.0.0.1:5000;": f"server {upstream};",
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "/etc/ssl/registry/fullchain.pem": str(cert),
        "/etc/ssl/registry/privkey.pem": str(key),
    }
    for old, new in replacements.items():
        assert old in site, f"docs/deploy.md's site no longer has {old!r}"
        site = site.replace(old, new)
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = directory / "nginx.conf"
    config.write_text(
        f"daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} warn;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log off;\n{temp}\n{site}\n}}\n"
    )
    return config


def start_tls_front(registry: Server, tmp_path: Path) -> tuple[Server, Path, Path]:
    """nginx with the documented site in front of ``registry``: the HTTPS server, the
    test CA's folder (podman's --cert-dir; ``ca.crt`` inside) and nginx's folder."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        pytest.fail("nginx is missing: apt-get install -y nginx")
    ca, cert, key = make_ca(tmp_path / "certs" / "ca")
    directory = tmp_path / "nginx"
    directory.mkdir()
    port = free_port()
    config = nginx_config(
        documented_site(), directory, port=port, upstream=registry.host, cert=cert, key=key
    )
    check = run(nginx, "-t", "-c", str(config), "-p", str(directory), ok=False)
    assert check.returncode == 0, check.stderr
    process = ServiceProcess(
        [nginx, "-c", str(config), "-p", str(directory)],
        name="nginx",
        url=f"https://127.0.0.1:{port}",
        ready=tcp_ready("127.0.0.1", port),
        cwd=directory,
        startup_timeout=15,
    ).start()
    https = Server("ours", f"https://127.0.0.1:{port}", f"127.0.0.1:{port}",
                   registry.storage_path, process)  # fmt: skip
    return https, ca.parent, directory


@pytest.fixture
def proxied(tmp_path):
    """nginx with the documented site in front of our registry (bearer + issuer)."""
    need("htpasswd")
    users = tmp_path / "htpasswd"
    run("htpasswd", "-cbB", str(users), "writer", ACCOUNTS["writer"])
    registry = start_ours(
        tmp_path / "ours",
        auth_backend="bearer",
        bearer={"service": SERVICE, "issuer": ISSUER},
        htpasswd={
            "path": str(users),
            "access": [
                {"accounts": ["writer"], "repositories": ["team/**"], "actions": ["pull", "push"]}
            ],
        },
        token_issuer={},
        trusted_proxy=PROXY_ADDRESS,
        trusted_proxy_headers=["x-forwarded-proto", "x-forwarded-for"],
    )
    https, cert_dir, directory = start_tls_front(registry, tmp_path)
    yield https, registry, cert_dir, directory
    https.process.stop()
    registry.process.stop()


def test_podman_pushes_and_pulls_through_tls_with_verification(proxied, tmp_path, tool_root):
    need("podman")
    https, _, cert_dir, _ = proxied
    host = https.host
    write_oci_layout(tmp_path / "layout", "v1", {"etc/motd": b"hello over TLS\n"})
    authfile = str(tool_root / "auth.json")
    verified = ["--authfile", authfile, "--tls-verify=true", "--cert-dir", str(cert_dir)]
    # without the CA, verification fails: it is really on
    unknown_ca = podman(
        tool_root, "login", "--authfile", authfile, "--tls-verify=true",
        "--cert-dir", str(tool_root / "empty"), "-u", "writer", "-p", ACCOUNTS["writer"], host,
        ok=False,
    )  # fmt: skip
    assert unknown_ca.returncode != 0
    assert "certificate" in (unknown_ca.stderr + unknown_ca.stdout).lower()
    podman(tool_root, "login", *verified, "-u", "writer", "-p", ACCOUNTS["writer"], host)
    podman(tool_root, "pull", "--tls-verify=false", f"oci:{tmp_path / 'layout'}:v1")
    [image_id] = podman(tool_root, "images", "-q").stdout.split()
    podman(tool_root, "tag", image_id, f"{host}/team/app:tls")
    podman(tool_root, "push", *verified, f"{host}/team/app:tls")
    podman(tool_root, "rmi", "-f", image_id)
    podman(tool_root, "pull", *verified, f"{host}/team/app:tls")
    assert podman(tool_root, "images", "-q").stdout.split()


def test_the_realm_carries_https_and_only_the_proxy_is_believed(proxied):
    https, registry, cert_dir, _ = proxied
    through = requests.get(f"{https.url}/v2/", verify=str(cert_dir / "ca.crt"), timeout=10)
    assert through.status_code == 401
    assert through.headers["WWW-Authenticate"] == (
        f'Bearer realm="https://{https.host}/token",service="{SERVICE}"'
    )
    # a client reaching the registry directly cannot claim https (nor another address)
    direct = requests.get(
        f"{registry.url}/v2/",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
        timeout=10,
    )
    assert direct.headers["WWW-Authenticate"] == (
        f'Bearer realm="http://{registry.host}/token",service="{SERVICE}"'
    )
    # the token endpoint answers through the proxy, over verified TLS
    token = requests.get(
        f"{https.url}/token",
        params={"service": SERVICE, "scope": "repository:team/app:pull"},
        auth=("writer", ACCOUNTS["writer"]),
        verify=str(cert_dir / "ca.crt"),
        timeout=10,
    )
    assert token.status_code == 200, token.text


def test_a_large_upload_is_streamed_not_buffered_by_nginx(proxied):
    https, _, cert_dir, directory = proxied
    ca = str(cert_dir / "ca.crt")
    token = requests.get(
        f"{https.url}/token",
        params={"service": SERVICE, "scope": "repository:team/big:pull,push"},
        auth=("writer", ACCOUNTS["writer"]),
        verify=ca,
        timeout=10,
    ).json()["token"]
    size, piece = 64 * 1024 * 1024, 1024 * 1024
    seen: set[str] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for path in (directory / "client_body").rglob("*"):
                if path.is_file():
                    seen.add(path.name)
            time.sleep(0.005)

    def body():
        for _ in range(size // piece):
            time.sleep(0.01)
            yield b"b" * piece

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        response = requests.post(
            f"{https.url}/v2/team/big/blobs/uploads/?digest={digest(b'b' * size)}",
            data=body(),
            headers={"Authorization": f"Bearer {token}"},
            verify=ca,
            timeout=120,
        )
    finally:
        stop.set()
        watcher.join()
    assert response.status_code == 201, response.text
    assert seen == set(), f"nginx buffered the body to disk: {seen}"
