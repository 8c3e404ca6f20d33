"""The route table: every v1 route (R1-R27) and v2 route to (kind, repository, action),
path tricks, and agreement with the routers that serve the same paths."""

from __future__ import annotations

import pytest
from authsupport import basic

from docker_registry.core.access.model import (
    CATALOG,
    DELETE,
    IMAGE,
    INVALID,
    LISTING,
    LOGIN,
    OPEN,
    PULL,
    PUSH,
    REGISTRY,
    REPOSITORY,
    UNKNOWN,
)
from docker_registry.core.access.routes import classify, table_rows

ID = "a" * 64

#: (method, path, route label, kind, repository, action), standalone.
TABLE = [
    ("GET", "/", "R1", OPEN, None, None),
    ("GET", "/_ping", "R2", OPEN, None, None),
    ("GET", "/v1/_ping", "R2", OPEN, None, None),
    ("GET", f"/v1/images/{ID}/json", "R3 R5 R8-R10", IMAGE, None, PULL),
    ("HEAD", f"/v1/images/{ID}/layer", "R3 R5 R8-R10", IMAGE, None, PULL),
    ("PUT", f"/v1/images/{ID}/json", "R4 R6 R7", IMAGE, None, PUSH),
    ("PUT", f"/v1/images/{ID}/layer", "R4 R6 R7", IMAGE, None, PUSH),
    ("PUT", f"/v1/images/{ID}/checksum", "R4 R6 R7", IMAGE, None, PUSH),
    ("GET", f"/v1/images/{ID}/ancestry", "R3 R5 R8-R10", IMAGE, None, PULL),
    ("GET", f"/v1/images/{ID}/files", "R3 R5 R8-R10", IMAGE, None, PULL),
    ("GET", f"/v1/images/{ID}/diff", "R3 R5 R8-R10", IMAGE, None, PULL),
    ("GET", "/v1/repositories/ns/repo/tags", "R11", REPOSITORY, "ns/repo", PULL),
    ("GET", "/v1/repositories/ns/repo/tags/t", "R12", REPOSITORY, "ns/repo", PULL),
    ("PUT", "/v1/repositories/ns/repo/tags/t", "R13", REPOSITORY, "ns/repo", PUSH),
    ("DELETE", "/v1/repositories/ns/repo/tags/t", "R14", REPOSITORY, "ns/repo", DELETE),
    ("GET", "/v1/repositories/ns/repo/tags/t/json", "R15", REPOSITORY, "ns/repo", PULL),
    ("GET", "/v1/repositories/ns/repo/json", "R16", REPOSITORY, "ns/repo", PULL),
    ("GET", "/v1/repositories/ns/repo/properties", "R17", REPOSITORY, "ns/repo", PULL),
    ("PUT", "/v1/repositories/ns/repo/properties", "R18", REPOSITORY, "ns/repo", PUSH),
    ("DELETE", "/v1/repositories/ns/repo/", "R19", REPOSITORY, "ns/repo", DELETE),
    ("DELETE", "/v1/repositories/ns/repo/tags", "R19", REPOSITORY, "ns/repo", DELETE),
    ("GET", "/v1/users", "R20", OPEN, None, None),
    ("POST", "/v1/users/", "R20", OPEN, None, None),
    ("PUT", "/v1/users/bob/", "R21", OPEN, None, None),
    ("PUT", "/v1/repositories/ns/repo/", "R22", REPOSITORY, "ns/repo", PUSH),
    ("PUT", "/v1/repositories/ns/repo", "R22", REPOSITORY, "ns/repo", PUSH),
    ("PUT", "/v1/repositories/ns/repo/images", "R23", REPOSITORY, "ns/repo", PUSH),
    ("GET", "/v1/repositories/ns/repo/images", "R24", REPOSITORY, "ns/repo", PULL),
    ("DELETE", "/v1/repositories/ns/repo/images", "R25", REPOSITORY, "ns/repo", DELETE),
    ("PUT", "/v1/repositories/ns/repo/auth", "R26", OPEN, None, None),
    ("GET", "/v1/search", "R27", LISTING, None, None),
    ("GET", "/v1/repositories/ubuntu/tags", "R11", REPOSITORY, "library/ubuntu", PULL),
    ("GET", "/v2/", "v2 ping", LOGIN, None, None),
    ("GET", "/v2", "v2 ping", LOGIN, None, None),
    ("GET", "/v2/_catalog", "v2 catalog", REGISTRY, None, CATALOG),
    ("GET", "/v2/a/b/manifests/t", "v2 manifests", REPOSITORY, "a/b", PULL),
    ("HEAD", "/v2/a/b/manifests/t", "v2 manifests", REPOSITORY, "a/b", PULL),
    ("PUT", "/v2/a/b/manifests/t", "v2 manifests", REPOSITORY, "a/b", PUSH),
    ("DELETE", "/v2/a/b/manifests/t", "v2 manifests", REPOSITORY, "a/b", DELETE),
    ("POST", "/v2/a/b/blobs/uploads/", "v2 uploads", REPOSITORY, "a/b", PUSH),
    ("PATCH", "/v2/a/b/blobs/uploads/u", "v2 uploads", REPOSITORY, "a/b", PUSH),
    ("PUT", "/v2/a/b/blobs/uploads/u", "v2 uploads", REPOSITORY, "a/b", PUSH),
    ("GET", "/v2/a/b/blobs/uploads/u", "v2 uploads", REPOSITORY, "a/b", PUSH),
    ("DELETE", "/v2/a/b/blobs/uploads/u", "v2 uploads", REPOSITORY, "a/b", PUSH),
    ("GET", "/v2/a/b/blobs/sha256:0", "v2 blobs", REPOSITORY, "a/b", PULL),
    ("DELETE", "/v2/a/b/blobs/sha256:0", "v2 blobs", REPOSITORY, "a/b", DELETE),
    ("GET", "/v2/a/b/tags/list", "v2 tags", REPOSITORY, "a/b", PULL),
    ("GET", "/v2/a/b/referrers/sha256:0", "v2 referrers", REPOSITORY, "a/b", PULL),
    ("GET", "/v2/alpine/manifests/t", "v2 manifests", REPOSITORY, "library/alpine", PULL),
    ("GET", "/v2/a/b/c/blobs/uploads/", "v2 uploads", REPOSITORY, "a/b/c", PUSH),
]


