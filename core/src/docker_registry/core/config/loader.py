"""Read the YAML configuration: file, flavor, ``_env:`` values and environment overrides.

The effective configuration is built in this order, each step winning over the one
before::

    file      DOCKER_REGISTRY_CONFIG, else the packaged default_config.yml
    flavor    `common` deep-merged under the flavor named by SETTINGS_FLAVOR (`dev`)
    _env:     `_env:VAR[:DEFAULT]` string values replaced by the YAML-typed variable
    REGISTRY_ REGISTRY_<KEY>[__<SUBKEY>...] environment variables, YAML-typed
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .settings import Settings, is_secret_key

logger = logging.getLogger(__name__)

CONFIG_ENV = "DOCKER_REGISTRY_CONFIG"
FLAVOR_ENV = "SETTINGS_FLAVOR"
DEFAULT_FLAVOR = "dev"
COMMON_FLAVOR = "common"
ENV_PREFIX = "_env:"
OVERRIDE_PREFIX = "REGISTRY_"
#: Separator of nested keys in override names: ``REGISTRY_CACHE_LRU__HOST``.
OVERRIDE_NESTING = "__"
#: Server knobs read by ``docker-registry serve``; they are not configuration keys.
RESERVED_OVERRIDES: frozenset[str] = frozenset(
    {"REGISTRY_HOST", "REGISTRY_PORT", "REGISTRY_THREADS"}
)
#: Prefixes of variables left to test suites (emulator addresses and the like).
RESERVED_OVERRIDE_PREFIXES: tuple[str, ...] = ("REGISTRY_TEST_",)

DEFAULT_CONFIG_NAME = "default_config.yml"


def default_config_path() -> Path:
    """Return the path of the packaged ``default_config.yml`` (flavors ``common``, ``dev``)."""
    return Path(__file__).with_name(DEFAULT_CONFIG_NAME)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    flavor: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load, merge, substitute, override and validate the configuration.

    :param path: the YAML file; ``None`` reads ``DOCKER_REGISTRY_CONFIG`` (a relative
        value is resolved against the current directory), else the packaged default.
    :param flavor: the flavor to use; ``None`` reads ``SETTINGS_FLAVOR``, else ``dev``.
        The empty string makes the whole file the configuration.
    :param environ: the environment to read; ``None`` means :data:`os.environ`.
    :returns: validated :class:`Settings`.
    :raises ConfigError: naming the file, flavor and key at fault.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    chosen = (env.get(FLAVOR_ENV, DEFAULT_FLAVOR) if flavor is None else flavor).strip()
    file, from_env = _choose_file(path, env)
    source = os.fspath(file)
    try:
        document = _read_yaml(file, from_env=from_env)
        values = _select_flavor(document, chosen, is_default=path is None and not from_env)
        values = _substitute(values, env, prefix="")
        _apply_overrides(values, env)
        return Settings(values, flavor=chosen, source=source)
    except ConfigError as exc:
        raise exc.located(flavor=chosen or None, file=source) from None


def _choose_file(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> tuple[Path, bool]:
    """Return the file to read and whether it was named by ``DOCKER_REGISTRY_CONFIG``."""
    if path is not None:
        return Path(path).expanduser(), False
    named = env.get(CONFIG_ENV, "").strip()
    if named:
        # NOTE: the seed resolved a relative value against its source tree's config/
        # folder, which an installed wheel does not have; the current directory is the
        # only base a user can predict.
        return Path(named).expanduser(), True
    return default_config_path(), False


def _read_yaml(file: Path, *, from_env: bool) -> dict[Any, Any]:
    """Parse ``file`` and return its top-level mapping (empty for an empty file).

    :raises ConfigError: the file is missing, unreadable, not YAML or not a mapping.
    """
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        hint = ""
        if from_env:
            hint = f" (named by {CONFIG_ENV}"
            if not file.is_absolute():
                hint += f"; relative to the current directory {os.getcwd()}"
            hint += ")"
        raise ConfigError(f"configuration file is missing{hint}") from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a configuration file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file: {exc.strerror or exc}") from None
    try:
        # NOTE: bytes, so that PyYAML detects the encoding and skips a BOM.
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(exc)) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(
            "the top level must be a mapping of flavors (or of keys when "
            f"{FLAVOR_ENV} is empty), got {_type_name(document)}"
        )
    return document


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    if context:
        problem = f"{problem} ({context})"
    if mark is not None:
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"invalid YAML: {problem}"


def _type_name(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), type(value).__name__)


def _select_flavor(document: dict[Any, Any], flavor: str, *, is_default: bool) -> dict[str, Any]:
    """Return the flavor's mapping with ``common`` deep-merged under it.

    :raises ConfigError: the flavor (or ``common``) is absent or not a mapping.
    """
    if not flavor:
        return dict(document)
    if flavor not in document:
        names = (
            ", ".join(
                str(name) for name, value in document.items() if isinstance(value, dict | None)
            )
            or "none"
        )
        hint = ""
        if is_default:
            hint = f"; set {CONFIG_ENV} to a copy of config/config_sample.yml for the other flavors"
        raise ConfigError(f"no such flavor in this file (flavors: {names}){hint}")
    values = _flavor_mapping(document, flavor)
    if flavor != COMMON_FLAVOR and COMMON_FLAVOR in document:
        values = _deep_merge(_flavor_mapping(document, COMMON_FLAVOR), values)
    return values


def _flavor_mapping(document: dict[Any, Any], name: str) -> dict[str, Any]:
    value = document[name]
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"flavor '{name}' must be a mapping of keys, got {_type_name(value)}")
    return value


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated by ``over``, merging nested mappings key by key."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = _deep_merge(below, value)
        else:
            merged[key] = value
    return merged


def expand_env_value(value: str, environ: Mapping[str, str], *, key: str | None = None) -> Any:
    """Resolve one ``_env:VAR[:DEFAULT]`` string; any other string is returned unchanged.

    The value of ``VAR`` (or ``DEFAULT``, or the empty string) is parsed as YAML, so
    ``true`` is a bool, ``172800`` an int, ``[a, b]`` a list and the empty string None.
    Only the first two colons split: ``_env:URL:http://host:80`` defaults to the URL.

    :param value: a string leaf of the configuration.
    :param environ: the environment to read.
    :param key: the dotted key being resolved, for the error message.
    :raises ConfigError: the text is not valid YAML (``*`` must be written ``'"*"'``).
    """
    if not value.startswith(ENV_PREFIX):
        return value
    _, name, *rest = value.split(":", 2)
    if not name:
        raise ConfigError(f"no variable name in {value!r} (write _env:NAME[:DEFAULT])", key=key)
    secret = key is not None and is_secret_key(key.rsplit(".", 1)[-1])
    if name in environ:
        return _parse_yaml_value(environ[name], key=key, variable=name, secret=secret)
    return _parse_yaml_value(rest[0] if rest else "", key=key, default_of=name, secret=secret)


def _parse_yaml_value(
    text: str,
    *,
    key: str | None,
    secret: bool,
    variable: str | None = None,
    default_of: str | None = None,
) -> Any:
    """Parse ``text`` as YAML, the value of ``variable`` or the default of ``default_of``.

    :raises ConfigError: with a hint on quoting; a secret value is never echoed.
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = (getattr(exc, "problem", None) or "syntax error").replace("'\\x00'", "the end")
        # NOTE: the problem quotes pieces of the text too.
        problem, shown = ("syntax error", "...") if secret else (problem, text)
        if variable is not None:
            detail = (
                f"environment variable {variable} is not valid YAML ({problem}); quote a "
                f"literal string: {variable}='\"{shown}\"'"
            )
        else:
            detail = (
                f"the default of {default_of} is not valid YAML ({problem}); quote it in the file"
            )
        raise ConfigError(detail, key=key) from None


