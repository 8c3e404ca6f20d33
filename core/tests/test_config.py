"""Tests of ``docker_registry.core.config``: loading, flavors, ``_env:``, overrides, settings."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from docker_registry.core.config import (
    ConfigError,
    Settings,
    default_config_path,
    expand_env_value,
    is_secret_key,
    load_settings,
)

SAMPLE = Path(__file__).parents[2] / "config" / "config_sample.yml"
SAMPLE_FLAVORS = [
    "common",
    "local",
    "s3",
    "cloudfronts3",
    "azureblob",
    "ceph-s3",
    "gcs",
    "swift",
    "glance",
    "openstack",
    "glance-swift",
    "openstack-swift",
    "elliptics",
    "oss",
    "dev",
    "test",
    "prod",
]


def write(tmp_path: Path, text: str, name: str = "config.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(path: Path, flavor: str | None = None, **environ: str) -> Settings:
    return load_settings(path, flavor=flavor, environ=environ)


def raises_config_error(path: Path, flavor: str | None = None, **environ: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(path, flavor, **environ)
    assert "\n" not in str(info.value)
    return info.value


# -- _env: substitution (spec 6.2) -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        ("_env:STANDALONE:true", {}, True),
        ("_env:MIRROR_TAGS_CACHE_TTL:172800", {}, 172800),
        ("_env:EMPTYSTRING:''", {}, ""),
        ("_env:BUGGER:bug:me:endlessly", {}, "bug:me:endlessly"),
        ("_env:ISNONE", {"ISNONE": ""}, None),
        ("_env:UNSET", {}, None),
        ("_env:UNSET:", {}, None),
        ("_env:STANDALONE:true", {"STANDALONE": "false"}, False),
        ("_env:FLAG", {"FLAG": "yes"}, True),
        ("_env:FLAG", {"FLAG": "off"}, False),
        ("_env:RATIO", {"RATIO": "0.5"}, 0.5),
        ("_env:LIST:[a, b]", {}, ["a", "b"]),
        ("_env:MAP", {"MAP": "{keyfile: k, certfile: c}"}, {"keyfile": "k", "certfile": "c"}),
        ("_env:QUOTED", {"QUOTED": "'quoted'"}, "quoted"),
        ("_env:CORS_ORIGINS", {"CORS_ORIGINS": '"*"'}, "*"),
        ("_env:URL:http://host:80/path", {}, "http://host:80/path"),
        ("_env:URL:http://host:80/path", {"URL": "https://other"}, "https://other"),
        ("sqlite:////tmp/db", {}, "sqlite:////tmp/db"),
        ("not _env:X", {"X": "1"}, "not _env:X"),
    ],
)
def test_env_value(value: str, environ: dict[str, str], expected: Any) -> None:
    assert expand_env_value(value, environ) == expected


def test_env_value_invalid_yaml_names_the_variable_and_the_fix() -> None:
    with pytest.raises(ConfigError) as info:
        expand_env_value("_env:CORS_ORIGINS", {"CORS_ORIGINS": "*"}, key="cors.origins")
    assert info.value.key == "cors.origins"
    assert "CORS_ORIGINS" in str(info.value)
    assert "CORS_ORIGINS='\"*\"'" in str(info.value)


def test_env_value_without_a_name_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no variable name"):
        expand_env_value("_env:", {}, key="x")


def test_env_invalid_yaml_in_a_file_names_key_flavor_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "dev:\n  cors:\n    origins: _env:CORS_ORIGINS\n")
    error = raises_config_error(path, CORS_ORIGINS="*")
    assert (error.key, error.flavor, error.file) == ("cors.origins", "dev", str(path))


def test_env_invalid_yaml_default_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "dev:\n  origins: '_env:CORS_ORIGINS:*'\n")
    error = raises_config_error(path)
    assert error.key == "origins"
    assert "default of CORS_ORIGINS" in error.detail


def test_env_invalid_yaml_never_echoes_a_secret(tmp_path: Path) -> None:
    path = write(tmp_path, "dev:\n  cache:\n    password: _env:PW\n")
    error = raises_config_error(path, PW="*hunter2")
    assert error.key == "cache.password"
    assert "hunter2" not in str(error)


def test_env_substitution_in_files(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        dev:
          standalone: _env:STANDALONE:true
          mirroring:
            tags_cache_ttl: _env:MIRROR_TAGS_CACHE_TTL:172800
            source: _env:MIRROR_SOURCE
          empty: _env:EMPTYSTRING:''
          bugger: _env:BUGGER:bug:me:endlessly
          isnone: _env:ISNONE:something
          database: "_env:DB:sqlite:////tmp/docker-registry.db"
        """,
    )
    settings = load(path, ISNONE="", MIRROR_SOURCE="https://registry-1.docker.io")
    assert settings.standalone is True
    assert settings.mirroring == {
        "tags_cache_ttl": 172800,
        "source": "https://registry-1.docker.io",
    }
    assert settings["empty"] == ""
    assert settings["bugger"] == "bug:me:endlessly"
    assert settings["isnone"] is None
    assert settings["database"] == "sqlite:////tmp/docker-registry.db"


