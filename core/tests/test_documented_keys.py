"""Every documented key does what docs/configuration.md says (issue 20's audit).

* the v2 seconds keys are typed: a wrong value is one line from ``config check``; null
  and empty take the documented default; ``upload_purge_age: 0`` keeps upload URLs valid;
* every key of the docs' tables and of config/config_sample.yml is read by some code;
* every key the code reads from the settings is in the docs' tables: every key declared
  through ``registry_options`` (the tables are generated from the declarations, see
  ``test_config_docs.py``), checked here by reading the tables as a user does.
"""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path

import falcon.testing
import pytest
import yaml

from docker_registry.core import hookimpl
from docker_registry.core.app import create_app
from docker_registry.core.config import Settings
from docker_registry.core.config.settings import CORE_OPTIONS
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "configuration.md"
SAMPLE = ROOT / "config" / "config_sample.yml"

SECONDS_KEYS = {
    "upload_purge_age": 604800.0,
    "upload_purge_interval": 3600.0,
    "v2_tag_cache_ttl": 1.0,
}


@pytest.mark.parametrize("key", sorted(SECONDS_KEYS))
def test_seconds_keys_refuse_words_in_one_line(run_cli, write_config, key):
    config = write_config(f"storage: inmemory\n{key}: abc\n")
    for command in (["config", "check"], ["serve", "--host", "127.0.0.1", "--port", "0"]):
        result = run_cli(*command, "--config", str(config), env={"SETTINGS_FLAVOR": ""})
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and f"key '{key}'" in lines[0], result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("key", sorted(SECONDS_KEYS))
@pytest.mark.parametrize("value", [None, "", "  "])
def test_null_and_empty_take_the_documented_default(key, value):
    assert Settings.from_mapping({key: value}).get(key) == SECONDS_KEYS[key]


def test_empty_variable_of_the_sample_is_the_default(run_cli):
    result = run_cli(
        "config",
        "show",
        "--config",
        str(SAMPLE),
        "--flavor",
        "local",
        env={"UPLOAD_PURGE_INTERVAL": "", "UPLOAD_PURGE_AGE": "", "V2_TAG_CACHE_TTL": ""},
    )
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    assert {key: shown[key] for key in SECONDS_KEYS} == SECONDS_KEYS


def _uploads(**values):
    seen = []

    class Capture:
        @hookimpl
        def registry_startup(self, app, registry):
            seen.append(registry.services["v2"].uploads)

    settings = Settings.from_mapping({"storage": "inmemory", **values})
    app = create_app(settings, storage=Storage(InMemoryDriver()), extra_plugins=[Capture()])
    return falcon.testing.TestClient(app), seen[0]


@pytest.mark.parametrize(("age", "valid"), [(0, True), (None, False), (604800, False)])
def test_upload_urls_expire_with_upload_purge_age(age, valid):
    client, uploads = _uploads(upload_purge_age=age, upload_secret="k" * 32)
    started = client.simulate_post("/v2/lib/a/blobs/uploads/")
    assert started.status_code == 202
    location = started.headers["Location"]
    upload_id = location.split("?")[0].rstrip("/").rsplit("/", 1)[1]
    eight_days_ago = int(time.time()) - 8 * 86400
    state = uploads._sign("lib/a", upload_id, eight_days_ago)
    status = client.simulate_get(location.split("?")[0], params={"_state": state})
    assert (status.status_code == 204) is valid, status.text


# -- every key documented is read; every key read is documented ------------------------

#: Documented keys read by no code, each with the reason the docs give.
READ_BY_NOTHING = {
    # "Elliptics (no driver ships with this rebuild; install one to use this flavor)"
    "elliptics_": "no Elliptics driver ships; the flavor is for a third-party driver",
    # "free-form section for plugins"
    "extensions": "free-form section for third-party plugins",
}


def _documented_keys() -> set[str]:
    keys: set[str] = set()
    in_key_table = False
    for line in DOCS.read_text().splitlines():
        if line.startswith("| Key |"):
            in_key_table = True
            continue
        if not line.startswith("|"):
            in_key_table = False
            continue
        if not in_key_table or line.startswith("|---"):
            continue
        first = line.split("|")[1]
        prefix = ""
        for name in re.findall(r"`([^`]+)`", first):
            if name.startswith("."):
                name = prefix + name
            elif "." in name:
                prefix = name.rsplit(".", 1)[0]
            keys.add(name.rstrip("*"))
    return keys


def _flatten(node: object, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "<<":
                continue
            name = f"{prefix}{key}"
            keys.add(name)
            if isinstance(value, dict) and not name.startswith("htpasswd.groups"):
                keys |= _flatten(value, name + ".")
    return keys


def _sample_keys() -> set[str]:
    document = yaml.safe_load(SAMPLE.read_text())
    keys: set[str] = set()
    for flavor in document.values():
        keys |= _flatten(flavor)
    return keys


def _literals() -> dict[Path, set[str]]:
    """String constants of every Python source of the repository's distributions."""
    found: dict[Path, set[str]] = {}
    for folder in [ROOT / "core" / "src", *ROOT.glob("drivers/*/src"), *ROOT.glob("plugins/*/src")]:
        for path in folder.rglob("*.py"):
            strings: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    strings.add(node.value)
                    if re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+", node.value):
                        strings.update(node.value.split("."))
            found[path] = strings
    return found


#: Sections parsed by another section's code: registry-plugin-redis's create_client
#: reads `cache` (the diff queue), `coordination` (redis) and `cache_lru` (the file cache) alike.
SAME_PARSER = {"cache": "cache_lru", "coordination": "cache_lru"}


def _read(key: str, literals: dict[Path, set[str]]) -> bool:
    parts = key.split(".")
    if parts[0] in SAME_PARSER and len(parts) > 1:
        if not any(key in strings or parts[0] in strings for strings in literals.values()):
            return False
        parts = [SAME_PARSER[parts[0]], *parts[1:]]
        key = ".".join(parts)
    for strings in literals.values():
        if key in strings:
            return True
        # a nested key: the section and the leaf are read by the same module
        if parts[0] in strings and parts[-1] in strings:
            return True
    return False


def test_every_key_of_the_docs_and_the_sample_is_read_by_some_code():
    literals = _literals()
    keys = (_documented_keys() | _sample_keys()) - {""}
    unread = sorted(
        key
        for key in keys
        if not any(key.startswith(exempt) for exempt in READ_BY_NOTHING)
        and not _read(key, literals)
    )
    assert unread == [], f"documented but read by no code: {unread}"


def test_the_walk_finds_what_the_issue_named():
    keys = _documented_keys() | _sample_keys()
    for key in (
        "cors.always_send",
        "email_exceptions.smtp_secure",
        "bugsnag",
        "cloudfront.keysecret",
        "upload_purge_age",
        "cache.host",
        "gs_secure",
    ):
        assert key in keys, key
    assert not _read("cors.no_such_option", _literals())


def _declared_keys() -> list[str]:
    from docker_registry.core.config_options import plugin_options
    from docker_registry.core.plugins import create_plugin_manager

    return sorted(item.option.name for item in plugin_options(create_plugin_manager()))


@pytest.mark.parametrize(
    "key", sorted({*_declared_keys(), *CORE_OPTIONS, "cache_lru.url", "cache_lru.timeout"})
)
def test_keys_the_code_reads_are_documented(key):
    assert key in _documented_keys(), f"{key} is read by the code but not in {DOCS.name}'s tables"
