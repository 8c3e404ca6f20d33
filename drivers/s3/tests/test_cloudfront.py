"""``cloudfront.*``: ``storage_redirect`` sends clients to CloudFront signed URLs.

The signature and canned policy are verified with the key pair's public key, as
CloudFront does; end to end, a local HTTP server stands in for the distribution: it
checks the signature and expiry, then serves the object from the bucket (moto).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import waitress
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from docker_registry.core.app import create_app
from docker_registry.core.config import ConfigError, Settings
from docker_registry.drivers.s3 import S3Driver
from docker_registry.drivers.s3.testing import ACCESS_KEY, SECRET_KEY

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()


def _unsafe_b64(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def verify(url: str, public_key: rsa.RSAPublicKey) -> str:
    """Check a canned-policy signed URL as CloudFront does; return the key pair id.

    :raises InvalidSignature: the signature does not match the policy.
    :raises ValueError: expired, or parameters missing.
    """
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    resource = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    expires = int(query["Expires"])
    if expires < time.time():
        raise ValueError("expired")
    policy = json.dumps(
        {
            "Statement": [
                {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
            ]
        },
        separators=(",", ":"),
    ).encode()
    public_key.verify(_unsafe_b64(query["Signature"]), policy, padding.PKCS1v15(), hashes.SHA1())
    return query["Key-Pair-Id"]


def test_redirect_url_is_a_signed_cloudfront_url(make_driver, tmp_path: Path) -> None:
    key_file = tmp_path / "cf.pem"
    key_file.write_text(PEM)
    for secret in (PEM, str(key_file)):
        driver = make_driver(
            storage_path="/cf",
            cloudfront={
                "base": "https://d111.cloudfront.net/",
                "keyid": "K2JCJMDEHXQW5F",
                "keysecret": secret,
            },
        )
        driver.put_content("/images/abc/layer", b"layer bytes")
        url = driver.redirect_url("/images/abc/layer")
        assert url.startswith("https://d111.cloudfront.net/cf/images/abc/layer?Expires=")
        assert verify(url, KEY.public_key()) == "K2JCJMDEHXQW5F"
        expires = int(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["Expires"])
        assert 1100 < expires - time.time() <= 1200
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with pytest.raises(InvalidSignature):
            verify(url, other.public_key())
        with pytest.raises(InvalidSignature):
            verify(url.replace("/abc/", "/abd/"), KEY.public_key())


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"base": "d111.cloudfront.net", "keyid": "K", "keysecret": PEM}, "cloudfront.base"),
        ({"base": "https://d.net", "keysecret": PEM}, "cloudfront.keyid"),
        (
            {"base": "https://d.net", "keyid": "K", "keysecret": "/no/such.pem"},
            "cloudfront.keysecret",
        ),
        (
            {"base": "https://d.net", "keyid": "K", "keysecret": "-----BEGIN nonsense"},
            "cloudfront.keysecret",
        ),
        ({"base": "https://d.net", "keyid": "K", "keysecret": PEM, "ttl": 5}, "cloudfront"),
    ],
)
def test_bad_sections_are_configuration_errors(section: dict, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        S3Driver.validate_options({"s3_bucket": "b", "cloudfront": section})
    assert error.value.key == key
    assert PEM not in str(error.value)


@pytest.fixture
def distribution(s3_admin: Any, bucket: str) -> Iterator[tuple[str, list[str]]]:
    """A stand-in for the CloudFront distribution whose origin is the bucket."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = f"http://{self.headers['Host']}{self.path}"
            seen.append(url)
            try:
                verify(url, KEY.public_key())
            except (InvalidSignature, ValueError, KeyError):
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            key = urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/"))
            body = s3_admin.get_object(Bucket=bucket, Key=key)["Body"].read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def registry(s3_url: str, bucket: str, distribution: tuple[str, list[str]]) -> Iterator[str]:
    settings = Settings.from_mapping(
        {
            "storage": "s3",
            "storage_path": "/cfe2e",
            "s3_endpoint_url": s3_url,
            "s3_bucket": bucket,
            "s3_access_key": ACCESS_KEY,
            "s3_secret_key": SECRET_KEY,
            "s3_region": "us-east-1",
            "storage_redirect": True,
            "auth_backend": "open",
            "cloudfront": {"base": distribution[0], "keyid": "KTEST", "keysecret": PEM},
        }
    )
    server = waitress.create_server(create_app(settings), host="127.0.0.1", port=0)
    threading.Thread(target=server.run, daemon=True).start()
    yield f"http://127.0.0.1:{server.socket.getsockname()[1]}"  # type: ignore[union-attr]
    server.close()


def test_blob_download_is_redirected_to_the_distribution(
    registry: str, distribution: tuple[str, list[str]]
) -> None:
    blob = b"a layer served by the CDN" * 100
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    started = requests.post(f"{registry}/v2/lib/cdn/blobs/uploads/", timeout=30)
    assert started.status_code == 202, started.text
    location = urllib.parse.urljoin(registry, started.headers["Location"])
    put = requests.put(location, params={"digest": digest}, data=blob, timeout=30)
    assert put.status_code == 201, put.text

    answer = requests.get(
        f"{registry}/v2/lib/cdn/blobs/{digest}", allow_redirects=False, timeout=30
    )
    assert answer.status_code in (302, 307), answer.text
    assert answer.headers["Location"].startswith(distribution[0] + "/cfe2e/")
    followed = requests.get(f"{registry}/v2/lib/cdn/blobs/{digest}", timeout=30)
    assert followed.status_code == 200 and followed.content == blob
    assert followed.url.startswith(distribution[0]), "served by the distribution"
    tampered = answer.headers["Location"].replace("Expires=", "Expires=9")
    assert requests.get(tampered, timeout=30).status_code == 403
