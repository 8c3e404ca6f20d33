"""The key tables of ``docs/configuration.md``, written from the option declarations.

A table lives between two markers; ``NAME`` is who declares the keys: a plugin
(``core``, ``v1``, ``v2``, ``mirroring``, ``redis``...), ``driver:<name>`` for a storage
driver, or ``server`` for ``docker-registry serve``'s values. ``OWNER/SECTION`` keeps
only that section's keys (``core/cors``); a plain ``OWNER`` table then leaves them out::

    <!-- options: v2 -->
    | Key | Type | Default | Env var (sample) | Meaning |
    ...
    <!-- /options -->

``docker-registry config docs --write docs/configuration.md`` rewrites every table;
``--check`` exits 1 when one differs from the declarations, or when a declaring plugin or
driver has no table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .config.options import Option
from .config_options import DeclaredOption

MARKER = re.compile(
    r"(?P<open><!-- options: (?P<name>[\w:./-]+) -->\n)(?P<body>.*?)(?P<close><!-- /options -->)",
    re.S,
)

SERVER = "server"


@dataclass(frozen=True)
class Table:
    """One marker's selection: ``owner`` and, optionally, one ``section`` of its keys."""

    owner: str
    section: str | None

    @classmethod
    def parse(cls, name: str) -> Table:
        owner, _, section = name.partition("/")
        return cls(owner, section or None)

    def holds(self, item: DeclaredOption, sections_elsewhere: set[str]) -> bool:
        """Whether ``item`` belongs in this table."""
        if item.owner != self.owner:
            return False
        head = item.option.name.split(".", 1)[0]
        if self.section is not None:
            return head == self.section
        return head not in sections_elsewhere


def _code(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, (list, tuple)):
        return f"`[{', '.join(str(item) for item in value)}]`"
    if isinstance(value, str):
        return f"`{value!r}`" if value != value.strip() or not value else f"`{value}`"
    return f"`{value}`"


def default_text(option: Option) -> str:
    """The Default column: ``default_doc``, else the default in code, else what happens."""
    if option.default_doc is not None:
        return option.default_doc
    if option.default is not None:
        return _code(option.default)
    return "(required)" if option.required else "(none)"


def type_text(option: Option) -> str:
    """The Type column: the type's name, its range, and whether it is secret."""
    parts = [option.type_name]
    if option.min is not None and option.max is not None:
        parts.append(f"{option.min:g} to {option.max:g}")
    elif option.min is not None:
        parts.append(f"≥ {option.min:g}")
    elif option.max is not None:
        parts.append(f"≤ {option.max:g}")
    if option.secret:
        parts.append("secret")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(items: Sequence[DeclaredOption], owner: str) -> str:
    """The Markdown table of ``items`` (declared by ``owner``)."""
    server = owner == SERVER
    header = (
        "| Flag | Env | Type | Default | Meaning |"
        if server
        else ("| Key | Type | Default | Env var (sample) | Meaning |")
    )
    lines = [header, "|---|---|---|---|---|"]
    for item in items:
        option = item.option
        env = f"`{option.env}`" if option.env else "\N{EN DASH}"
        if server:
            cells = [f"`--{option.name}`", env, type_text(option)]
        else:
            cells = [f"`{option.name}`", type_text(option)]
        cells.append(default_text(option))
        if not server:
            cells.append(env)
        cells.append(option.help)
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(document: str, declared: Iterable[DeclaredOption]) -> tuple[str, list[str]]:
    """Return ``document`` with every marked table rewritten, and the problems found.

    A problem is a marker naming nobody, or a declaring owner without a table.
    """
    items = list(declared)
    tables = [Table.parse(match["name"]) for match in MARKER.finditer(document)]
    owners = {item.owner for item in items}
    problems = [
        f"marker 'options: {table.owner}' names no plugin, driver or '{SERVER}' that "
        "declares options"
        for table in tables
        if table.owner not in owners
    ]
    marked = {table.owner for table in tables}
    problems += [
        f"no '<!-- options: {owner} -->' table for the options {owner} declares"
        for owner in sorted(owners - marked)
    ]
    split = {table.owner: set[str]() for table in tables}
    for table in tables:
        if table.section is not None:
            split[table.owner].add(table.section)

    def replace(match: re.Match[str]) -> str:
        table = Table.parse(match["name"])
        if table.owner not in owners:
            return match[0]  # reported above; its rows stay as they are
        chosen = [item for item in items if table.holds(item, split.get(table.owner, set()))]
        return match["open"] + render(chosen, table.owner) + match["close"]

    return MARKER.sub(replace, document), problems
