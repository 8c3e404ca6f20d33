"""The keys registry-plugin-redis reads: three sections naming a Redis server.

``cache_lru`` (the cache of small files), ``cache`` (the v1 diff queue) and
``coordination`` (with ``backend: redis``) take the same server keys; each is declared
here once per section, and :func:`.cache.create_client` reads them through these
declarations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from docker_registry.core.config.options import Option
from docker_registry.core.config.parsers import integer, positive_seconds, seconds, text
from docker_registry.core.coordination import DEFAULT_LOCK_TTL
from docker_registry.core.hookspecs import hookimpl

#: Seconds to wait for a connection or an answer: a cache must never slow requests down.
DEFAULT_TIMEOUT = 0.5
#: Seconds a shared blob descriptor lives in Redis.
DEFAULT_DESCRIPTOR_TTL = 600.0

#: The section's role, for the help of its keys.
SECTIONS = {
    "cache_lru": "the LRU cache of small files",
    "cache": "the v1 diff queue",
    "coordination": "`backend: redis` coordination",
}


def server_options(section: str) -> dict[str, Option]:
    """The server keys of ``section``, by their name inside it."""
    role = SECTIONS[section]
    return {
        option.name.rsplit(".", 1)[1]: option
        for option in (
            Option(
                f"{section}.url",
                text,
                secret=False,
                help=f"Redis URL of {role} (`redis://:password@host:6379/0`, `rediss://` for "
                "TLS) instead of `host`/`port`/`db`/`password` (the password is masked by "
                "`config show`)",
            ),
            Option(f"{section}.host", text, help=f"Redis host of {role}; on when set"),
            Option(f"{section}.port", integer, 6379, min=1, max=65535, help="its port"),
            Option(f"{section}.db", integer, 0, min=0, help="database number"),
            Option(f"{section}.password", text, secret=True, help="its password"),
            Option(
                f"{section}.timeout",
                positive_seconds,
                DEFAULT_TIMEOUT,
                help="seconds to connect and to wait for an answer; a slow or dead cache is "
                "skipped (a warning), storage answers",
            ),
        )
    }


CACHE_LRU = server_options("cache_lru")
CACHE = server_options("cache")
COORDINATION = server_options("coordination")
LOCK_TTL = Option(
    "coordination.lock_ttl",
    float,
    DEFAULT_LOCK_TTL,
    min=1,
    help="(`redis`): seconds a lock outlives a holder that died (a live holder renews it "
    "every third of this)",
)

DESCRIPTOR_TTL = Option(
    "coordination.descriptor_ttl",
    seconds,
    DEFAULT_DESCRIPTOR_TTL,
    help="(`redis`): seconds a blob size or repository link that one process asked of "
    "storage stays in Redis for every other process (a cold worker, a new host) to use "
    "instead of asking storage; removals end them at once, and this bounds what a removal "
    "that could not reach Redis leaves; `0` shares none",
)

BY_SECTION = {"cache_lru": CACHE_LRU, "cache": CACHE, "coordination": COORDINATION}


def section_value(section: str, name: str, values: Mapping[str, Any]) -> Any:
    """The typed value of key ``name`` of ``section`` in the section's ``values``.

    :raises ConfigError: naming the dotted key.
    """
    return BY_SECTION[section][name].value_of(values.get(name))


@hookimpl
def registry_options() -> Iterable[Option]:
    for options in BY_SECTION.values():
        yield from options.values()
    yield LOCK_TTL
    yield DESCRIPTOR_TTL
