"""DriverOption(secret=True) is honoured: config show and error messages never print it."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from docker_registry.core import cli
from docker_registry.core.storage import ConfigError, DriverOption, factory
from docker_registry.core.storage.inmemory import InMemoryDriver


class PassphraseDriver(InMemoryDriver):
    """An out-of-tree driver whose secret key name matches no built-in secret pattern."""

    name = "sqlitepp"
    options: ClassVar[tuple[DriverOption, ...]] = (
        DriverOption("sqlitepp_passphrase", str, secret=True, help="database passphrase"),
        DriverOption("sqlitepp_retries", int, secret=True, help="a secret int, for the test"),
    )

    def __init__(self, **values: Any) -> None:
        super().__init__()


@pytest.fixture
def passphrase_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "load_driver_class", lambda name: PassphraseDriver)


def test_config_show_masks_secret_driver_options(passphrase_driver, tmp_path, capsys):
    path = tmp_path / "config.yml"
    path.write_text("dev:\n  storage: sqlitepp\n  sqlitepp_passphrase: open-sesame\n")
    assert cli.main(["config", "show", "--config", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "open-sesame" not in shown
    assert "sqlitepp_passphrase: '***'" in shown


def test_type_error_of_a_secret_option_hides_the_value():
    with pytest.raises(ConfigError) as caught:
        factory.resolve_options(PassphraseDriver, {"sqlitepp_retries": "hunter2"})
    assert "hunter2" not in str(caught.value)
    assert "sqlitepp_retries" in str(caught.value)
    assert "value hidden" in str(caught.value)


def test_config_error_is_exported_where_the_driver_doc_promises():
    from docker_registry.core.config import ConfigError as original

    assert ConfigError is original
