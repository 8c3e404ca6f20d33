"""The registry's configuration: YAML flavors, ``_env:`` values, overrides, typed settings.

::

    from docker_registry.core.config import load_settings

    settings = load_settings()          # DOCKER_REGISTRY_CONFIG / SETTINGS_FLAVOR
    settings.storage, settings.get("cache_lru.host"), settings.masked()

See ``docs/configuration.md`` for the keys and the order in which sources win.
"""

from .errors import ConfigError, ConfigErrors, StartupError
from .loader import default_config_path, expand_env_value, load_settings
from .settings import SECRET_KEYS, Settings, is_secret_key

__all__ = [
    "SECRET_KEYS",
    "ConfigError",
    "ConfigErrors",
    "Settings",
    "StartupError",
    "default_config_path",
    "expand_env_value",
    "is_secret_key",
    "load_settings",
]
