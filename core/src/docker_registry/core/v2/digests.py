"""Digests, repository names and tags: parsing and validation by the OCI grammar."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..names import is_valid_name
from .errors import DigestInvalid, NameInvalid, TagInvalid

#: Tag grammar of the OCI distribution spec.
TAG_PATTERN = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
#: The algorithms the Go registry's digest package registers, with their hex lengths.
_HEX = {
    "sha256": re.compile(r"[a-f0-9]{64}"),
    "sha384": re.compile(r"[a-f0-9]{96}"),
    "sha512": re.compile(r"[a-f0-9]{128}"),
}
_DIGEST_SYNTAX = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


@dataclass(frozen=True, slots=True)
class Digest:
    """A parsed content digest.

    :param algorithm: ``sha256``, ``sha384`` or ``sha512``.
    :param hex: the lower-case hex encoding.
    """

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> hashlib._Hash:
        """A new hash object of this digest's algorithm."""
        return hashlib.new(self.algorithm)


def parse_digest(value: str | None) -> Digest:
    """Parse ``<algorithm>:<hex>``; a malformed value or another algorithm is refused.

    :raises DigestInvalid: malformed, wrong length, or an algorithm we do not implement
        (``md5:...``): the reference registry's answer, which clients read as "bad
        digest" (``UNSUPPORTED`` would read as "operation not supported").
    """
    if not value or not _DIGEST_SYNTAX.fullmatch(value):
        raise DigestInvalid(f"invalid digest {value!r}")
    algorithm, _, encoded = value.partition(":")
    pattern = _HEX.get(algorithm)
    if pattern is None:
        raise DigestInvalid(
            f"digest algorithm {algorithm!r} is not supported (use one of: {', '.join(_HEX)})"
        )
    if not pattern.fullmatch(encoded):
        raise DigestInvalid(f"invalid {algorithm} digest {value!r}")
    return Digest(algorithm, encoded)


def is_digest(reference: str) -> bool:
    """True when a manifest reference is a digest rather than a tag."""
    return ":" in reference


def digest_of(data: bytes) -> Digest:
    """The sha256 digest of ``data``."""
    return Digest("sha256", hashlib.sha256(data).hexdigest())


def check_name(name: str) -> str:
    """Return ``name`` when it is a valid repository name.

    :raises NameInvalid: it does not match the grammar or is too long.
    """
    if not is_valid_name(name):
        raise NameInvalid(f"invalid repository name {name!r}")
    return name


def check_tag(tag: str) -> str:
    """Return ``tag`` when it is a valid tag.

    :raises TagInvalid: it does not match the tag grammar.
    """
    if not TAG_PATTERN.fullmatch(tag):
        raise TagInvalid(f"invalid tag {tag!r}")
    return tag