def test_env_substitution_leaves_list_items_alone(tmp_path: Path) -> None:
    path = write(tmp_path, "dev:\n  things: [_env:A, plain]\n")
    assert load(path, A="1")["things"] == ["_env:A", "plain"]


def test_env_values_of_other_flavors_are_not_read(tmp_path: Path) -> None:
    path = write(tmp_path, "dev: {a: 1}\nprod: {origins: _env:CORS_ORIGINS}\n")
    assert load(path, CORS_ORIGINS="*")["a"] == 1


# -- files and flavors (spec 6.1) ------------------------------------------------------


FLAVORED = """
    common:
      loglevel: warning
      cache_lru: {host: redis, port: 6379}
      shared: common
    dev:
      storage: file
      storage_path: /dev-data
      cache_lru: {port: 6380}
    prod:
      storage: s3
      shared: prod
    """


def test_default_flavor_is_dev_with_common_merged_deeply(tmp_path: Path) -> None:
    settings = load(write(tmp_path, FLAVORED))
    assert settings.flavor == "dev"
    assert settings.storage_path == "/dev-data"
    assert settings.loglevel == "warning"
    assert settings.cache_lru == {"host": "redis", "port": 6380}
    assert settings["shared"] == "common"


def test_settings_flavor_from_the_environment(tmp_path: Path) -> None:
    settings = load(write(tmp_path, FLAVORED), SETTINGS_FLAVOR="prod")
    assert (settings.flavor, settings.storage, settings["shared"]) == ("prod", "s3", "prod")
    assert settings.cache_lru == {"host": "redis", "port": 6379}


def test_flavor_argument_wins_over_the_environment(tmp_path: Path) -> None:
    settings = load(write(tmp_path, FLAVORED), "prod", SETTINGS_FLAVOR="dev")
    assert settings.flavor == "prod"


