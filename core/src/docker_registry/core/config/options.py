"""One option type for every configuration key: core, APIs, drivers and plugins.

An :class:`Option` says what one key is (type or parser, default, range, required,
secret, one line of help); the same declaration types the value (:meth:`Option.read`),
feeds ``docker-registry config check`` and writes the key tables of
``docs/configuration.md``. Keys inside a section use a dotted name
(``mirroring.timeout``). Plugins declare theirs through the ``registry_options`` hook,
drivers in their class's ``options``::

    PAGE_SIZE = Option("ui.page_size", int, 50, min=1, max=500, help="rows per page")

    @hookimpl
    def registry_options():
        return [PAGE_SIZE]

    page_size = PAGE_SIZE.read(registry.settings)   # an int from 1 to 500, or 50
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

#: The plain types an option may name; anything else callable is a parser.
PLAIN_TYPES: tuple[type, ...] = (str, int, float, bool, list, dict)

#: What an error message shows instead of a secret option's value.
HIDDEN = "(value hidden: secret option)"


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _plain(expected: type, value: Any) -> Any:
    """Accept ``value`` as ``expected`` the way YAML spells it, or raise ValueError."""
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        # NOTE: YAML reads `storage_path: 2024` as an int; a number is a fine string.
        return str(value)
    if expected is bool and isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, expected) and not (expected in (int, float) and isinstance(value, bool)):
        return value
    raise ValueError(f"expected {expected.__name__}, got {type(value).__name__}")


@dataclass(frozen=True)
class Option:
    """One configuration key, declared once.

    The first six fields are those of the former ``DriverOption`` (still importable
    under that name), in the same order.

    :param name: the key; dotted for a key inside a section (``mirroring.timeout``).
    :param type: ``str``, ``int``, ``float``, ``bool``, ``list`` or ``dict``, checked as
        YAML spells them (an int is a fine float or str; 0 and 1 are fine booleans); or a
        parser ``f(raw) -> value`` raising ``ValueError`` with a message saying what is
        expected.
    :param default: the value when the key is absent, null or (outside drivers) empty.
    :param required: there is no usable value without it.
    :param secret: never shown by ``config show``, logs or error messages.
    :param help: one line for the documentation and for error messages.
    :param min: smallest number accepted (numbers only).
    :param max: largest number accepted.
    :param env: the environment variable the sample configuration reads it from (docs).
    :param default_doc: how the docs show the default when the value alone says too
        little (``"(the driver's default)"``).
    """

    name: str
    type: type | Callable[[Any], Any] = str
    default: Any = None
    required: bool = False
    secret: bool = False
    help: str = ""
    min: float | None = None
    max: float | None = None
    env: str | None = None
    default_doc: str | None = None

    @property
    def type_name(self) -> str:
        """What the docs call its type: ``int``, ``seconds``... (a parser's name)."""
        if self.type in PLAIN_TYPES:
            return self.type.__name__
        name = getattr(self.type, "__name__", "value")
        return str(name).removeprefix("_").removeprefix("to_").replace("_", " ")

    def shown(self, value: Any) -> str:
        """``repr(value)``, or a placeholder for a secret option."""
        return HIDDEN if self.secret else repr(value)

    def convert(self, raw: Any) -> Any:
        """The typed value of ``raw`` (not ``None``), range checked.

        :raises ValueError: what is expected and what was given (a secret never quoted).
        """
        try:
            plain = self.type in PLAIN_TYPES
            value = _plain(self.type, raw) if plain else self.type(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            if self.secret:
                raise ValueError(f"{str(exc).split(', got')[0]}, got {HIDDEN}") from None
            if self.type in PLAIN_TYPES:
                raise ValueError(f"{exc} {raw!r}") from None
            raise ValueError(str(exc)) from None
        self._check_range(value)
        return value

    def _check_range(self, value: Any) -> None:
        bounded = self.min is not None or self.max is not None
        if not bounded or not isinstance(value, (int, float)) or isinstance(value, bool):
            return
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {self.shown(value)}")
        if self.min is not None and value < self.min:
            raise ValueError(f"expected {self._bounds()}, got {self.shown(value)}")
        if self.max is not None and value > self.max:
            raise ValueError(f"expected {self._bounds()}, got {self.shown(value)}")

    def _bounds(self) -> str:
        if self.min is not None and self.max is not None:
            return f"a number from {self.min:g} to {self.max:g}"
        if self.min is not None:
            return f"a number of at least {self.min:g}"
        return f"a number of at most {self.max:g}"

    def value_of(self, raw: Any) -> Any:
        """The typed value of ``raw``: the default when it is null or blank.

        :raises ConfigError: naming this key (required and unset, wrong type, out of range).
        """
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if self.required and self.default is None:
                raise ConfigError(
                    "required" + (f" ({self.help})" if self.help else ""), key=self.name
                )
            return self.default
        try:
            return self.convert(raw)
        except ValueError as exc:
            raise ConfigError(str(exc), key=self.name) from None

    def read(self, config: Any) -> Any:
        """The typed value of this key in ``config`` (settings or a mapping).

        :param config: :class:`~.settings.Settings` or a mapping of keys; a dotted name
            is looked up section by section.
        :raises ConfigError: naming this key.
        """
        return self.value_of(lookup(config, self.name))


def lookup(config: Any, name: str) -> Any:
    """The raw value at the dotted ``name`` of ``config``, ``None`` when absent."""
    # NOTE: Settings keeps its mapping in `.values`; a plain mapping's `.values` is a method.
    values = getattr(config, "values", None)
    node: Any = values if isinstance(values, Mapping) else config
    for part in name.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


#: The option type drivers declare in their ``options`` (the same class).
DriverOption = Option
