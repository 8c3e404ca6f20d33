"""The keys of the ``ui`` section, declared through ``registry_options``."""

from __future__ import annotations

from collections.abc import Iterable

from docker_registry.core.config.options import Option
from docker_registry.core.config.parsers import boolean, checked_by_section, integer, mapping
from docker_registry.core.hookspecs import hookimpl

DEFAULT_PREFIX = "/ui"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

UI = Option("ui", mapping, help="the web UI's section (registry-plugin-ui, see [ui.md](ui.md))")
ENABLED = Option("ui.enabled", boolean, True, help="mount the pages")
PREFIX = Option(
    "ui.prefix",
    checked_by_section,
    DEFAULT_PREFIX,
    help="where the pages live (letters, digits, `-`, `_`; not one of the registry's own paths)",
)
PAGE_SIZE = Option(
    "ui.page_size",
    integer,
    DEFAULT_PAGE_SIZE,
    min=1,
    max=MAX_PAGE_SIZE,
    help="repositories and tags per page",
)


@hookimpl
def registry_options() -> Iterable[Option]:
    return (UI, ENABLED, PREFIX, PAGE_SIZE)