def _substitute(
    node: Mapping[Any, Any], environ: Mapping[str, str], *, prefix: str
) -> dict[Any, Any]:
    """Return a copy of ``node`` with its ``_env:`` string leaves resolved.

    Items of lists are left alone, as in the seed.
    """
    result: dict[Any, Any] = {}
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            result[key] = _substitute(value, environ, prefix=f"{dotted}.")
        elif isinstance(value, str):
            result[key] = expand_env_value(value, environ, key=dotted)
        elif isinstance(value, list):
            result[key] = list(value)
        else:
            result[key] = value
    return result


def _apply_overrides(values: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Set each key named by a ``REGISTRY_<KEY>[__<SUBKEY>]`` variable, in place.

    :raises ConfigError: a value is not valid YAML, or a key on the way is not a mapping.
    """
    # NOTE: sorted, so `REGISTRY_CACHE_LRU` (a whole mapping) lands before
    # `REGISTRY_CACHE_LRU__HOST` refines it.
    for name in sorted(environ):
        if not name.startswith(OVERRIDE_PREFIX) or _is_reserved(name):
            continue
        parts = [part.lower() for part in name[len(OVERRIDE_PREFIX) :].split(OVERRIDE_NESTING)]
        if not all(parts):
            logger.debug("ignoring %s: empty key name", name)
            continue
        dotted = ".".join(parts)
        value = _parse_yaml_value(
            environ[name], key=dotted, variable=name, secret=is_secret_key(parts[-1])
        )
        node = values
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(
                    f"cannot apply {name}: '{'.'.join(parts[: depth + 1])}' is "
                    f"{_type_name(child)}, not a mapping",
                    key=dotted,
                )
            node = child
        node[parts[-1]] = value
        logger.debug("configuration key %s set from %s", dotted, name)


def _is_reserved(name: str) -> bool:
    return name in RESERVED_OVERRIDES or name.startswith(RESERVED_OVERRIDE_PREFIXES)
