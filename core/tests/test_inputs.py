"""The parsers of client input: numbers, JSON and header values never raise surprises."""

from __future__ import annotations

import pytest

from docker_registry.core.inputs import (
    MAX_NUMBER,
    excerpt,
    is_header_safe,
    loads_json,
    parse_number,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("42", 42),
        ("007", 7),
        ("0" * 10_000 + "5", 5),
        (str(MAX_NUMBER), MAX_NUMBER),
    ],
)
def test_parse_number_reads_ascii_digits(text: str, expected: int) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        " 7",
        "+7",
        "-7",
        "7_0",
        "\u00b2",  # superscript two: str.isdigit() is true, int() refuses it
        "\u0663",  # arabic-indic three: int() reads it as 3
        str(MAX_NUMBER + 1),
        "9" * 5000,  # past int()'s 4,300-digit limit
    ],
)
def test_parse_number_refuses_everything_else(text: str | None) -> None:
    assert parse_number(text) is None


def test_loads_json_turns_deep_nesting_into_value_error() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        loads_json(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize("data", [b"\xff\xfe{", b"{", b"1" * 5000])
def test_loads_json_errors_are_value_errors(data: bytes) -> None:
    with pytest.raises(ValueError):
        loads_json(data)


def test_loads_json_parses_json() -> None:
    assert loads_json(b'{"a": [1, "\\u00e9"]}') == {"a": [1, "\u00e9"]}


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ('Token signature=AB,repository="ns/repo",access=write', True),
        ("caf\u00e9\tx", True),
        ("\u65e5", False),
        ("a\r\nSet-Cookie: x", False),
        ("a\x00b", False),
        ("\x7f", False),
    ],
)
def test_is_header_safe(value: str, safe: bool) -> None:
    assert is_header_safe(value) is safe


def test_excerpt_cuts_long_values() -> None:
    assert excerpt("short") == "'short'"
    assert excerpt("9" * 5000) == repr("9" * 64) + "... (5000 characters)"
