"""The v1 storage layout and key encoding (spec §1.4, §1.5, §4)."""

from __future__ import annotations

from docker_registry.core.v1 import layout


def test_parse_repository_name_defaults_to_library():
    assert layout.parse_repository_name("ubuntu") == ("library", "ubuntu")
    assert layout.parse_repository_name("ubuntu/") == ("library", "ubuntu")
    assert layout.parse_repository_name("foo/bar") == ("foo", "bar")


def test_parse_repository_name_multi_slash_and_quoting():
    assert layout.parse_repository_name("a/b/c") == ("a", "b%2Fc")
    assert layout.parse_repository_name("ns/foo%$_-test") == ("ns", "foo%25%24_-test")
    assert layout.parse_repository_name("ns/a b") == ("ns", "a+b")


def test_repository_is_double_encoded_on_storage():
    namespace, repository = layout.parse_repository_name("ns/foo%$_-test")
    assert layout.tag_path(namespace, repository, "latest") == (
        "/repositories/ns/foo%2525%2524_-test/tag_latest"
    )


def test_dot_components_are_escaped():
    assert layout.encode_component(".") == "%252E"
    assert layout.encode_component("..") == "%252E%252E"
    assert layout.repository_path("..", ".") == "/repositories/%252E%252E/%252E"


def test_paths_match_the_seed():
    image = "a" * 64
    assert layout.image_json_path(image) == f"/images/{image}/json"
    assert layout.image_layer_path(image) == f"/images/{image}/layer"
    assert layout.image_ancestry_path(image) == f"/images/{image}/ancestry"
    assert layout.image_checksum_path(image) == f"/images/{image}/_checksum"
    assert layout.image_mark_path(image) == f"/images/{image}/_inprogress"
    assert layout.image_files_path(image) == f"/images/{image}/_files"
    assert layout.image_diff_path(image) == f"/images/{image}/_diff"
    assert layout.tag_json_path("ns", "r", "v1") == "/repositories/ns/r/tagv1_json"
    assert layout.repository_json_path("ns", "r") == "/repositories/ns/r/json"
    assert layout.index_images_path("ns", "r") == "/repositories/ns/r/_index_images"
    assert layout.private_flag_path("ns", "r") == "/repositories/ns/r/_private"
    assert layout.images_list_path("ns", "r") == "/repositories/ns/r/_images_list"


def test_image_id_format():
    assert layout.is_image_id("0123456789abcdef")
    assert layout.is_image_id("a" * 64)
    for bad in ("0123456789ABCDEF", "0123456789abcde", "a" * 63, "g" * 16, None, 5):
        assert not layout.is_image_id(bad)


def test_tags_from_listing_skips_metadata_of_underscore_tags():
    entries = [
        "tag__valid",
        "tag_valid_json",
        "tag_latest",
        "taglatest_json",
        "json",
        "tag_x_json",
        "_index_images",
    ]
    # NOTE: "x_json" is a real tag here: there is no "tag__x".
    assert layout.tags_from_listing(entries) == ["_valid", "latest", "x_json"]
