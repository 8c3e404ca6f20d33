"""CloudFront signed URLs for ``storage_redirect`` (the ``cloudfront`` section).

With ``cloudfront: {base, keyid, keysecret}`` the driver's :meth:`redirect_url` answers a
URL of the distribution (``base`` + the object's key) signed with a canned policy by
botocore's ``CloudFrontSigner`` (RSA-SHA1 with the key pair's private key, as CloudFront
requires for key pairs and key groups alike), valid for the same 20 minutes as an S3
presigned URL. The distribution's origin must be the bucket.
"""

from __future__ import annotations

import datetime
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.signers import CloudFrontSigner

from docker_registry.core.config import ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

KEYS = ("base", "keyid", "keysecret")


@dataclass(frozen=True)
class CloudFront:
    """A validated ``cloudfront`` section with its loaded private key."""

    base: str
    keyid: str
    key: rsa.RSAPrivateKey

    def _sign(self, message: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return self.key.sign(message, padding.PKCS1v15(), hashes.SHA1())

    def signed_url(self, key: str, expires_in: int) -> str:
        """The signed URL of the object ``key`` (its S3 key, prefix included)."""
        url = f"{self.base}/{urllib.parse.quote(key, safe='/')}"
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=expires_in)
        return CloudFrontSigner(self.keyid, self._sign).generate_presigned_url(
            url, date_less_than=expires
        )


def _load_key(value: str) -> rsa.RSAPrivateKey:
    # PERF: cryptography (and the bcrypt it pulls in) costs a worker about 8 MiB: it is
    # loaded only where a cloudfront section is configured.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    text = value.strip()
    if "-----BEGIN" not in text:
        if not os.path.isfile(text):
            raise ConfigError(
                f"expected a PEM private key or the path of one; no file {text!r}",
                key="cloudfront.keysecret",
            )
        try:
            with open(text, "rb") as file:
                data = file.read()
        except OSError as exc:
            raise ConfigError(
                f"cannot read {text!r}: {exc.strerror}", key="cloudfront.keysecret"
            ) from None
    else:
        data = text.encode()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            "not an unencrypted PEM private key (CloudFront signs with the RSA key of the "
            "key pair or public key named by keyid)",
            key="cloudfront.keysecret",
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError("CloudFront needs an RSA key", key="cloudfront.keysecret")
    return key


def cloudfront(value: Any) -> CloudFront | None:
    """The ``cloudfront`` option, or ``None`` when absent or without ``base`` (off).

    :raises ConfigError: naming the ``cloudfront.*`` key that cannot work.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, Mapping):
        raise ConfigError("expected a mapping {base, keyid, keysecret}", key="cloudfront")
    unknown = sorted(str(key) for key in value if key not in KEYS)
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} (known: {', '.join(KEYS)})",
            key="cloudfront",
        )
    base = value.get("base")
    if base in (None, ""):
        return None
    if not isinstance(base, str) or urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        raise ConfigError(
            f"expected the distribution's URL, e.g. https://d111111abcdef8.cloudfront.net, "
            f"got {base!r}",
            key="cloudfront.base",
        )
    keyid = value.get("keyid")
    if not isinstance(keyid, str) or not keyid.strip():
        raise ConfigError("expected the key pair (or public key) id", key="cloudfront.keyid")
    secret = value.get("keysecret")
    if not isinstance(secret, str) or not secret.strip():
        raise ConfigError("expected the PEM private key or its path", key="cloudfront.keysecret")
    return CloudFront(base=base.rstrip("/"), keyid=keyid.strip(), key=_load_key(secret))
