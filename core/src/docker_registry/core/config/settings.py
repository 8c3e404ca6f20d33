"""Typed, validated settings built from the effective configuration mapping.

The loader (:mod:`.loader`) turns a YAML file into one flat-ish mapping; :class:`Settings`
checks the keys the core itself reads, gives them their types and defaults, and keeps
every other key untouched for drivers and plugins, which validate their own options.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..inputs import parse_number
from .errors import ConfigError

logger = logging.getLogger(__name__)

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

#: Substrings of a key name (lower-cased) whose value :meth:`Settings.masked` hides.
SECRET_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "secret",
    "accesskey",
    "access_key",
    "account_key",
    "api_key",
    "apikey",
    "license_key",
    "private_key",
    # NOTE: HTTP header names, as in `notifications.endpoints[].headers`.
    "api-key",
    "-token",
)

#: Whole key names that hold a secret without saying so (``bugsnag`` is an API key).
SECRET_NAMES: frozenset[str] = frozenset(
    {"bugsnag", "token", "authorization", "proxy-authorization", "cookie"}
)

MASK = "***"

# NOTE: catches the password of ``scheme://user:password@host`` URLs, e.g. an
# ``sqlalchemy_index_database`` or a Redis URL, under keys that do not look secret.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*:)[^/@\s]+@")

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


def is_secret_key(name: str) -> bool:
    """Tell whether the value of the key called ``name`` must never be shown.

    ``token`` counts only as a whole name or a ``_token`` suffix, so that
    ``disable_token_auth`` stays readable.

    :param name: a key name (the last part of a dotted key).
    """
    lowered = name.lower()
    return (
        lowered in SECRET_NAMES
        or lowered.endswith("_token")
        or any(part in lowered for part in SECRET_KEYS)
    )


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    # NOTE: YAML reads `storage_path: 2024` as an int; a number is a fine string.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {_describe(value)}")


def _to_lower_str(value: Any) -> str:
    return _to_str(value).strip().lower()


def _to_endpoint(value: Any) -> str:
    return _to_str(value).strip().rstrip("/")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    raise ValueError(f"expected a boolean (true or false), got {_describe(value)}")


def _to_size(value: Any) -> int:
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


def _to_seconds(value: Any) -> float:
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


def _to_sweep_age(value: Any) -> float:
    age = _to_seconds(value)
    if 0 < age < MIN_SPOOL_SWEEP_AGE:
        raise ValueError(
            f"expected 0 (never sweep) or at least {MIN_SPOOL_SWEEP_AGE} seconds (twice the "
            f"{CHANNEL_TIMEOUT} s after which an idle upload is dropped), got {value!r}"
        )
    return age


def _to_count(value: Any) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        number = parse_number(value.strip())
    if number is None or number <= 0:
        raise ValueError(f"expected a positive whole number, got {_describe(value)}")
    return number


def _to_loglevel(value: Any) -> str:
    name = _to_str(value).strip()
    levels = logging.getLevelNamesMapping()
    if name.upper() not in levels:
        raise ValueError(
            f"unknown log level {name!r} (use debug, info, warning, error or critical)"
        )
    return name.lower()


#: Values of ``log_format`` (see :mod:`..logs`).
LOG_FORMATS = ("text", "json")


def _to_log_format(value: Any) -> str:
    name = _to_lower_str(value)
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


def _to_proxy_headers(value: Any) -> list[str]:
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


def _to_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise ValueError(f"expected a mapping of keys, got {_describe(value)}")


#: ``key -> (converter, default)`` for every key the core itself reads. A value that is
#: absent, null or the empty string takes the default.
KNOWN_KEYS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "storage": (_to_lower_str, "file"),
    "storage_path": (_to_str, None),
    "loglevel": (_to_loglevel, "info"),
    "log_level": (_to_loglevel, None),
    "log_format": (_to_log_format, "text"),
    "debug": (_to_bool, False),
    "standalone": (_to_bool, True),
    "issue": (_to_str, '"docker-registry server"'),
    "index_endpoint": (_to_endpoint, "https://index.docker.io"),
    "disable_token_auth": (_to_bool, False),
    "storage_redirect": (_to_bool, False),
    "privileged_key": (_to_str, None),
    "search_backend": (_to_lower_str, None),
    "delete_enabled": (_to_bool, False),
    "max_json_body_size": (_to_size, 1 * MiB),
    "max_manifest_size": (_to_size, 4 * MiB),
    "max_request_body_size": (_to_size, 64 * GiB),
    "trusted_proxy": (_to_str, None),
    # NOTE: x-forwarded-for by default: failed logins are rate-limited per client address,
    # which behind a proxy only X-Forwarded-For carries (believed from trusted_proxy only).
    "trusted_proxy_headers": (_to_proxy_headers, ["x-forwarded-proto", "x-forwarded-for"]),
    "trusted_proxy_count": (_to_count, 1),
    "spool_sweep_age": (_to_sweep_age, 3600.0),
    "spool_sweep_interval": (_to_seconds, 600.0),
    "v2_max_tags_per_push": (_to_count, 100),
    "upload_purge_age": (_to_seconds, 7 * 24 * 3600.0),
    "upload_purge_interval": (_to_seconds, 3600.0),
    "v2_tag_cache_ttl": (_to_seconds, 1.0),
    "registry_endpoints": (_to_str, None),
    "mirroring": (_to_mapping, None),
    "cache": (_to_mapping, None),
    "cache_lru": (_to_mapping, None),
    # NOTE: operations (docs/operations.md); checked further in ops/.
    "metrics": (_to_mapping, None),
    "readonly": (_to_bool, False),
    "shutdown_timeout": (_to_seconds, 30.0),
    "notifications": (_to_mapping, None),
}


def _validate(values: dict[str, Any]) -> None:
    """Replace each known key of ``values`` by its typed value or default, in place.

    :raises ConfigError: naming the key whose value has the wrong type.
    """
    for name, (convert, default) in KNOWN_KEYS.items():
        raw = values.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            values[name] = default
            continue
        try:
            converted = convert(raw)
        except ValueError as exc:
            raise ConfigError(str(exc), key=name) from None
        # NOTE: `search_backend: "  "` or `index_endpoint: "/"` normalise to nothing.
        values[name] = default if converted == "" else converted
    unknown = sorted(str(key) for key in values if key not in KNOWN_KEYS)
    if unknown:
        logger.debug("configuration keys left to drivers and plugins: %s", ", ".join(unknown))


def _mask(node: Any, secret_names: frozenset[str], *, secret: bool = False) -> Any:
    if isinstance(node, Mapping):
        return {
            key: _mask(
                value,
                secret_names,
                secret=secret or is_secret_key(str(key)) or str(key) in secret_names,
            )
            for key, value in node.items()
        }
    if node is None or node == "":
        # NOTE: an unset secret is shown as unset: "is my password configured?" is the
        # question people ask `config show`.
        return node
    if secret:
        return MASK
    if isinstance(node, list):
        return [_mask(item, secret_names) for item in node]
    if isinstance(node, str):
        return _URL_PASSWORD.sub(lambda match: f"{match['head']}{MASK}@", node)
    return copy.deepcopy(node)


class Settings:
    """The effective configuration: typed core keys plus every key of the file.

    Known keys are attributes (``settings.storage``, ``settings.max_json_body_size``);
    any key, known or not, is readable by item or dotted name
    (``settings["cache_lru"]``, ``settings.get("cache_lru.host")``).

    :param values: the effective mapping (after flavor merge, ``_env:`` substitution and
        environment overrides). It is copied; known keys are replaced by their typed
        value or default.
    :param flavor: the flavor the values come from (``""`` when the whole file is the
        configuration).
    :param source: the file the values were read from, ``None`` when built in code.
    :raises ConfigError: a known key has a value of the wrong type.
    """

    flavor: str
    source: str | None
    values: dict[str, Any]

    storage: str
    storage_path: str | None
    loglevel: str
    log_format: str
    debug: bool
    standalone: bool
    issue: str | None
    index_endpoint: str | None
    disable_token_auth: bool
    storage_redirect: bool
    privileged_key: str | None
    search_backend: str | None
    delete_enabled: bool
    max_json_body_size: int
    max_manifest_size: int
    max_request_body_size: int
    trusted_proxy: str | None
    trusted_proxy_headers: list[str]
    trusted_proxy_count: int
    spool_sweep_age: float
    spool_sweep_interval: float
    v2_max_tags_per_push: int
    registry_endpoints: str | None
    mirroring: dict[str, Any] | None
    cache: dict[str, Any] | None
    cache_lru: dict[str, Any] | None

    def __init__(
        self, values: Mapping[str, Any], *, flavor: str = "", source: str | None = None
    ) -> None:
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"the configuration must be a mapping of keys, got {type(values).__name__}"
            ).located(flavor=flavor or None, file=source)
        self.flavor = flavor
        self.source = source
        self.values = copy.deepcopy(dict(values))
        try:
            _validate(self.values)
        except ConfigError as exc:
            raise exc.located(flavor=flavor or None, file=source) from None
        v = self.values
        self.storage = v["storage"]
        self.storage_path = v["storage_path"]
        # NOTE: `log_level` is the new spelling; the seed's `loglevel` still works.
        self.loglevel = v["log_level"] or v["loglevel"]
        self.log_format = v["log_format"]
        self.debug = v["debug"]
        self.standalone = v["standalone"]
        self.issue = v["issue"]
        self.index_endpoint = v["index_endpoint"]
        self.disable_token_auth = v["disable_token_auth"]
        self.storage_redirect = v["storage_redirect"]
        self.privileged_key = v["privileged_key"]
        self.search_backend = v["search_backend"]
        self.delete_enabled = v["delete_enabled"]
        self.max_json_body_size = v["max_json_body_size"]
        self.max_manifest_size = v["max_manifest_size"]
        self.max_request_body_size = v["max_request_body_size"]
        self.trusted_proxy = v["trusted_proxy"]
        self.trusted_proxy_headers = v["trusted_proxy_headers"]
        self.trusted_proxy_count = v["trusted_proxy_count"]
        self.spool_sweep_age = v["spool_sweep_age"]
        self.spool_sweep_interval = v["spool_sweep_interval"]
        self.v2_max_tags_per_push = v["v2_max_tags_per_push"]
        self.registry_endpoints = v["registry_endpoints"]
        self.mirroring = v["mirroring"]
        self.cache = v["cache"]
        self.cache_lru = v["cache_lru"]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], flavor: str = "test") -> Settings:
        """Build settings from a mapping written in code (tests), validated like a file.

        No ``_env:`` substitution and no environment overrides are applied.

        :param values: configuration keys; missing known keys take their defaults.
        :param flavor: the flavor name to report.
        :raises ConfigError: a known key has a value of the wrong type.
        """
        return cls(values, flavor=flavor, source=None)

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value at ``key`` (dotted for nested keys), or ``default`` if absent.

        A key that is present with a null value returns ``None``, as ``dict.get`` does.

        :param key: ``storage_path`` or ``cache_lru.host``.
        :param default: returned when the key, or a mapping on its way, is absent.
        """
        try:
            return self[key]
        except KeyError:
            return default

    def __getitem__(self, key: str) -> Any:
        """Return the value at ``key`` (dotted for nested keys).

        :raises KeyError: the key is absent.
        """
        if key in self.values:
            return self.values[key]
        node: Any = self.values
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise KeyError(key)
            node = node[part]
        return node

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self[key]
        except KeyError:
            return False
        return True

    def masked(self, extra: Iterable[str] = ()) -> dict[str, Any]:
        """Return a deep copy of :attr:`values` with every secret replaced by ``"***"``.

        A key is secret when :func:`is_secret_key` says so or when it is named in
        ``extra``; the whole value under a secret key is hidden, and passwords inside
        ``scheme://user:password@host`` URLs are hidden everywhere. Unset (null or empty)
        secrets are left as they are.

        :param extra: more key names to hide, e.g. driver options declared ``secret``.
        """
        masked: dict[str, Any] = _mask(self.values, frozenset(extra))
        return masked

    def __repr__(self) -> str:
        return f"Settings(flavor={self.flavor!r}, source={self.source!r})"
