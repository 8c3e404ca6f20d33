"""The ``Range`` header of ``GET /v1/images/<id>/layer`` (spec R5, RFC 9110 §14).

One byte range is served; everything else is decided here, case by case:

* ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` (the unit is case-insensitive); a last
  position past the end is clamped, a suffix longer than the layer is the whole layer.
* Unsatisfiable (``a`` at or past the end, a zero suffix, any range of an empty layer) and
  invalid (``b`` < ``a``: spec R5 rejects it, RFC 9110 §14.2 allows that) are 416.
* Anything else (another unit, several ranges, words, signs, non-ASCII digits) is
  ignored: the whole layer is served, as 0.9.1 did and RFC 9110 §14.2 allows.

Positions are any number of ASCII digits (RFC 9110 ``1*DIGIT``). One past 2**63-1 is
larger than any layer, so it is carried as :data:`BEYOND_ANY_SIZE` instead of parsed:
a client's 5,000-digit number is decided like any other, without int()'s digit limit.
"""

from __future__ import annotations

import re

from ..inputs import MAX_NUMBER, parse_number
from .errors import RangeNotSatisfiable

#: Stands for a position too large to parse: past the end of every layer.
BEYOND_ANY_SIZE = MAX_NUMBER + 1

_SINGLE_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)


def _position(digits: str) -> int | None:
    if not digits:
        return None
    value = parse_number(digits)
    return BEYOND_ANY_SIZE if value is None else value


def parse_layer_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` bytes to send of a ``size``-byte layer.

    :returns: ``None`` to serve the whole layer (no header, or one that is ignored).
    :raises RangeNotSatisfiable: an unsatisfiable or invalid range (416, with
        ``Content-Range: bytes */<size>``).
    """
    if not header:
        return None
    match = _SINGLE_RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None or not (match.group(1) or match.group(2)):
        return None
    first, last = _position(match.group(1)), _position(match.group(2))
    unsatisfiable = RangeNotSatisfiable(
        "Requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"}
    )
    if first is None:
        assert last is not None
        if last == 0 or size == 0:
            raise unsatisfiable
        return max(0, size - last), size - 1
    if last is not None and last < first:
        raise unsatisfiable  # NOTE: invalid (spec R5); 0.9.1 answered 416 too
    if first >= size:
        raise unsatisfiable
    return first, size - 1 if last is None else min(last, size - 1)
