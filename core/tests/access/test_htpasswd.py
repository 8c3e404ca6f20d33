"""The htpasswd backend: Apache's own htpasswd -B files, reloads, access list, failed
logins (logged, same timing, rate-limited), listings filtered, v1's private flag."""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import time

import bcrypt
import pytest
from authsupport import basic, write_htpasswd
from content import V2Image, push_v1, push_v2

from docker_registry.core.access import htpasswd as htpasswd_module
from docker_registry.core.access.acl import AccessList, compile_pattern
from docker_registry.core.access.throttle import FailedLogins
from docker_registry.core.config import ConfigError

IMAGE = V2Image.make("htpasswd")


def test_entries_written_by_apache_htpasswd_are_accepted(make_auth_app, tmp_path):
    path = write_htpasswd(tmp_path / "users", {"alice": "s3cret ünïcode"})
    assert path.read_text().startswith("alice:$2y$")  # what Debian's htpasswd -B writes
    app = make_auth_app(
        htpasswd={
            "path": str(path),
            "access": [{"accounts": ["alice"], "repositories": ["**"], "actions": ["pull"]}],
        }
    )
    assert app.client.simulate_get("/v2/", headers=basic("alice", "s3cret ünïcode")).status == (
        "200 OK"
    )
    response = app.client.simulate_get("/v2/", headers=basic("alice", "wrong"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="test registry"'
    assert response.json["errors"][0]["code"] == "UNAUTHORIZED"


def test_the_file_is_reread_when_it_changes(make_auth_app, tmp_path):
    path = write_htpasswd(tmp_path / "users", {"alice": "one"})
    app = make_auth_app(
        htpasswd={
            "path": str(path),
            "access": [{"accounts": ["*"], "repositories": ["**"], "actions": ["pull"]}],
        }
    )
    assert app.client.simulate_get("/v2/", headers=basic("alice", "one")).status_code == 200
    assert app.client.simulate_get("/v2/", headers=basic("bob", "two")).status_code == 401
    subprocess.run(["htpasswd", "-bB", str(path), "bob", "two"], check=True, capture_output=True)
    subprocess.run(["htpasswd", "-D", str(path), "alice"], check=True, capture_output=True)
    assert app.client.simulate_get("/v2/", headers=basic("bob", "two")).status_code == 200
    assert app.client.simulate_get("/v2/", headers=basic("alice", "one")).status_code == 401


def test_non_bcrypt_entries_are_ignored_with_a_warning(make_auth_app, tmp_path, caplog):
    path = tmp_path / "users"
    subprocess.run(
        ["htpasswd", "-cbm", str(path), "md5user", "pw"], check=True, capture_output=True
    )
    with caplog.at_level(logging.WARNING):
        app = make_auth_app(htpasswd={"path": str(path)})
    assert "not a bcrypt entry" in caplog.text and "md5user" in caplog.text
    assert app.client.simulate_get("/v2/", headers=basic("md5user", "pw")).status_code == 401


def test_failed_logins_are_logged_without_the_password(make_auth_app, caplog):
    app = make_auth_app()
    with caplog.at_level(logging.WARNING, logger="docker_registry.core.access.htpasswd"):
        response = app.client.simulate_get(
            "/v2/team/app/tags/list",
            headers=basic("reader", "hunter2-guess"),
            remote_addr="192.0.2.7",
        )
        app.client.simulate_get(
            "/v2/", headers=basic("nobody", "pw-of-nobody"), remote_addr="192.0.2.8"
        )
    assert response.status_code == 401
    assert "192.0.2.7" in caplog.text and "'reader'" in caplog.text
    assert "192.0.2.8" in caplog.text and "'nobody'" in caplog.text
    assert "hunter2" not in caplog.text and "pw-of-nobody" not in caplog.text


def test_unknown_accounts_cost_one_bcrypt_check_too(make_auth_app, monkeypatch):
    """Same work whether the account exists or not: the answer time tells nothing."""
    app = make_auth_app()
    checked = []
    real = bcrypt.checkpw

    def counting(password, hashed):
        checked.append(hashed[4:6])  # the cost
        return real(password, hashed)

    monkeypatch.setattr(htpasswd_module.bcrypt, "checkpw", counting)
    app.client.simulate_get("/v2/", headers=basic("reader", "wrong"))
    app.client.simulate_get("/v2/", headers=basic("no-such-account", "wrong"))
    assert len(checked) == 2 and checked[0] == checked[1]

    def once(account):
        start = time.perf_counter()
        app.client.simulate_get("/v2/", headers=basic(account, "wrong"), remote_addr=account)
        return time.perf_counter() - start

    # NOTE: interleaved medians, loose bounds: the cores are shared with other work.
    samples: dict[str, list[float]] = {"reader": [], "no-such-account": []}
    for _ in range(9):
        for account, times in samples.items():
            times.append(once(account))
    known, unknown = (statistics.median(times) for times in samples.values())
    assert 1 / 3 < known / unknown < 3


def test_failed_logins_are_rate_limited_per_address(make_auth_app):
    app = make_auth_app(htpasswd={"max_failed_logins": 3, "failed_login_window": 60})
    for _ in range(3):
        response = app.client.simulate_get(
            "/v2/", headers=basic("reader", "x"), remote_addr="192.0.2.1"
        )
        assert response.status_code == 401
    # locked out, even with the right password; other addresses are not
    for headers in (basic("reader", "x"), basic("reader")):
        response = app.client.simulate_get("/v2/", headers=headers, remote_addr="192.0.2.1")
        assert response.status_code == 429
        assert response.json["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert 0 < int(response.headers["Retry-After"]) <= 60
    response = app.client.simulate_get(
        "/v1/repositories/team/old/tags", headers=basic("reader"), remote_addr="192.0.2.1"
    )
    assert response.status_code == 429 and "error" in response.json
    ok = app.client.simulate_get("/v2/", headers=basic("reader"), remote_addr="192.0.2.2")
    assert ok.status_code == 200


def test_failed_login_window_expires():
    now = [0.0]
    throttle = FailedLogins(2, 10.0, clock=lambda: now[0])
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.retry_after("a") == 10
    now[0] = 10.5
    assert throttle.retry_after("a") == 0


def test_patterns():
    assert compile_pattern("team/*").fullmatch("team/app")
    assert not compile_pattern("team/*").fullmatch("team/app/sub")
    assert compile_pattern("team/**").fullmatch("team/app/sub")
    assert not compile_pattern("team/*").fullmatch("teams/app")
    assert not compile_pattern("team.x/*").fullmatch("teamyx/app")
    assert not compile_pattern("team/*").fullmatch("Team/app")


@pytest.mark.parametrize(
    ("access", "groups", "message"),
    [
        ("nope", None, "expected a list"),
        ([{"accounts": ["a"], "repositories": ["x"], "actions": ["fly"]}], None, "actions"),
        ([{"repositories": ["x"], "actions": ["pull"]}], None, "accounts or groups"),
        ([{"groups": ["g"], "repositories": ["x"], "actions": ["pull"]}], None, "unknown group"),
        ([{"accounts": ["a"], "actions": ["pull"]}], None, "repositories"),
        (
            [{"accounts": ["a"], "repositories": ["x"], "actions": ["pull"], "x": 1}],
            None,
            "unknown",
        ),
        ([], {"g": "alice"}, "list of account"),
    ],
)
def test_access_list_errors_name_the_key(access, groups, message):
    with pytest.raises(ConfigError, match=message):
        AccessList.from_config(access, groups)


def test_config_errors(make_auth_app, tmp_path):
    with pytest.raises(ConfigError, match=r"htpasswd\.path"):
        make_auth_app(htpasswd={"path": ""})
    with pytest.raises(ConfigError, match="cannot read the htpasswd file"):
        make_auth_app(htpasswd={"path": str(tmp_path / "absent")})


def test_catalog_and_search_show_only_what_the_caller_may_pull(make_auth_app):
    app = make_auth_app(search_backend="storage")
    admin = basic("admin")
    for name in ("team/app", "public/app", "secret/x"):
        push_v2(app.client, name, "latest", IMAGE, admin)
    for name, image_id in (("team/old", "c" * 64), ("public/old", "f" * 64)):
        push_v1(app.client, name, "latest", image_id, admin)
    listed = app.client.simulate_get("/v2/_catalog", headers=admin).json["repositories"]
    assert listed == ["public/app", "public/old", "secret/x", "team/app", "team/old"]
    # lister may list, but pull only public/**
    lister = app.client.simulate_get("/v2/_catalog", headers=basic("lister"))
    assert lister.json == {"repositories": ["public/app", "public/old"]}
    paged = app.client.simulate_get("/v2/_catalog", params={"n": "1"}, headers=basic("lister"))
    assert (
        paged.json == {"repositories": ["public/app"]} and "public%2Fapp" in paged.headers["Link"]
    )

    def search(headers):
        body = app.client.simulate_get(
            "/v1/search", params={"q": "", "n": "10"}, headers=headers
        ).json
        return body["num_results"], sorted(item["name"] for item in body["results"])

    # NOTE: the storage backend lists v1 and v2 repositories alike
    assert search({}) == (2, ["public/app", "public/old"])
    assert search(basic("reader")) == (4, ["public/app", "public/old", "team/app", "team/old"])
    assert search(admin) == (5, sorted(listed))
    assert app.client.simulate_get("/v1/search", headers=basic("reader", "bad")).status_code == 401


def test_a_repository_marked_private_over_v1_is_private_on_v2(make_auth_app):
    """The issue's example with htpasswd: anonymous may pull public/**, but a repository
    marked private over v1 answers 401 on v1 tags and v2 manifests/blobs, is not in the
    catalog, and anonymous v2 pushes into it fail."""
    access = [
        {"accounts": ["anonymous"], "repositories": ["public/**"], "actions": ["pull", "catalog"]},
        {"accounts": ["admin"], "repositories": ["**"], "actions": ["pull", "push", "catalog"]},
    ]
    app = make_auth_app(htpasswd={"access": access})
    admin = basic("admin")
    push_v1(app.client, "public/hidden", "latest", "d" * 64, admin)
    push_v2(app.client, "public/hidden", "v2", IMAGE, admin)
    client = app.client
    assert client.simulate_get("/v1/repositories/public/hidden/tags").status_code == 200
    assert client.simulate_get("/v2/public/hidden/manifests/latest").status_code == 200
    response = client.simulate_put(
        "/v1/repositories/public/hidden/properties", body=b'{"access": "private"}', headers=admin
    )
    assert response.status_code == 200
    assert client.simulate_get("/v1/repositories/public/hidden/tags").status_code == 401
    assert client.simulate_get("/v2/public/hidden/manifests/latest").status_code == 401
    assert client.simulate_get("/v2/public/hidden/manifests/v2").status_code == 401
    response = client.simulate_get(f"/v2/public/hidden/blobs/{IMAGE.layer_digest}")
    assert response.status_code == 401
    assert client.simulate_get("/v2/_catalog").json == {"repositories": []}
    assert (
        "public/hidden" in client.simulate_get("/v2/_catalog", headers=admin).json["repositories"]
    )
    assert client.simulate_post("/v2/public/hidden/blobs/uploads/").status_code == 401
    # the admin still reads it
    assert (
        client.simulate_get("/v2/public/hidden/manifests/latest", headers=admin).status_code == 200
    )


def test_v1_deletes_are_subject_to_the_delete_permission_not_to_delete_enabled(make_auth_app):
    app = make_auth_app(delete_enabled=False)
    push_v1(app.client, "team/old", "latest", "e" * 64, basic("admin"))
    url = "/v1/repositories/team/old/tags/latest"
    assert app.client.simulate_delete(url, headers=basic("writer")).status_code == 403
    assert app.client.simulate_delete(url, headers=basic("deleter")).status_code == 200
    # v2 deletes need both
    push_v2(app.client, "team/app", "latest", IMAGE, basic("admin"))
    response = app.client.simulate_delete("/v2/team/app/manifests/latest", headers=basic("deleter"))
    assert response.status_code == 405


def test_hook_offers_htpasswd(make_auth_app):
    from docker_registry.core.plugins import create_plugin_manager
    from docker_registry.core.registry import Registry

    registry = Registry(settings=None, storage=None, plugins=create_plugin_manager())  # type: ignore[arg-type]
    assert {"open", "token", "htpasswd"} <= set(registry.auth_backends())


def test_os_level_file_replacement_keeps_working(make_auth_app, tmp_path):
    """Editors and config management replace the file (new inode): still re-read."""
    path = write_htpasswd(tmp_path / "users", {"alice": "one"})
    app = make_auth_app(
        htpasswd={
            "path": str(path),
            "access": [{"accounts": ["*"], "repositories": ["**"], "actions": ["pull"]}],
        }
    )
    replacement = write_htpasswd(tmp_path / "new", {"carol": "three"})
    os.replace(replacement, path)
    assert app.client.simulate_get("/v2/", headers=basic("carol", "three")).status_code == 200
