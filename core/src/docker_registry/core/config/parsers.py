"""Parsers of configuration values: each turns what YAML (or an environment variable)
gave into the typed value, or raises ``ValueError`` saying what is expected.

:class:`~.options.Option` declarations name them as their ``type``; the docs call each
by its name without the ``to_`` prefix (``seconds``, ``size``, ``count``...).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Mapping
from typing import Any

from ..inputs import parse_number

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

_BOOL_WORDS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def text(value: Any) -> str:
    """A string (a number is taken as its text)."""
    if isinstance(value, str):
        return value
    # NOTE: YAML reads `storage_path: 2024` as an int; a number is a fine string.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {_describe(value)}")


def lowercase(value: Any) -> str:
    """A string, stripped and lower-cased."""
    return text(value).strip().lower()


def endpoint(value: Any) -> str:
    """A URL or host, stripped, without a trailing ``/``."""
    return text(value).strip().rstrip("/")


def boolean(value: Any) -> bool:
    """``true``/``false`` (also ``yes``/``no``, ``on``/``off``, ``1``/``0``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    raise ValueError(f"expected a boolean (true or false), got {_describe(value)}")


def size(value: Any) -> int:
    """A positive whole number of bytes."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise ValueError(f"expected a whole number of bytes, got {_describe(value)}")
    if number <= 0:
        raise ValueError(f"expected a positive number of bytes, got {number}")
    return number


def seconds(value: Any) -> float:
    """A number of seconds, 0 or more."""
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value.strip())
    if number is None or not math.isfinite(number) or number < 0:
        raise ValueError(f"expected a number of seconds, 0 or more, got {_describe(value)}")
    return number


#: Waitress closes a connection that sent nothing for this long (server.py), and the
#: spool file of its body goes with it.
CHANNEL_TIMEOUT = 300
#: The smallest ``spool_sweep_age``: a file a live connection is still writing is always
#: younger than this, so no sweep can take it.
MIN_SPOOL_SWEEP_AGE = 2 * CHANNEL_TIMEOUT


def sweep_age(value: Any) -> float:
    """``0`` (never) or at least :data:`MIN_SPOOL_SWEEP_AGE` seconds."""
    age = seconds(value)
    if 0 < age < MIN_SPOOL_SWEEP_AGE:
        raise ValueError(
            f"expected 0 (never sweep) or at least {MIN_SPOOL_SWEEP_AGE} seconds (twice the "
            f"{CHANNEL_TIMEOUT} s after which an idle upload is dropped), got {value!r}"
        )
    return age


def count(value: Any) -> int:
    """A positive whole number."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        number = parse_number(value.strip())
    if number is None or number <= 0:
        raise ValueError(f"expected a positive whole number, got {_describe(value)}")
    return number


def loglevel(value: Any) -> str:
    """A Python logging level name, any case; returned lower-cased."""
    name = text(value).strip()
    levels = logging.getLevelNamesMapping()
    if name.upper() not in levels:
        raise ValueError(
            f"unknown log level {name!r} (use debug, info, warning, error or critical)"
        )
    return name.lower()


#: Values of ``log_format`` (see :mod:`..logs`).
LOG_FORMATS = ("text", "json")


def log_format(value: Any) -> str:
    """``text`` or ``json``, any case."""
    name = lowercase(value)
    if name not in LOG_FORMATS:
        raise ValueError(f"unknown log format {value!r} (use {' or '.join(LOG_FORMATS)})")
    return name


#: Proxy headers waitress can trust (``trusted_proxy_headers``).
PROXY_HEADERS = (
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-for",
    "x-forwarded-by",
    "forwarded",
)


def proxy_headers(value: Any) -> list[str]:
    """A list (or comma-separated string) of :data:`PROXY_HEADERS`."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"expected a list of header names, got {_describe(value)}")
    names = [item.strip().lower() for item in items if item.strip()]
    bad = sorted(set(names) - set(PROXY_HEADERS))
    if bad:
        raise ValueError(
            f"unknown proxy header(s) {', '.join(bad)} (use {', '.join(PROXY_HEADERS)})"
        )
    if "forwarded" in names and len(names) > 1:
        raise ValueError("'forwarded' cannot be trusted together with x-forwarded-* headers")
    return names


def mapping(value: Any) -> dict[str, Any]:
    """A section: a mapping of keys."""
    if isinstance(value, Mapping):
        return dict(value)
    raise ValueError(f"expected a mapping of keys, got {_describe(value)}")


def positive_seconds(value: Any) -> float:
    """A number of seconds greater than 0."""
    number = seconds(value)
    if number <= 0:
        raise ValueError(f"expected positive seconds, got {value!r}")
    return number


def http_url(value: Any) -> str:
    """An ``http://`` or ``https://`` URL with a host, without a trailing ``/``."""
    from urllib.parse import urlsplit

    url = endpoint(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return url


def checked_by_section(value: Any) -> Any:
    """Any value: the code that reads the section checks it (and ``config check`` runs
    that code), because its forms do not fit one type (``cors.origins`` is ``'*'`` or a
    list, ``email_exceptions.smtp_secure`` a boolean, a path or a mapping)."""
    return value


def integer(value: Any) -> int:
    """A whole number (also written as a string of digits, as an environment gives it)."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text_value = value.strip()
        sign = -1 if text_value.startswith("-") else 1
        parsed = parse_number(text_value.lstrip("-"))
        number = None if parsed is None else sign * parsed
    if number is None:
        raise ValueError(f"expected a whole number, got {_describe(value)}")
    return number
