"""v1 image ids scoped to the repositories holding them (v1/image_index.py,
v1/image_access.py): the index is written by tags and image lists, read by every image
route, built from older data once, and never loses a record to a concurrent push."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import threading

import falcon.testing
from authsupport import basic
from content import push_v1, tar_of
from test_bearer import Bearer, access, bearer_client, certificate, make_key

from docker_registry.core.app import create_app
from docker_registry.core.config import Settings
from docker_registry.core.storage import Storage
from docker_registry.core.v1 import layout
from docker_registry.core.v1.image_index import ImageIndex
from docker_registry.drivers.file import FileDriver
from docker_registry.testing import v1_image_index

BASE, TEAM_TOP, SECRET_TOP = "1" * 64, "2" * 64, "3" * 64


def put_image(client, image_id: str, headers: dict[str, str], parent: str | None = None):
    """PUT json, layer and checksum of one image; the json answer is returned."""
    data = {"id": image_id, **({"parent": parent} if parent else {})}
    body = json.dumps(data).encode()
    answer = client.simulate_put(f"/v1/images/{image_id}/json", body=body, headers=headers)
    if answer.status_code != 200:
        return answer
    layer = tar_of({"f": image_id.encode()})
    checksum = "sha256:" + hashlib.sha256(body + b"\n" + layer).hexdigest()
    assert (
        client.simulate_put(f"/v1/images/{image_id}/layer", body=layer, headers=headers).status_code
        == 200
    )
    assert (
        client.simulate_put(
            f"/v1/images/{image_id}/checksum",
            headers={**headers, "X-Docker-Checksum-Payload": checksum},
        ).status_code
        == 200
    )
    return answer


def tag(client, name: str, tag_name: str, image_id: str, headers: dict[str, str]):
    return client.simulate_put(
        f"/v1/repositories/{name}/tags/{tag_name}", body=json.dumps(image_id), headers=headers
    )


def file_storage(root) -> Storage:
    return Storage(FileDriver(storage_path=str(root)))


def holders(storage: Storage, image_id: str) -> list[str]:
    return sorted(ImageIndex(storage).holders(image_id))


def test_an_image_and_its_ancestry_belong_to_the_repository_tagged(make_auth_app):
    app = make_auth_app()
    writer, admin = basic("writer"), basic("admin")
    assert put_image(app.client, BASE, writer).status_code == 200
    assert put_image(app.client, TEAM_TOP, writer, parent=BASE).status_code == 200
    # an image no repository holds yet is read by no one but an admin
    assert app.client.simulate_get(f"/v1/images/{BASE}/json", headers=writer).status_code == 403
    assert tag(app.client, "team/app", "latest", TEAM_TOP, writer).status_code == 200
    assert holders(app.storage, BASE) == holders(app.storage, TEAM_TOP) == ["team/app"]
    for image_id in (BASE, TEAM_TOP):
        for route in ("json", "layer", "ancestry", "files"):
            path = f"/v1/images/{image_id}/{route}"
            assert app.client.simulate_get(path, headers=basic("reader")).status_code == 200
            assert app.client.simulate_get(path, headers=basic("lister")).status_code == 403
            assert app.client.simulate_get(path).status_code == 401
    # the same base, built on by an admin in a repository the writer may not pull
    assert put_image(app.client, SECRET_TOP, admin, parent=BASE).status_code == 200
    assert tag(app.client, "secret/app", "latest", SECRET_TOP, admin).status_code == 200
    assert holders(app.storage, BASE) == ["secret/app", "team/app"]
    assert (
        app.client.simulate_get(f"/v1/images/{SECRET_TOP}/json", headers=writer).status_code == 403
    )
    assert app.client.simulate_get(f"/v1/images/{BASE}/json", headers=writer).status_code == 200
    # an absent image is still a 404 to anyone allowed a pull
    missing = app.client.simulate_get(f"/v1/images/{'9' * 64}/json", headers=basic("reader"))
    assert missing.status_code == 404


def test_hostile_claims_are_refused_and_change_nothing(make_auth_app):
    app = make_auth_app()
    admin, writer = basic("admin"), basic("writer")
    push_v1(app.client, "secret/old", "latest", SECRET_TOP, admin)
    push_v1(app.client, "team/app", "latest", TEAM_TOP, writer)
    before = {info.path: app.storage.get_content(info.path) for info in app.storage.walk("/")}
    attempts = [
        tag(app.client, "team/app", "mine", SECRET_TOP, writer),
        app.client.simulate_put(
            "/v1/repositories/team/app/",
            body=json.dumps([{"id": TEAM_TOP}, {"id": SECRET_TOP}]),
            headers=writer,
        ),
        # a child of the secret image, to be tagged in team/app and read with its parent
        put_image(app.client, BASE, writer, parent=SECRET_TOP),
        # overwriting the secret image's bytes
        app.client.simulate_put(f"/v1/images/{SECRET_TOP}/json", body=b"{}", headers=writer),
        app.client.simulate_put(f"/v1/images/{SECRET_TOP}/layer", body=b"x", headers=writer),
        app.client.simulate_put(
            f"/v1/images/{SECRET_TOP}/checksum",
            headers={**writer, "X-Docker-Checksum-Payload": "sha256:" + "0" * 64},
        ),
    ]
    assert [answer.status_code for answer in attempts] == [403, 403, 400, 403, 403, 403]
    assert SECRET_TOP in attempts[0].json["error"]
    assert "unauthorized parent" in attempts[2].json["error"]
    after = {info.path: app.storage.get_content(info.path) for info in app.storage.walk("/")}
    assert after == before
    assert holders(app.storage, SECRET_TOP) == ["secret/old"]
    # malformed names and ids never reach the index nor answer 5xx
    for path in (
        "/v1/images/..%2F..%2Fsecret/json",
        f"/v1/images/{SECRET_TOP.upper()}/json",
        f"/v1/images/{SECRET_TOP}%00/layer",
        "/v1/images/" + "a" * 300 + "/ancestry",
    ):
        answer = app.client.simulate_get(path, headers=writer)
        assert answer.status_code in (400, 403, 404), (path, answer.status_code)
    listed = app.client.simulate_put(
        "/v1/repositories/team/app/", body=b'[{"id": "../../x"}]', headers=writer
    )
    assert listed.status_code == 400


def test_data_written_before_the_index_is_scanned_once(make_auth_app, tmp_path):
    storage = file_storage(tmp_path / "storage")
    old = create_app(Settings.from_mapping({"standalone": True}), storage=storage)
    client = falcon.testing.TestClient(old)
    push_v1(client, "team/old", "latest", TEAM_TOP, {})
    push_v1(client, "secret/old", "latest", SECRET_TOP, {})
    put_image(client, BASE, {})
    listed = client.simulate_put("/v1/repositories/team/listed/", body=json.dumps([{"id": BASE}]))
    assert listed.status_code == 200
    # the open backend keeps records but never pays for a scan: it reads no index
    assert not storage.exists(layout.image_index_scanned_path())
    assert storage.exists(layout.image_holder_path(TEAM_TOP, "team", "old"))
    # as a 0.9.1 tree (or this registry before the index) leaves it: no index at all
    for info in list(storage.walk(layout.image_index_path())):
        storage.delete(info.path)
    assert not storage.exists(layout.image_index_scanned_path())

    app = make_auth_app(storage=storage)
    reader = basic("reader")
    assert app.client.simulate_get(f"/v1/images/{TEAM_TOP}/json", headers=reader).status_code == 200
    assert app.client.simulate_get(f"/v1/images/{BASE}/json", headers=reader).status_code == 200
    refused = app.client.simulate_get(f"/v1/images/{SECRET_TOP}/layer", headers=reader)
    assert refused.status_code == 403
    assert storage.exists(layout.image_index_scanned_path())
    assert holders(storage, BASE) == ["team/listed"]
    assert holders(storage, SECRET_TOP) == ["secret/old"]
    # once scanned, older data written meanwhile is not picked up again (documented)
    storage.delete(layout.image_holder_path(BASE, "team", "listed"))
    assert holders(storage, BASE) == []


def test_concurrent_pushes_of_one_image_into_two_repositories_both_hold_it(tmp_path):
    """Two registries (as two processes would) on one file storage; each tags the same
    images into its own repository at the same moment."""
    storage = file_storage(tmp_path / "storage")
    clients = [
        falcon.testing.TestClient(
            create_app(Settings.from_mapping({"standalone": True}), storage=storage)
        )
        for _ in range(2)
    ]
    ids = [f"{n:064x}" for n in range(1, 13)]
    for image_id in ids:
        assert put_image(clients[0], image_id, {}).status_code == 200
    start = threading.Barrier(2)
    failures: list[object] = []

    def push(client, repository: str) -> None:
        start.wait()
        for image_id in ids:
            answer = tag(client, repository, image_id[-8:], image_id, {})
            if answer.status_code != 200:
                failures.append((repository, image_id, answer.status_code))

    threads = [
        threading.Thread(target=push, args=(client, name))
        for client, name in zip(clients, ("team/one", "team/two"), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    for image_id in ids:
        assert holders(storage, image_id) == ["team/one", "team/two"], image_id


def test_bearer_tokens_read_only_images_of_their_repositories(tmp_path):
    key = make_key("ec")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(certificate(key))
    bearer = Bearer(bearer_client(tmp_path, rootcertbundle=str(bundle)), key, "ec")
    pusher = bearer.token(access=access("team/app", "pull", "push"))
    headers = {"Authorization": f"Bearer {pusher}"}
    assert put_image(bearer.client, TEAM_TOP, headers).status_code == 200
    assert tag(bearer.client, "team/app", "latest", TEAM_TOP, headers).status_code == 200
    reader = bearer.token(access=access("team/app", "pull"))
    other = bearer.token(access=access("team/other", "pull"))
    assert bearer.request("GET", f"/v1/images/{TEAM_TOP}/json", reader).status_code == 200
    refused = bearer.request("GET", f"/v1/images/{TEAM_TOP}/layer", other)
    assert refused.status_code == 403
    assert refused.json == {
        "error": f"image {TEAM_TOP}: no repository holding it allows you to pull"
    }


def _legacy_tree(storage: Storage) -> None:
    """v1 data as a registry without the index left it."""
    client = falcon.testing.TestClient(
        create_app(Settings.from_mapping({"standalone": True}), storage=storage)
    )
    push_v1(client, "team/old", "latest", TEAM_TOP, {})
    for info in list(storage.walk(layout.image_index_path())):
        storage.delete(info.path)


def test_processes_reading_first_at_once_scan_once(tmp_path):
    storage = file_storage(tmp_path / "storage")
    _legacy_tree(storage)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(
            target=v1_image_index.first_read,
            args=(str(tmp_path / "storage"), str(tmp_path / "locks"), TEAM_TOP, results),
        )
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    answers = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    assert sum(scans for scans, _ in answers) == 1, answers
    assert [holders for _, holders in answers] == [["team/old"]] * 4


def test_processes_recording_the_same_images_lose_no_record(tmp_path):
    storage = file_storage(tmp_path / "storage")
    ids = [f"{n:064x}" for n in range(100, 140)]
    repositories = ["one", "two", "three", "four"]
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=v1_image_index.record_many,
            args=(str(tmp_path / "storage"), str(tmp_path / "locks"), "team", name, ids),
        )
        for name in repositories
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    expected = sorted(f"team/{name}" for name in repositories)
    assert [holders(storage, image_id) for image_id in ids] == [expected] * len(ids)
