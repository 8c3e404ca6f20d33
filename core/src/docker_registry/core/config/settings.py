"""Typed, validated settings built from the effective configuration mapping.

The loader (:mod:`.loader`) turns a YAML file into one flat-ish mapping; :class:`Settings`
types the top-level keys the core distribution declares (:mod:`.keys`), applies their
defaults, and keeps every other key untouched for drivers and plugins; their values are
typed by their own :class:`~.options.Option` declarations (``OPTION.read(settings)``),
and ``docker-registry config check`` validates them all (:mod:`.check`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigError, ConfigErrors
from .keys import CORE_DISTRIBUTION_OPTIONS
from .options import Option
from .parsers import CHANNEL_TIMEOUT, MIN_SPOOL_SWEEP_AGE, GiB, KiB, MiB

__all__ = [
    "CHANNEL_TIMEOUT",
    "CORE_OPTIONS",
    "MIN_SPOOL_SWEEP_AGE",
    "GiB",
    "KiB",
    "MiB",
    "Settings",
    "is_secret_key",
]

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


#: The keys :class:`Settings` types: every top-level key the core distribution declares.
CORE_OPTIONS: dict[str, Option] = {
    option.name: option for option in CORE_DISTRIBUTION_OPTIONS if "." not in option.name
}


def _validate(values: dict[str, Any]) -> None:
    """Replace each core key of ``values`` by its typed value or default, in place.

    A value that is absent, null or blank takes the default, and so does one that
    normalises to nothing (`search_backend: "  "`, `index_endpoint: "/"`).

    :raises ConfigError: naming the key whose value has the wrong type;
        :class:`~.errors.ConfigErrors` when several are wrong.
    """
    problems: list[ConfigError] = []
    for name, option in CORE_OPTIONS.items():
        try:
            converted = option.value_of(values.get(name))
        except ConfigError as exc:
            problems.append(exc)
            continue
        values[name] = option.default if converted == "" else converted
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ConfigErrors(problems)


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

    Top-level core keys are attributes (``settings.storage``, ``settings.max_json_body_size``);
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

    # NOTE: the types of the attributes set from CORE_OPTIONS, for the type checker.
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
        for name in CORE_OPTIONS:
            setattr(self, name, self.values[name])
        # NOTE: `log_level` is the new spelling; the seed's `loglevel` still works.
        self.loglevel = self.values["log_level"] or self.values["loglevel"]

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
