"""Delete forms: what they remove, the events they send, and every way a forged or
untimely one is refused (cross-site, read-only, deletes off, two at once)."""

from __future__ import annotations

import json
import threading

import pytest

from docker_registry.core import hookimpl
from docker_registry.core.ops import readonly

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []

    @hookimpl
    def registry_event(self, event, registry):
        self.seen.append((event.kind, event.repository, event.tag))


def token(ui, path: str) -> str:
    page = ui.client.simulate_get(path)
    assert page.status_code == 200, page.text
    return page.cookies["registry_ui_csrf"].value


def post(ui, path: str, csrf: str | None, **headers: str):
    cookie = {"Cookie": f"registry_ui_csrf={csrf}"} if csrf else {}
    return ui.client.simulate_post(
        path, headers={**FORM, **cookie, **headers}, body=f"csrf={csrf or ''}"
    )


def test_delete_a_tag_and_a_manifest(ui):
    events = Events()
    ui.registry.plugins.register(events)
    image = ui.push.image("team/app", "1.0")
    ui.push.manifest("team/app", "stable", image["manifest"])
    csrf = token(ui, "/ui/v2/team/app")
    done = post(ui, "/ui/v2/team/app/tags/1.0/delete", csrf)
    assert done.status_code == 200 and "Deleted tag 1.0 from" in done.text
    assert ui.client.simulate_get("/v2/team/app/tags/list").json["tags"] == ["stable"]
    assert ("tag_delete", "team/app", "1.0") in events.seen
    gone = post(ui, f"/ui/v2/team/app/manifests/{image['digest']}/delete", csrf)
    assert gone.status_code == 200
    assert ui.client.simulate_get(f"/v2/team/app/manifests/{image['digest']}").status_code == 404
    assert ("delete", "team/app", None) in events.seen
    assert ui.client.simulate_get("/v2/team/app/tags/list").json["tags"] == []


def test_delete_v1_tag_and_repository(ui):
    image_id = "c3" * 32
    ui.client.simulate_put(f"/v1/images/{image_id}/json", body=json.dumps({"id": image_id}))
    ui.client.simulate_put(f"/v1/images/{image_id}/layer", body=b"layer")
    for tag in ("a", "b"):
        put = ui.client.simulate_put(f"/v1/repositories/old/app/tags/{tag}", body=f'"{image_id}"')
        assert put.status_code == 200, put.text
    csrf = token(ui, "/ui/v1/old/app")
    assert post(ui, "/ui/v1/old/app/tags/a/delete", csrf).status_code == 200
    assert list(ui.client.simulate_get("/v1/repositories/old/app/tags").json) == ["b"]
    assert post(ui, "/ui/v1/old/app/delete", csrf).status_code == 200
    assert ui.client.simulate_get("/v1/repositories/old/app/tags").status_code == 404
    assert ui.get("/ui/v1/old/app").status_code == 404


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no cookie", "cookie is missing"),
        ("other token", "token does not match"),
        ("foreign origin", "sent from http://evil.example"),
        ("null origin", "sent from null"),
        ("cross-site fetch", "from another site (cross-site)"),
        ("not a form", "expected a form"),
        ("huge form", "too large"),
    ],
)
def test_forged_deletes_are_refused_and_delete_nothing(ui, case, expected):
    ui.push.image("team/app", "1.0")
    csrf = token(ui, "/ui/v2/team/app")
    path = "/ui/v2/team/app/tags/1.0/delete"
    cookie = {"Cookie": f"registry_ui_csrf={csrf}"}
    if case == "no cookie":
        answer = ui.client.simulate_post(path, headers=FORM, body=f"csrf={csrf}")
    elif case == "other token":
        answer = ui.client.simulate_post(path, headers={**FORM, **cookie}, body="csrf=" + "0" * 64)
    elif case == "foreign origin":
        answer = post(ui, path, csrf, Origin="http://evil.example")
    elif case == "null origin":
        answer = post(ui, path, csrf, Origin="null")
    elif case == "cross-site fetch":
        answer = post(ui, path, csrf, **{"Sec-Fetch-Site": "cross-site"})
    elif case == "not a form":
        answer = ui.client.simulate_post(
            path, headers={**cookie, "Content-Type": "application/json"}, body="{}"
        )
    else:
        answer = ui.client.simulate_post(
            path, headers={**FORM, **cookie}, body=f"csrf={csrf}&pad=" + "x" * 10000
        )
    assert answer.status_code == 403, answer.text
    assert expected in answer.text
    assert ui.client.simulate_get("/v2/team/app/tags/list").json["tags"] == ["1.0"]


def test_same_origin_post_passes_the_origin_check(ui):
    ui.push.image("team/app", "1.0")
    csrf = token(ui, "/ui/v2/team/app")
    answer = post(
        ui, "/ui/v2/team/app/tags/1.0/delete", csrf,
        Origin="http://falconframework.org", **{"Sec-Fetch-Site": "same-origin"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text


def test_deletes_off_or_read_only_refuse_the_form(make_ui):
    off = make_ui()
    off.push.image("team/app", "1.0")
    csrf = "ab" * 32
    answer = post(off, "/ui/v2/team/app/tags/1.0/delete", csrf)
    assert answer.status_code == 405 and "Deletes are disabled" in answer.text
    on = make_ui(delete_enabled=True)
    on.push.image("team/app", "1.0")
    csrf = token(on, "/ui/v2/team/app")
    readonly.apply(True)
    try:
        page = on.get("/ui/v2/team/app")
        assert "Delete tag" not in page.text
        answer = post(on, "/ui/v2/team/app/tags/1.0/delete", csrf)
        assert answer.status_code == 405
    finally:
        readonly.apply(False)
    assert on.client.simulate_get("/v2/team/app/tags/list").json["tags"] == ["1.0"]


def test_unknown_targets_are_404_and_bad_digests_400(ui):
    csrf = "cd" * 32
    assert post(ui, "/ui/v2/team/none/tags/x/delete", csrf).status_code == 404
    ui.push.image("team/app", "1.0")
    assert post(ui, "/ui/v2/team/app/tags/nope/delete", csrf).status_code == 404
    assert post(ui, "/ui/v2/team/app/manifests/sha256:zz/delete", csrf).status_code == 400
    missing = "sha256:" + "0" * 64
    assert post(ui, f"/ui/v2/team/app/manifests/{missing}/delete", csrf).status_code == 404
    assert post(ui, "/ui/v1/old/none/tags/x/delete", csrf).status_code == 404
    assert post(ui, "/ui/v1/old/none/delete", csrf).status_code == 404


def test_two_deletes_of_the_same_tag_at_once(ui):
    """Both forms are valid; one deletes, the other finds nothing: never a 5xx."""
    for round_number in range(5):
        tag = f"t{round_number}"
        ui.push.image("team/app", tag, seed=tag)
        csrf = token(ui, "/ui/v2/team/app")
        barrier = threading.Barrier(4)
        statuses: list[int] = []

        def delete(barrier: threading.Barrier, statuses: list[int], path: str, csrf: str):
            barrier.wait()
            statuses.append(post(ui, path, csrf).status_code)

        arguments = (barrier, statuses, f"/ui/v2/team/app/tags/{tag}/delete", csrf)
        threads = [threading.Thread(target=delete, args=arguments) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(status in (200, 404) for status in statuses), statuses
        assert 200 in statuses
        assert tag not in ui.client.simulate_get("/v2/team/app/tags/list").json["tags"]
