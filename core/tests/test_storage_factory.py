"""``resolve_options`` calls a driver's optional ``validate_options`` hook."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from docker_registry.core.config.errors import ConfigError
from docker_registry.core.storage import DriverOption
from docker_registry.core.storage.factory import resolve_options
from docker_registry.core.storage.inmemory import InMemoryDriver


class PickyDriver(InMemoryDriver):
    """Needs one of two keys, which option declarations alone cannot express."""

    name = "picky"
    options = (DriverOption("picky_a", str), DriverOption("picky_b", str))
    seen: list[dict[str, Any]] = []

    @classmethod
    def validate_options(cls, values: Mapping[str, Any]) -> None:
        cls.seen.append(dict(values))
        if not (values["picky_a"] or values["picky_b"]):
            raise ConfigError("set picky_a or picky_b", key="picky_a")


def test_validate_options_sees_the_resolved_values() -> None:
    PickyDriver.seen.clear()
    assert resolve_options(PickyDriver, {"picky_b": 3}) == {"picky_a": None, "picky_b": "3"}
    assert PickyDriver.seen == [{"picky_a": None, "picky_b": "3"}]


def test_validate_options_refusal_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="set picky_a or picky_b") as caught:
        resolve_options(PickyDriver, {})
    assert caught.value.key == "picky_a"


def test_drivers_without_the_hook_resolve_as_before() -> None:
    assert resolve_options(InMemoryDriver, {}) == {
        option.name: option.default for option in InMemoryDriver.options
    }