def test_common_flavor_can_be_chosen(tmp_path: Path) -> None:
    settings = load(write(tmp_path, FLAVORED), "common")
    assert settings["shared"] == "common"
    assert settings.storage == "file"


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        common: &common
          loglevel: error
        base: &base
          <<: *common
          storage: s3
        prod:
          <<: *base
          storage_path: /prod
        """,
    )
    settings = load(path, "prod")
    assert (settings.loglevel, settings.storage, settings.storage_path) == ("error", "s3", "/prod")


def test_empty_settings_flavor_uses_the_whole_file(tmp_path: Path) -> None:
    path = write(tmp_path, "storage: S3\nstorage_path: /whole\n")
    settings = load(path, SETTINGS_FLAVOR="")
    assert (settings.flavor, settings.storage, settings.storage_path) == ("", "s3", "/whole")


def test_empty_flavor_argument_uses_the_whole_file(tmp_path: Path) -> None:
    settings = load(write(tmp_path, FLAVORED), "")
    assert settings["dev"]["storage"] == "file"
    assert settings.storage == "file"


def test_empty_flavor_section_is_allowed(tmp_path: Path) -> None:
    settings = load(write(tmp_path, "common: {debug: true}\ndev:\n"))
    assert settings.debug is True


def test_unknown_flavor_lists_the_flavors(tmp_path: Path) -> None:
    path = write(tmp_path, FLAVORED)
    error = raises_config_error(path, SETTINGS_FLAVOR="staging")
    assert (error.flavor, error.file) == ("staging", str(path))
    assert "(flavors: common, dev, prod)" in str(error)
    assert str(path) in str(error)
    assert "flavor 'staging'" in str(error)


def test_unknown_flavor_in_the_default_file_points_at_the_sample() -> None:
    with pytest.raises(ConfigError, match=r"config_sample\.yml"):
        load_settings(environ={"SETTINGS_FLAVOR": "s3"})


def test_flavor_that_is_not_a_mapping(tmp_path: Path) -> None:
    error = raises_config_error(write(tmp_path, "dev: [1, 2]\n"))
    assert "must be a mapping" in error.detail
    assert error.flavor == "dev"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    error = raises_config_error(path)
    assert error.file == str(path)
    assert "missing" in error.detail


def test_unreadable_file_is_a_directory(tmp_path: Path) -> None:
    error = raises_config_error(tmp_path)
    assert error.file == str(tmp_path)
    assert "directory" in error.detail


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "dev:\n  storage: file\n  search_backend: _env:SEARCH_BACKEND:\n")
    error = raises_config_error(path)
    assert error.file == str(path)
    assert "line 3" in error.detail


def test_yaml_syntax_error_unclosed_bracket(tmp_path: Path) -> None:
    error = raises_config_error(write(tmp_path, "dev:\n  a: [1, 2\n  b: 3\n"))
    assert "invalid YAML at line" in error.detail


def test_top_level_list_is_an_error(tmp_path: Path) -> None:
    error = raises_config_error(write(tmp_path, "- dev\n- prod\n"))
    assert "top level must be a mapping" in error.detail
    assert "a list" in error.detail


def test_top_level_scalar_is_an_error_also_without_flavor(tmp_path: Path) -> None:
    error = raises_config_error(write(tmp_path, "just text\n"), "")
    assert "top level must be a mapping" in error.detail


def test_empty_file_has_no_flavors(tmp_path: Path) -> None:
    error = raises_config_error(write(tmp_path, ""))
    assert "(flavors: none)" in error.detail
    assert load(write(tmp_path, "", "empty.yml"), "").storage == "file"


def test_python_tags_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "dev:\n  x: !!python/object/apply:os.system ['true']\n")
    assert "invalid YAML" in raises_config_error(path).detail


# -- choosing the file -----------------------------------------------------------------


def test_docker_registry_config_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "dev: {storage_path: /from-env}\n")
    settings = load_settings(environ={"DOCKER_REGISTRY_CONFIG": str(path)})
    assert settings.source == str(path)
    assert settings.storage_path == "/from-env"


def test_relative_docker_registry_config_is_resolved_against_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf", "dev: {storage_path: /relative}\n", "mine.yml")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={"DOCKER_REGISTRY_CONFIG": "conf/mine.yml"})
    assert settings.storage_path == "/relative"


def test_missing_docker_registry_config_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"DOCKER_REGISTRY_CONFIG": "nope.yml"})
    assert info.value.file == "nope.yml"
    assert "DOCKER_REGISTRY_CONFIG" in info.value.detail
    assert str(tmp_path) in info.value.detail


def test_path_argument_wins_over_docker_registry_config(tmp_path: Path) -> None:
    path = write(tmp_path, "dev: {storage_path: /argument}\n")
    settings = load_settings(path, environ={"DOCKER_REGISTRY_CONFIG": "/nope.yml"})
    assert settings.storage_path == "/argument"


def test_packaged_default_configuration() -> None:
    settings = load_settings(environ={})
    assert settings.source == str(default_config_path())
    assert settings.flavor == "dev"
    assert settings.storage == "file"
    assert settings.storage_path == "./registry-data"
    assert settings.search_backend is None
    assert settings.loglevel == "info"
    assert settings.standalone is True
    assert settings.debug is False
    assert settings.max_json_body_size == 1024 * 1024


def test_packaged_default_reads_the_seed_variables() -> None:
    settings = load_settings(
        environ={"STORAGE_PATH": "/data", "SEARCH_BACKEND": "SQLAlchemy", "LOGLEVEL": "DEBUG"}
    )
    assert settings.storage_path == "/data"
    assert settings.search_backend == "sqlalchemy"
    assert settings.loglevel == "debug"


def test_empty_docker_registry_config_means_the_default() -> None:
    settings = load_settings(environ={"DOCKER_REGISTRY_CONFIG": ""})
    assert settings.source == str(default_config_path())


# -- REGISTRY_ overrides -------------------------------------------------------------


def test_override_of_a_top_level_key_wins_over_file_and_env(tmp_path: Path) -> None:
    path = write(tmp_path, "dev:\n  storage_path: _env:STORAGE_PATH:/file\n")
    settings = load(path, STORAGE_PATH="/env", REGISTRY_STORAGE_PATH="/override")
    assert settings.storage_path == "/override"


def test_override_of_a_nested_key(tmp_path: Path) -> None:
    path = write(tmp_path, "dev:\n  cache_lru: {host: file-host, port: 6379}\n")
    settings = load(path, REGISTRY_CACHE_LRU__HOST="redis", REGISTRY_CACHE_LRU__DB="2")
    assert settings.cache_lru == {"host": "redis", "port": 6379, "db": 2}
    assert settings.get("cache_lru.host") == "redis"


def test_override_creates_missing_and_null_mappings(tmp_path: Path) -> None:
    path = write(tmp_path, "dev:\n  cache: ~\n")
    settings = load(path, REGISTRY_CACHE__HOST="redis", REGISTRY_MIRRORING__SOURCE="https://hub")
    assert settings.cache == {"host": "redis"}
    assert settings.mirroring == {"source": "https://hub"}


def test_override_values_are_yaml_typed(tmp_path: Path) -> None:
    path = write(tmp_path, "dev: {}\n")
    settings = load(
        path,
        REGISTRY_DEBUG="true",
        REGISTRY_MAX_JSON_BODY_SIZE="2048",
        REGISTRY_CORS__HEADERS="[Content-Type, Authorization]",
        REGISTRY_SEARCH_BACKEND="",
    )
    assert settings.debug is True
    assert settings.max_json_body_size == 2048
    assert settings["cors"]["headers"] == ["Content-Type", "Authorization"]
    assert settings.search_backend is None


def test_whole_mapping_override_then_nested_refinement(tmp_path: Path) -> None:
    settings = load(
        write(tmp_path, "dev: {}\n"),
        REGISTRY_CACHE_LRU="{host: a, port: 1}",
        REGISTRY_CACHE_LRU__HOST="b",
    )
    assert settings.cache_lru == {"host": "b", "port": 1}


def test_reserved_server_variables_are_not_keys(tmp_path: Path) -> None:
    settings = load(
        write(tmp_path, "dev: {}\n"),
        REGISTRY_HOST="0.0.0.0",
        REGISTRY_PORT="5000",
        REGISTRY_THREADS="8",
        REGISTRY_TEST_S3_ENDPOINT="http://localhost:9000",
        REGISTRY_="x",
        REGISTRY_A____B="x",
    )
    for key in ("host", "port", "threads", "test_s3_endpoint", ""):
        assert key not in settings.values


def test_override_with_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "dev: {}\n")
    error = raises_config_error(path, REGISTRY_CORS__ORIGINS="*")
    assert (error.key, error.flavor, error.file) == ("cors.origins", "dev", str(path))
    assert "REGISTRY_CORS__ORIGINS" in error.detail


def test_override_through_a_scalar_is_an_error(tmp_path: Path) -> None:
    error = raises_config_error(write(tmp_path, "dev: {cache: off}\n"), REGISTRY_CACHE__HOST="r")
    assert error.key == "cache.host"
    assert "not a mapping" in error.detail


def test_override_of_a_known_key_is_validated(tmp_path: Path) -> None:
    error = raises_config_error(write(tmp_path, "dev: {}\n"), REGISTRY_DEBUG="[1]")
    assert error.key == "debug"


# -- typed settings ------------------------------------------------------------------


def test_defaults() -> None:
    settings = Settings.from_mapping({})
    assert settings.flavor == "test"
    assert settings.source is None
    assert settings.storage == "file"
    assert settings.storage_path is None
    assert settings.loglevel == "info"
    assert settings.debug is False
    assert settings.standalone is True
    assert settings.issue == '"docker-registry server"'
    assert settings.index_endpoint == "https://index.docker.io"
    assert settings.disable_token_auth is False
    assert settings.storage_redirect is False
    assert settings.privileged_key is None
    assert settings.search_backend is None
    assert settings.delete_enabled is False
    assert settings.max_json_body_size == 1024**2
    assert settings.max_manifest_size == 4 * 1024**2
    assert settings.max_request_body_size == 64 * 1024**3
    assert settings.registry_endpoints is None
    assert settings.mirroring is None
    assert settings.cache is None
    assert settings.cache_lru is None
    # NOTE: the effective mapping shows what the attributes say.
    assert settings.values["standalone"] is True
    assert settings.values["max_manifest_size"] == 4 * 1024**2


def test_null_and_empty_values_take_the_default() -> None:
    settings = Settings.from_mapping({"standalone": None, "loglevel": "", "storage": " "})
    assert (settings.standalone, settings.loglevel, settings.storage) == (True, "info", "file")


def test_normalisation() -> None:
    settings = Settings.from_mapping(
        {
            "storage": " Local ",
            "search_backend": "Foo.Index",
            "index_endpoint": "https://index.example.com//",
            "loglevel": "WARN",
            "storage_path": 2024,
        }
    )
    assert settings.storage == "local"
    assert settings.search_backend == "foo.index"
    assert settings.index_endpoint == "https://index.example.com"
    assert settings.loglevel == "warn"
    assert settings.storage_path == "2024"
    assert settings["storage"] == "local"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), (1, True), (0, False), ("yes", True), ("False", False)],
)
def test_bool_coercion(value: Any, expected: bool) -> None:
    assert Settings.from_mapping({"debug": value}).debug is expected


@pytest.mark.parametrize(("value", "expected"), [(2048, 2048), ("4096", 4096), (8.0, 8)])
def test_int_coercion(value: Any, expected: int) -> None:
    assert Settings.from_mapping({"max_json_body_size": value}).max_json_body_size == expected


@pytest.mark.parametrize(("value", "expected"), [(None, 100), (3, 3), (" 250 ", 250)])
def test_v2_max_tags_per_push(value: Any, expected: int) -> None:
    settings = Settings.from_mapping({"v2_max_tags_per_push": value})
    assert settings.v2_max_tags_per_push == expected


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("debug", [1]),
        ("debug", 2),
        ("debug", "maybe"),
        ("standalone", {"a": 1}),
        ("max_json_body_size", "abc"),
        ("max_json_body_size", True),
        ("max_manifest_size", 0),
        ("max_request_body_size", -1),
        ("max_request_body_size", 1.5),
        ("loglevel", "chatty"),
        ("loglevel", ["info"]),
        ("storage", True),
        ("storage_path", ["/a"]),
        ("mirroring", "https://hub"),
        ("cache_lru", [1]),
        ("v2_max_tags_per_push", 0),
        ("v2_max_tags_per_push", "many"),
        ("v2_max_tags_per_push", "\u00b2"),
        ("v2_max_tags_per_push", True),
    ],
)
def test_wrong_type_names_the_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping({key: value}, flavor="unit")
    assert (info.value.key, info.value.flavor) == (key, "unit")
    assert f"key '{key}'" in str(info.value)


def test_wrong_type_in_a_file_names_key_flavor_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "common: {}\nprod:\n  max_json_body_size: abc\n")
    error = raises_config_error(path, SETTINGS_FLAVOR="prod")
    assert (error.key, error.flavor, error.file) == ("max_json_body_size", "prod", str(path))
    assert str(error).startswith(f"{path}, flavor 'prod', key 'max_json_body_size': ")


def test_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match="mapping"):
        Settings.from_mapping(["storage"])  # type: ignore[arg-type]


def test_unknown_keys_are_kept_and_input_is_not_modified() -> None:
    given = {"s3_bucket": "b", "extensions": {"x": {"y": 1}}, "debug": 1}
    settings = Settings.from_mapping(given)
    assert settings["s3_bucket"] == "b"
    assert settings.get("extensions.x.y") == 1
    assert given == {"s3_bucket": "b", "extensions": {"x": {"y": 1}}, "debug": 1}


def test_dotted_get_getitem_and_contains() -> None:
    settings = Settings.from_mapping(
        {"cache_lru": {"host": "redis", "password": None}, "dotted.key": 1, "s": "text"}
    )
    assert settings.get("cache_lru.host") == "redis"
    assert settings.get("cache_lru.port", 6379) == 6379
    assert settings.get("cache_lru.password", "x") is None
    assert settings.get("s.deeper", "d") == "d"
    assert settings.get("nothing") is None
    assert settings["cache_lru"]["host"] == "redis"
    assert settings["dotted.key"] == 1
    with pytest.raises(KeyError):
        settings["cache_lru.nothing"]
    assert "cache_lru.host" in settings
    assert "storage" in settings
    assert "cache_lru.port" not in settings
    assert 1 not in settings


def test_masked_hides_secrets_deeply() -> None:
    settings = Settings.from_mapping(
        {
            "s3_secret_key": "S",
            "s3_access_key": "A",
            "oss_accesskey": "O",
            "azure_storage_account_key": "Z",
            "swift_password": "P",
            "bugsnag": "B",
            "api_token": "T",
            "disable_token_auth": True,
            "cache_lru": {"host": "redis", "password": "R"},
            "cloudfront": {"keyid": "id", "keysecret": "K"},
            "email_exceptions": {"smtp_password": None},
            "sqlalchemy_index_database": "postgresql://user:pw@db/registry",
            "my_option": "M",
            "privileged_key": "/etc/registry/key.pub",
        }
    )
    masked = settings.masked(extra=["my_option"])
    for key in (
        "s3_secret_key",
        "s3_access_key",
        "oss_accesskey",
        "azure_storage_account_key",
        "swift_password",
        "bugsnag",
        "api_token",
        "my_option",
    ):
        assert masked[key] == "***", key
    assert masked["cache_lru"] == {"host": "redis", "password": "***"}
    assert masked["cloudfront"] == {"keyid": "id", "keysecret": "***"}
    assert masked["email_exceptions"] == {"smtp_password": None}
    assert masked["sqlalchemy_index_database"] == "postgresql://user:***@db/registry"
    assert masked["disable_token_auth"] is True
    assert masked["privileged_key"] == "/etc/registry/key.pub"
    assert settings.values["cache_lru"]["password"] == "R"
    assert settings["s3_secret_key"] == "S"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("smtp_password", True),
        ("gs_secret_key", True),
        ("AWS_ACCESS_KEY", True),
        ("token", True),
        ("disable_token_auth", False),
        ("storage_path", False),
        ("keyid", False),
    ],
)
def test_is_secret_key(name: str, secret: bool) -> None:
    assert is_secret_key(name) is secret


def test_repr_is_short() -> None:
    assert repr(Settings.from_mapping({}, flavor="x")) == "Settings(flavor='x', source=None)"


# -- the sample configuration ----------------------------------------------------------


def test_sample_has_every_flavor_of_the_seed() -> None:
    import yaml

    document = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    assert list(document) == SAMPLE_FLAVORS


@pytest.mark.parametrize("flavor", SAMPLE_FLAVORS)
def test_every_sample_flavor_loads(flavor: str) -> None:
    settings = load_settings(SAMPLE, flavor=flavor, environ={})
    assert settings.flavor == flavor
    assert settings.source == str(SAMPLE)
    assert settings["cors"]["headers"] == ["Content-Type"]
    assert settings.get("mirroring.tags_cache_ttl") == 172800
    assert settings.delete_enabled is False


def test_sample_flavor_values() -> None:
    dev = load_settings(SAMPLE, environ={})
    assert (dev.flavor, dev.storage, dev.storage_path) == ("dev", "local", "/tmp/registry")
    assert (dev.loglevel, dev.debug, dev.search_backend) == ("debug", True, "sqlalchemy")
    prod = load_settings(SAMPLE, environ={"SETTINGS_FLAVOR": "prod", "AWS_BUCKET": "b"})
    assert (prod.storage, prod.storage_path, prod["boto_bucket"]) == ("s3", "/prod", "b")
    assert prod["s3_encrypt"] is True
    test = load_settings(SAMPLE, flavor="test", environ={})
    assert test.index_endpoint == "https://registry-stage.hub.docker.com"
    assert test.storage_path == "./tmp/test"
    ceph = load_settings(SAMPLE, flavor="ceph-s3", environ={})
    assert (ceph["s3_region"], ceph["s3_secure"], ceph["boto_debug"]) == (None, False, 0)
    glance_swift = load_settings(SAMPLE, flavor="openstack-swift", environ={})
    assert (glance_swift.storage, glance_swift["storage_alternate"]) == ("glance", "swift")


def test_sample_cors_origins_needs_quoting() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(SAMPLE, environ={"CORS_ORIGINS": "*"})
    assert info.value.key == "cors.origins"
    settings = load_settings(SAMPLE, environ={"CORS_ORIGINS": '"*"'})
    assert settings.get("cors.origins") == "*"
