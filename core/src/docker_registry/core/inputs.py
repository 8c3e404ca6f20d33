"""Client input turned into numbers, JSON documents and response headers, without 500s.

Python's own parsers have edges a client can reach. ``int()`` refuses more than 4,300
digits (ValueError) yet accepts ``" 7"``, ``"+7"``, ``"7_0"`` and non-ASCII digits such
as ``"٣"``, while ``str.isdigit()`` is true for ``"²"``, which ``int()`` refuses.
``json.loads`` raises RecursionError, not ValueError, on deeply nested arrays. Waitress
cannot send a header value outside Latin-1, and fails after the handler has returned.
The helpers here close those edges in one place; callers turn ``None``/``ValueError``/
``False`` into their API's own error.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: The largest number a client may send for a size, an offset or a count: what a signed
#: 64-bit integer holds, as in the Go registry (``strconv.ParseInt(s, 10, 64)``).
MAX_NUMBER = 2**63 - 1

_DIGITS = re.compile(r"[0-9]+")
#: RFC 9110 §5.5 field-value characters: visible ASCII, space, tab and obs-text (Latin-1).
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def parse_number(text: str | None) -> int | None:
    """The value of ``text`` when it is ASCII digits only and at most :data:`MAX_NUMBER`.

    Leading zeros are allowed (RFC 9110 ranges permit them).

    :returns: ``None`` for anything else: empty, a sign, spaces, underscores, non-ASCII
        digits, or a value past :data:`MAX_NUMBER` (however many digits it has).
    """
    if text is None or not _DIGITS.fullmatch(text):
        return None
    significant = text.lstrip("0") or "0"
    # NOTE: checking the length first keeps int() away from its 4,300-digit limit.
    if len(significant) > len(str(MAX_NUMBER)):
        return None
    value = int(significant)
    return value if value <= MAX_NUMBER else None


def loads_json(data: bytes | str) -> Any:
    """``json.loads`` of client bytes, where nesting too deep to parse is a ValueError.

    :raises ValueError: not UTF-8 (``UnicodeDecodeError``), not JSON, a number of more
        than 4,300 digits, or nested deeper than the interpreter's recursion allows.
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply to parse") from None


def is_header_safe(value: str) -> bool:
    """True when ``value`` can be sent as an HTTP header value as it is (RFC 9110 §5.5):
    no control character that would end the header, nothing outside Latin-1."""
    return _FIELD_VALUE.fullmatch(value) is not None


def excerpt(value: str, limit: int = 64) -> str:
    """``value`` quoted for an error message, cut short when a client sent a huge one."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"
