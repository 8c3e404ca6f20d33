"""Content negotiation of manifest GET/HEAD on the ``Accept`` header, as the Go registry does.

- no ``Accept``, or a wildcard / ``application/json``: the stored manifest as it is;
- the stored type is accepted: as it is;
- an index or manifest list, and the client accepts only image manifests: the
  ``linux/amd64`` entry of the index (what Docker clients without list support expect);
- otherwise ``MANIFEST_UNKNOWN``: the client cannot read what is stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from .digests import Digest, parse_digest
from .errors import ManifestUnknown, V2Error
from .mediatypes import IMAGE_TYPES, INDEX_TYPES

_ANYTHING = frozenset({"*/*", "application/*", "application/json"})
_parsed: dict[str, frozenset[str]] = {}


def accepted(header: str | None) -> frozenset[str] | None:
    """The media types named by an ``Accept`` header; ``None`` when anything goes."""
    if not header:
        return None
    types = _parsed.get(header)
    if types is None:
        types = frozenset(
            part.split(";", 1)[0].strip().lower() for part in header.split(",") if part.strip()
        )
        if len(_parsed) < 1024:  # PERF: clients send a handful of distinct headers
            _parsed[header] = types
    return None if types & _ANYTHING else types


def negotiate(
    header: str | None,
    data: bytes,
    media_type: str,
    digest: Digest,
    fetch: Callable[[str], tuple[bytes, str, Digest]],
) -> tuple[bytes, str, Digest]:
    """The manifest to answer for ``Accept: header``.

    :param fetch: reads another manifest of the repository by digest.
    :raises ManifestUnknown: nothing stored is acceptable.
    """
    types = accepted(header)
    if types is None or media_type in types:
        return data, media_type, digest
    if media_type in INDEX_TYPES and types & IMAGE_TYPES:
        child = _default_platform(data)
        if child is not None:
            try:
                return fetch(str(child))
            except V2Error:
                pass
    raise ManifestUnknown(
        f"the manifest is {media_type}, which the Accept header does not allow",
        detail={"mediaType": media_type},
    )


def _default_platform(data: bytes) -> Digest | None:
    """The ``linux/amd64`` entry of an index, if it has one."""
    try:
        entries = json.loads(data).get("manifests") or []
        for entry in entries:
            platform = entry.get("platform") or {}
            if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
                return parse_digest(entry.get("digest"))
    except (ValueError, AttributeError, V2Error):
        return None
    return None
