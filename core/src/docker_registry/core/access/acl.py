"""An access list: who (accounts, groups, ``anonymous``) may do which actions on which
repository name patterns.

Configuration (under ``htpasswd``)::

    groups:
      developers: [alice, bob]
    access:
      - accounts: [anonymous]          # no credentials
        repositories: ["public/**"]
        actions: [pull]
      - groups: [developers]
        repositories: ["team/*"]
        actions: [pull, push]
      - accounts: ["*"]                # any authenticated account
        repositories: ["**"]
        actions: [pull]

Patterns match the whole canonical name (``<ns>/<repo>``; a one-part v2 name is
``library/<name>``): ``*`` is any run of characters without ``/``, ``**`` any run
including ``/``; everything else is literal and case-sensitive. Rules add up; nothing is
allowed unless a rule allows it. ``catalog`` is registry-wide: its rule's patterns do not
matter (the catalog then lists only what the caller may pull).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import ConfigError
from .model import ACTIONS, CATALOG

#: The account name rules use for callers without credentials.
ANONYMOUS = "anonymous"
#: In ``accounts``: any authenticated account.
ANY_ACCOUNT = "*"


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """``team/*`` -> a regex matching whole names (``*``: no ``/``; ``**``: anything)."""
    parts = re.split(r"(\*\*|\*)", pattern)
    regex = "".join(
        ".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part) for part in parts
    )
    return re.compile(regex, re.DOTALL)


@dataclass(frozen=True)
class Rule:
    """One entry of the access list."""

    accounts: frozenset[str]
    groups: frozenset[str]
    patterns: tuple[re.Pattern[str], ...]
    actions: frozenset[str]

    def applies_to(self, account: str | None, groups: frozenset[str]) -> bool:
        if account is None:
            return ANONYMOUS in self.accounts
        return (
            account in self.accounts or ANY_ACCOUNT in self.accounts or bool(self.groups & groups)
        )

    def covers(self, repository: str) -> bool:
        return any(pattern.fullmatch(repository) for pattern in self.patterns)


class AccessList:
    """The parsed ``groups`` and ``access`` configuration.

    :param rules: the rules, in any order (they add up).
    :param groups: group name -> member accounts.
    """

    def __init__(self, rules: Iterable[Rule], groups: Mapping[str, frozenset[str]]) -> None:
        self.rules = tuple(rules)
        self.groups = dict(groups)

    @classmethod
    def from_config(cls, access: Any, groups: Any, key: str = "htpasswd") -> AccessList:
        """Parse the configuration. :raises ConfigError: naming the faulty key."""
        parsed_groups = _groups(groups, f"{key}.groups")
        if access is None:
            access = []
        if not isinstance(access, list):
            raise ConfigError("expected a list of rules", key=f"{key}.access")
        rules = [
            _rule(item, parsed_groups, f"{key}.access[{index}]")
            for index, item in enumerate(access)
        ]
        return cls(rules, parsed_groups)

    def groups_of(self, account: str | None) -> frozenset[str]:
        if account is None:
            return frozenset()
        return frozenset(name for name, members in self.groups.items() if account in members)

    def allows(self, account: str | None, repository: str | None, action: str) -> bool:
        """May ``account`` (``None``: anonymous) do ``action`` on ``repository``?

        ``repository=None`` (v1 image routes) asks whether any rule gives the action.
        """
        groups = self.groups_of(account)
        for rule in self.rules:
            if action not in rule.actions or not rule.applies_to(account, groups):
                continue
            if repository is None or action == CATALOG or rule.covers(repository):
                return True
        return False

    def anything_for(self, account: str | None) -> bool:
        """True when some rule applies to ``account`` at all."""
        groups = self.groups_of(account)
        return any(rule.applies_to(account, groups) for rule in self.rules)


def _groups(value: Any, key: str) -> dict[str, frozenset[str]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("expected a mapping of group name to a list of accounts", key=key)
    groups = {}
    for name, members in value.items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ConfigError(f"group {name!r}: expected a list of account names", key=key)
        groups[str(name)] = frozenset(members)
    return groups


def _strings(item: Mapping[str, Any], field: str, key: str) -> list[str]:
    value = item.get(field) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
        raise ConfigError(f"{field}: expected a list of strings", key=key)
    return value


def _rule(item: Any, groups: Mapping[str, frozenset[str]], key: str) -> Rule:
    if not isinstance(item, Mapping):
        raise ConfigError("expected a mapping with accounts/groups, repositories, actions", key=key)
    unknown = sorted(set(item) - {"accounts", "groups", "repositories", "actions"})
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(map(str, unknown))}", key=key)
    accounts = _strings(item, "accounts", key)
    rule_groups = _strings(item, "groups", key)
    if not accounts and not rule_groups:
        raise ConfigError("a rule needs accounts or groups", key=key)
    missing = sorted(set(rule_groups) - set(groups))
    if missing:
        raise ConfigError(f"unknown group(s) {', '.join(missing)}", key=key)
    actions = _strings(item, "actions", key)
    bad = sorted(set(actions) - set(ACTIONS))
    if not actions or bad:
        raise ConfigError(
            f"actions must be among {', '.join(ACTIONS)}"
            + (f" (not {', '.join(bad)})" if bad else ""),
            key=key,
        )
    patterns = _strings(item, "repositories", key)
    if not patterns and set(actions) != {CATALOG}:
        raise ConfigError("a rule needs repositories (name patterns)", key=key)
    return Rule(
        frozenset(accounts),
        frozenset(rule_groups),
        tuple(compile_pattern(pattern) for pattern in patterns),
        frozenset(actions),
    )
