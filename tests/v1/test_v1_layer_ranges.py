"""The whole ``Range`` grammar of ``GET /v1/images/<id>/layer`` (spec R5), case by case.

One table, decided per the spec and RFC 9110 §14:

* ``bytes=a-b``, ``bytes=a-``, ``bytes=-n`` are the three single range forms; ``b`` past the
  end is clamped, a suffix longer than the layer is the whole layer (206 either way).
* Satisfiable only when ``a`` < size (a suffix: ``n`` > 0 and a non-empty layer); else
  416 with ``Content-Range: bytes */size`` (RFC 9110 §14.1.1).
* ``a-b`` with ``b`` < ``a`` is an *invalid* range: 416 (spec R5; RFC 9110 §14.2 lets a
  server reject it). 0.9.1 also rejected one-byte ranges: fixed (Q6).
* Numbers are any count of ASCII digits (RFC 9110 ``1*DIGIT``): one past 2**63-1 is
  simply larger than any layer, so it is decided like any other number, never a 5xx.
* Anything else is ignored and the whole layer is served (200): another unit, several
  ranges, words, signs, non-ASCII digits (spec R5 "ignored"; RFC 9110 §14.2 MAY ignore).
"""

from __future__ import annotations

import pytest
import requests
from v1client import Image, V1Client

SIZE = 100
LAYER = bytes(range(SIZE))
#: 5,000 digits: past Python's int() limit and far past 2**63-1.
HUGE = "9" * 5000
PAST_63_BITS = str(2**63)

WHOLE = (200, 0, SIZE - 1)
UNSATISFIABLE = (416, None, None)

#: header -> (status, first byte, last byte) of the answer for a 100-byte layer.
CASES: dict[str | None, tuple[int, int | None, int | None]] = {
    # no range at all
    None: WHOLE,
    "": WHOLE,
    # bytes=a-b
    "bytes=0-9": (206, 0, 9),
    "bytes=10-19": (206, 10, 19),
    "bytes=0-0": (206, 0, 0),  # one byte (0.9.1: 416, fixed per Q6)
    "bytes=99-99": (206, 99, 99),
    "bytes=0-99": (206, 0, 99),
    "bytes=5-1000": (206, 5, 99),  # last past the end: clamped
    "bytes=007-009": (206, 7, 9),  # leading zeros are digits too
    f"bytes=0-{PAST_63_BITS}": (206, 0, 99),
    f"bytes=0-{HUGE}": (206, 0, 99),
    "bytes=50-10": UNSATISFIABLE,  # invalid: last < first (spec R5, issue 15 §3)
    "bytes=1-0": UNSATISFIABLE,
    f"bytes={HUGE}-10": UNSATISFIABLE,
    "bytes=100-199": UNSATISFIABLE,  # starts at the end
    f"bytes={PAST_63_BITS}-{HUGE}": UNSATISFIABLE,
    # bytes=a-
    "bytes=0-": (206, 0, 99),
    "bytes=90-": (206, 90, 99),  # 0.9.1 advertised one byte too many ([BUG])
    "bytes=99-": (206, 99, 99),
    "bytes=100-": UNSATISFIABLE,
    f"bytes={PAST_63_BITS}-": UNSATISFIABLE,
    f"bytes={HUGE}-": UNSATISFIABLE,
    # bytes=-n (0.9.1 ignored suffixes; RFC 9110 serves the last n bytes)
    "bytes=-10": (206, 90, 99),
    "bytes=-100": (206, 0, 99),
    "bytes=-1000": (206, 0, 99),
    f"bytes=-{HUGE}": (206, 0, 99),
    "bytes=-0": UNSATISFIABLE,  # a zero-length suffix selects nothing
    # the unit is case-insensitive (RFC 9110 §14.1); blanks around the range are tolerated
    "Bytes=0-9": (206, 0, 9),
    "BYTES=0-9": (206, 0, 9),
    "bytes= 0-9": (206, 0, 9),
    # ignored: the whole layer
    "bytes=0-1,5-6": WHOLE,  # several ranges
    "bytes=-": WHOLE,
    "bytes=": WHOLE,
    "bytes=a-b": WHOLE,
    "bytes=+1-5": WHOLE,
    "bytes=1--5": WHOLE,
    "bytes=1.5-2": WHOLE,
    "bytes=\u0663-": WHOLE,  # ARABIC-INDIC DIGIT THREE is not an ASCII digit
    "bytes 0-9": WHOLE,
    "items=0-9": WHOLE,  # another unit
    "0-9": WHOLE,
}


@pytest.fixture
def layer_urls(registry) -> tuple[str, str]:
    """URLs of a pushed 100-byte layer and of a pushed empty one."""
    image = Image.create(layer=LAYER)
    V1Client(registry.url).push("ranges/app", [image], {"latest": image.id})
    empty = Image.create(layer=b"")
    V1Client(registry.url).push("ranges/empty", [empty], {"latest": empty.id})
    return (
        f"{registry.url}/v1/images/{image.id}/layer",
        f"{registry.url}/v1/images/{empty.id}/layer",
    )


def test_layer_range_grammar(layer_urls):
    url, empty_url = layer_urls
    failures = []
    for header, (status, first, last) in CASES.items():
        # NOTE: bytes, so that a non-Latin-1 header reaches the server as UTF-8.
        headers = {} if header is None else {"Range": header.encode()}
        for method in ("GET", "HEAD"):
            response = requests.request(method, url, headers=headers)
            label = f"{method} Range: {header[:40] if header else header!r}"
            got = response.status_code
            if got != status:
                failures.append(f"{label}: {got}, expected {status}")
                continue
            if status == 416:
                if response.headers.get("Content-Range") != f"bytes */{SIZE}":
                    failures.append(
                        f"{label}: Content-Range {response.headers.get('Content-Range')}"
                    )
                continue
            assert first is not None and last is not None
            if response.headers.get("Content-Length") != str(last - first + 1):
                failures.append(f"{label}: Content-Length {response.headers.get('Content-Length')}")
            if status == 206 and response.headers.get("Content-Range") != (
                f"bytes {first}-{last}/{SIZE}"
            ):
                failures.append(f"{label}: Content-Range {response.headers.get('Content-Range')}")
            if method == "GET" and response.content != LAYER[first : last + 1]:
                failures.append(f"{label}: body of {len(response.content)} bytes")
    # A zero-length layer: served whole (0.9.1: 416, fixed per Q6); no range fits in it.
    for header, status in {None: 200, "bytes=0-": 416, "bytes=0-0": 416, "bytes=-1": 416}.items():
        response = requests.get(empty_url, headers={} if header is None else {"Range": header})
        if response.status_code != status:
            failures.append(f"empty layer, Range: {header}: {response.status_code}")
        elif status == 416 and response.headers.get("Content-Range") != "bytes */0":
            failures.append(
                f"empty layer, Range: {header}: {response.headers.get('Content-Range')}"
            )
    assert not failures, "\n".join(failures)
