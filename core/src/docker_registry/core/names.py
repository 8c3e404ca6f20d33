"""Repository names as both APIs spell them: rules the authorization model, the APIs and
their layouts share (so that none of them imports another for a name).

v1 names are ``<namespace>/<repository>`` with the repository part quote_plus-encoded
(spec §1.4); v2 names follow the OCI distribution grammar.
"""

from __future__ import annotations

import re
from urllib.parse import quote_plus, unquote_plus

#: Longest encoded path component stored (file systems refuse names over 255 bytes).
MAX_COMPONENT = 255


#: Repository name grammar of the OCI distribution spec.
NAME_PATTERN = re.compile(
    r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
)
#: Longest repository name accepted (the Go registry's limit).
MAX_NAME_LENGTH = 255


def parse_repository_name(path: str) -> tuple[str, str]:
    """Split the ``<repo>`` part of a ``/v1/repositories/<repo>/...`` URL (spec §1.4).

    Trailing ``/`` are stripped, then the name is split on the first ``/``: one part
    means namespace ``library``. The repository part is quote_plus-encoded (the
    namespace is not), exactly as 0.9.1 did.

    >>> parse_repository_name("ubuntu")
    ('library', 'ubuntu')
    >>> parse_repository_name("a/b/c")
    ('a', 'b%2Fc')

    :returns: ``(namespace, quoted repository)``.
    """
    name = path.rstrip("/")
    if "/" in name:
        namespace, repository = name.split("/", 1)
    else:
        namespace, repository = "library", name
    return namespace, quote_plus(repository, safe="")


def display_name(namespace: str, repository: str) -> str:
    """``<ns>/<repo>`` with the repository decoded, for search results and events."""
    return f"{namespace}/{unquote_plus(repository)}"


def encode_component(value: str) -> str:
    """Encode one path component as the seed's storage helpers did (spec §1.5)."""
    text = str(value)
    if text == ".":
        text = "%2E"
    elif text == "..":
        text = "%2E%2E"
    return quote_plus(text, safe="")


def is_storable(*components: str) -> bool:
    """True when every encoded component fits a file name (<= 255 bytes)."""
    return all(0 < len(encode_component(part)) <= MAX_COMPONENT for part in components)


def is_valid_name(name: str) -> bool:
    """True when ``name`` matches the repository name grammar and length limit."""
    return len(name) <= MAX_NAME_LENGTH and NAME_PATTERN.fullmatch(name) is not None
