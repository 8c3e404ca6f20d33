"""The issuer's signing keys: from config, or generated once and kept in storage.

``token_issuer.key`` names a PEM private key (RSA, EC P-256/P-384/P-521 or Ed25519) and
``token_issuer.certificate`` optionally its certificate (the one the reference registry's
``auth.token.rootcertbundle`` and our ``bearer.rootcertbundle`` trust); without a
certificate a self-signed one is made from the key. Without ``key``, a key of
``token_issuer.algorithm`` is generated and stored with :meth:`Storage.put_private` (mode
0600 on the file driver) under ``auth/token_issuer/keys/``, with its certificate beside
it; later starts (and the other workers) load it from there.

Workers starting together may each generate a key: all stored keys are trusted
(:meth:`KeyRing.public_keys`), and each worker signs with the first by name, so tokens
verify in every worker; the next start settles on that one key.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from docker_registry.core.access.bearer import key_type, libtrust_key_id
from docker_registry.core.config import ConfigError
from docker_registry.core.storage import PathNotFoundError, Storage, StorageError

log = logging.getLogger(__name__)

#: Where generated keys live in storage.
KEYS_PATH = "/auth/token_issuer/keys"
#: Algorithms the issuer can sign with (what a generated key is made for).
ALGORITHMS = ("RS256", "ES256", "EdDSA")


@dataclass(frozen=True)
class SigningKey:
    """A private key, its algorithm, key id (libtrust, as distribution computes it) and
    certificate (PEM)."""

    private: Any
    algorithm: str
    kid: str
    certificate: bytes

    @property
    def public(self) -> Any:
        return self.private.public_key()


def generate(algorithm: str) -> Any:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown algorithm {algorithm!r} (use {', '.join(ALGORITHMS)})")


def algorithm_of(private: Any) -> str:
    kind = key_type(private.public_key())
    if kind == "rsa":
        return "RS256"
    if kind == "ed25519":
        return "EdDSA"
    curve = private.curve.name
    return {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}[curve]


def self_signed(private: Any, common_name: str) -> bytes:
    """A self-signed certificate for ``private`` (10 years), PEM."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "issuer")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    digest = None if isinstance(private, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(private, digest).public_bytes(serialization.Encoding.PEM)


def private_pem(private: Any) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load(pem: bytes, certificate: bytes | None, common_name: str, where: str) -> SigningKey:
    """:raises ValueError: not a private key of a usable type, or a certificate of
    another key."""
    private = serialization.load_pem_private_key(pem, password=None)
    algorithm = algorithm_of(private)
    if certificate is None:
        certificate = self_signed(private, common_name)
    else:
        cert_key = x509.load_pem_x509_certificate(certificate).public_key()
        if libtrust_key_id(cert_key) != libtrust_key_id(private.public_key()):
            raise ValueError(f"the certificate is not for the key {where}")
    return SigningKey(private, algorithm, libtrust_key_id(private.public_key()), certificate)


class KeyRing:
    """The signing key and every key tokens of this issuer may carry.

    :param signing: the key new tokens are signed with.
    :param storage: where generated keys live (``None``: configured key only).
    """

    def __init__(self, signing: SigningKey, storage: Storage | None = None) -> None:
        self.signing = signing
        self.storage = storage

    @classmethod
    def from_config(cls, section: Mapping[str, Any], storage: Storage, common_name: str) -> KeyRing:
        """:raises ConfigError: naming ``token_issuer.key``/``certificate``/``algorithm``."""
        key_path = section.get("key")
        cert_path = section.get("certificate")
        if key_path:
            try:
                with open(key_path, "rb") as stream:
                    pem = stream.read()
                certificate = None
                if cert_path:
                    with open(cert_path, "rb") as stream:
                        certificate = stream.read()
                return cls(load(pem, certificate, common_name, str(key_path)))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                raise ConfigError(
                    f"cannot use the signing key {key_path}: {exc}", key="token_issuer.key"
                ) from exc
        if cert_path:
            raise ConfigError(
                "token_issuer.certificate needs token_issuer.key (the key it certifies)",
                key="token_issuer.certificate",
            )
        algorithm = str(section.get("algorithm") or "RS256")
        if algorithm not in ALGORITHMS:
            raise ConfigError(
                f"unknown algorithm {algorithm!r} (use {', '.join(ALGORITHMS)})",
                key="token_issuer.algorithm",
            )
        stored = _stored(storage, common_name)
        if not stored:
            private = generate(algorithm)
            kid = libtrust_key_id(private.public_key())
            name = hashlib.sha256(kid.encode()).hexdigest()[:16]
            try:
                storage.put_private(f"{KEYS_PATH}/{name}.key", private_pem(private))
                storage.put_content(f"{KEYS_PATH}/{name}.crt", self_signed(private, common_name))
            except StorageError as exc:
                raise ConfigError(
                    f"cannot keep the generated signing key in storage: {exc}",
                    key="token_issuer.key",
                ) from exc
            log.warning(
                "token issuer: generated a %s signing key %s, kept in storage at %s "
                "(its certificate beside it, also served at the realm's /certificate.pem)",
                algorithm,
                kid,
                KEYS_PATH,
            )
            stored = _stored(storage, common_name)
        return cls(stored[0], storage)

    def public_keys(self) -> dict[str, Any]:
        """``{kid: public key}``: the signing key and every key in storage."""
        keys = {self.signing.kid: self.signing.public}
        if self.storage is not None:
            keys.update((key.kid, key.public) for key in _stored(self.storage, ""))
        return keys

    def certificates(self) -> bytes:
        """Every certificate tokens may be verified with, PEM (a ``rootcertbundle``)."""
        if self.storage is None:
            return self.signing.certificate
        found = [key.certificate for key in _stored(self.storage, "")]
        return b"".join(found or [self.signing.certificate])


def _stored(storage: Storage, common_name: str) -> list[SigningKey]:
    try:
        names = storage.list(KEYS_PATH)
    except PathNotFoundError:
        return []
    keys = []
    for path in sorted(names):
        if not path.endswith(".key"):
            continue
        try:
            pem = storage.get_content(path)
            try:
                certificate: bytes | None = storage.get_content(path[: -len(".key")] + ".crt")
            except PathNotFoundError:
                certificate = None
            keys.append(load(pem, certificate, common_name or "docker-registry", path))
        except (StorageError, ValueError, TypeError, KeyError) as exc:
            log.error("token issuer: stored key %s unusable (%s); ignored", path, exc)
    return keys