@pytest.mark.parametrize(("method", "path", "label", "kind", "repository", "action"), TABLE)
def test_every_route_is_in_the_table(method, path, label, kind, repository, action):
    target = classify(method, path, standalone=True)
    assert (target.route, target.kind, target.repository, target.action) == (
        label,
        kind,
        repository,
        action,
    )


def test_index_routes_only_when_standalone():
    assert classify("PUT", "/v1/repositories/ns/repo/", standalone=False).kind == UNKNOWN
    assert classify("GET", "/v1/repositories/ns/repo/images", standalone=False).kind == UNKNOWN
    assert classify("PUT", "/v1/users/bob/", standalone=False).kind == UNKNOWN
    target = classify("DELETE", "/v1/repositories/ns/repo/", standalone=False)
    assert (target.route, target.repository) == ("R19", "ns/repo")


@pytest.mark.parametrize(
    ("method", "path", "kind", "action"),
    [
        # names the APIs refuse: reads pass (400 follows), writes have no grant to match
        ("PUT", "/v2/a/../b/manifests/t", INVALID, PUSH),
        ("GET", "/v2/a/../b/manifests/t", INVALID, PULL),
        ("PUT", "/v2/A/b/manifests/t", INVALID, PUSH),
        ("PUT", "/v2/a//b/manifests/t", INVALID, PUSH),
        ("PUT", "/v1/repositories/a/../tags/t", INVALID, PUSH),
        ("PUT", "/v1/repositories/a/./b/tags/t", INVALID, PUSH),
        # no route: reads pass (404/405), writes are unknown
        ("PUT", "/v2/a/b/manifests/t/", UNKNOWN, PUSH),
        ("POST", "/v2/a/b/manifests/t", UNKNOWN, PUSH),
        ("DELETE", "/v2/_catalog", UNKNOWN, PUSH),
        ("PUT", "/v1/images/x/y/json", UNKNOWN, PUSH),
        ("POST", "/anything", UNKNOWN, PUSH),
        ("GET", "/anything", UNKNOWN, PULL),
    ],
)
def test_path_tricks(method, path, kind, action):
    target = classify(method, path, standalone=True)
    assert (target.kind, target.action, target.repository) == (kind, action, None)


def test_v1_encoded_names_are_the_decoded_name():
    # the v1 name is percent-decoded by the server before routing: the table sees it
    # exactly as the sink does, and rules see the decoded name
    target = classify("GET", "/v1/repositories/ns/a b/tags", standalone=True)
    assert target.repository == "ns/a b"
    assert (target.namespace, target.quoted) == ("ns", "a+b")


def test_table_rows_cover_r1_to_r27():
    labels = " ".join(label for label, *_ in table_rows())
    for number in [1, 2, *range(11, 28)]:
        assert f"R{number}" in labels
    assert "R3 R5 R8-R10" in labels and "R4 R6 R7" in labels


# -- the routers confirm what the table decided --------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v2/team/app/manifests/latest",
        "/v2/team%2Fapp/manifests/latest",  # an encoded slash is a slash
        "/v2/Team/app/manifests/latest",
        "/v2/team/app/../secret/manifests/latest",
        "/v2/team/./app/manifests/latest",
        "/v2/team/app/manifests/latest/",
        "/v1/repositories/team/../secret/tags",
        "/v1/repositories/team/app/tags\n",
        "/v1/repositories/TEAM/app/tags",
    ],
)
def test_path_tricks_get_no_content_from_a_private_repository(make_auth_app, path):
    app = make_auth_app()
    before = list(app.storage.walk("/"))
    response = app.client.simulate_get(path)
    assert response.status_code in (400, 401, 404), (path, response.status_code)
    response = app.client.simulate_put(path, body=b"{}")
    assert response.status_code in (400, 401, 404, 405), (path, response.status_code)
    assert list(app.storage.walk("/")) == before, path


def test_a_router_acting_on_another_name_than_decided_is_refused(make_auth_app, monkeypatch):
    """If the table and a router ever disagree on the name, the router's confirm step
    refuses instead of serving (simulated by a table that reads another name)."""
    from docker_registry.core.access import control

    app = make_auth_app()
    real = control.classify

    def skewed(method, path, standalone):
        return real(method, path.replace("team/app", "public/app"), standalone=standalone)

    monkeypatch.setattr(control, "classify", skewed)
    response = app.client.simulate_get("/v2/team/app/tags/list", headers=basic("lister"))
    assert response.status_code == 403
    assert response.json["errors"][0]["code"] == "DENIED"
    response = app.client.simulate_get("/v1/repositories/team/app/tags", headers=basic("lister"))
    assert response.status_code == 403
