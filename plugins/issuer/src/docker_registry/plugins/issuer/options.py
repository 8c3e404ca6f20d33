"""The keys of the ``token_issuer`` section, declared through ``registry_options``."""

from __future__ import annotations

from collections.abc import Iterable

from docker_registry.core.config.options import Option
from docker_registry.core.config.parsers import checked_by_section, integer
from docker_registry.core.hookspecs import hookimpl

TOKEN_ISSUER = Option(
    "token_issuer",
    checked_by_section,
    help="the built-in token issuer (registry-plugin-issuer); on when the section is present "
    "(see [auth.md](auth.md#the-built-in-token-issuer-registry-plugin-issuer))",
)
PATH = Option(
    "token_issuer.path",
    checked_by_section,
    "/token",
    help="where the token endpoint (the realm) is mounted",
)
KEY = Option(
    "token_issuer.key",
    checked_by_section,
    default_doc="(generated, kept in storage at `auth/token_issuer/keys/`, mode 0600)",
    help="PEM private key (RSA, EC or Ed25519) tokens are signed with",
)
CERTIFICATE = Option(
    "token_issuer.certificate",
    checked_by_section,
    default_doc="(self-signed for the key)",
    help="its certificate (needs `key`)",
)
ALGORITHM = Option(
    "token_issuer.algorithm",
    checked_by_section,
    "RS256",
    help="algorithm of a generated key: `RS256`, `ES256`, `EdDSA`",
)
EXPIRATION = Option(
    "token_issuer.expiration", integer, 300, min=1, help="seconds an access token lives"
)
REFRESH_EXPIRATION = Option(
    "token_issuer.refresh_expiration",
    integer,
    7 * 86400,
    min=1,
    help="seconds a refresh token lives",
)

OPTIONS = (TOKEN_ISSUER, PATH, KEY, CERTIFICATE, ALGORITHM, EXPIRATION, REFRESH_EXPIRATION)


@hookimpl
def registry_options() -> Iterable[Option]:
    return OPTIONS
