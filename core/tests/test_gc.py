"""Garbage collection (ops/gc.py) and ``du`` on the file driver: what is kept, what is
swept, and that a collection racing pushes never breaks an acknowledged manifest."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from types import SimpleNamespace

import pytest

from docker_registry.core.coordination import LocalCoordinator, LockTimeout
from docker_registry.core.ops import gc_scan, gc_sweep
from docker_registry.core.ops.du import disk_usage, format_usage
from docker_registry.core.ops.gc import GcOptions, collect_garbage, run_gc
from docker_registry.core.storage import Storage
from docker_registry.core.v1 import layout as v1_layout
from docker_registry.core.v2 import layout
from docker_registry.core.v2.blobs import BlobStore
from docker_registry.core.v2.bridge import V1Bridge
from docker_registry.core.v2.errors import ManifestBlobUnknown
from docker_registry.core.v2.manifests import ManifestStore
from docker_registry.core.v2.mediatypes import OCI_INDEX, OCI_MANIFEST
from docker_registry.drivers.file import FileDriver

LATER = 2 * 3600.0  # seconds: "now" for a collection that finds everything old


@pytest.fixture
def storage(tmp_path):
    return Storage(FileDriver(storage_path=str(tmp_path / "data")))


@pytest.fixture
def stores(storage):
    bridge = V1Bridge(storage)
    blobs = BlobStore(storage, bridge)
    return SimpleNamespace(blobs=blobs, manifests=ManifestStore(storage, blobs, bridge, 0))


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def put_blob(storage: Storage, blobs: BlobStore, name: str, data: bytes) -> str:
    from docker_registry.core.v2.digests import parse_digest

    digest = digest_of(data)
    parsed = parse_digest(digest)
    storage.put_content(layout.blob_data(parsed.algorithm, parsed.hex), data)
    blobs.link(name, parsed)
    return digest


def image_manifest(config: str, layers: list[str], subject: str | None = None) -> bytes:
    doc: dict = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config,
            "size": 1,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": 1}
            for d in layers
        ],
    }
    if subject:
        doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
    return json.dumps(doc).encode()


def push_image(stores, storage, name, tag, *layer_bytes: bytes, config=b"{}", subject=None):
    config_digest = put_blob(storage, stores.blobs, name, config)
    layers = [put_blob(storage, stores.blobs, name, data) for data in layer_bytes]
    data = image_manifest(config_digest, layers, subject)
    manifest = stores.manifests.put(name, tag or digest_of(data), data, OCI_MANIFEST)
    return str(manifest.digest), layers


def blob_exists(storage, digest: str) -> bool:
    algorithm, _, hex_digest = digest.partition(":")
    return storage.exists(layout.blob_data(algorithm, hex_digest))


def run(storage, **options):
    now = options.pop("now", time.time() + LATER)
    return collect_garbage(storage, GcOptions(**options), now=now)


# -- v2 ---------------------------------------------------------------------------------


def test_unreferenced_old_blob_is_removed_with_its_link(storage, stores):
    manifest, layers = push_image(stores, storage, "app", "v1", b"layer-a")
    orphan = put_blob(storage, stores.blobs, "app", b"orphan bytes")

    report = run(storage)

    assert not blob_exists(storage, orphan)
    assert not stores.blobs.linked(
        "app", __import__("docker_registry.core.v2.digests", fromlist=["x"]).parse_digest(orphan)
    )
    assert all(blob_exists(storage, d) for d in [manifest, *layers])
    assert report.blobs == 1 and report.bytes_freed == len(b"orphan bytes")
    assert report.links == 1  # the repository's link to the deleted blob
    assert gc_scan.scan_quarantine(storage) == {}


def test_blob_younger_than_the_grace_period_is_kept(storage, stores):
    orphan = put_blob(storage, stores.blobs, "app", b"just uploaded, manifest coming")

    report = run(storage, now=time.time(), grace=3600)

    assert blob_exists(storage, orphan)
    assert report.blobs == 0


def test_old_blob_just_mounted_into_a_repository_is_kept(storage, stores):
    from docker_registry.core.v2.digests import parse_digest

    orphan = put_blob(storage, stores.blobs, "old", b"shared base")
    algorithm, _, hex_digest = orphan.partition(":")
    path = layout.blob_data(algorithm, hex_digest)
    link = layout.layer_link("old", algorithm, hex_digest)
    old = time.time() - 2 * LATER
    root = storage.driver.storage_path  # type: ignore[attr-defined]
    import os

    os.utime(root + path, (old, old))
    os.utime(root + link, (old, old))
    stores.blobs.mount("new", parse_digest(orphan), None)  # a fresh link: a push in progress

    report = run(storage, now=time.time(), grace=3600)

    assert blob_exists(storage, orphan) and report.blobs == 0


def test_dry_run_lists_and_changes_nothing(storage, stores):
    orphan = put_blob(storage, stores.blobs, "app", b"orphan")
    before = sorted(info.path for info in storage.walk("/"))

    report = run(storage, dry_run=True)

    assert sorted(info.path for info in storage.walk("/")) == before
    assert f"would remove blob {orphan} (6 bytes)" in report.lines
    assert report.blobs == 1 and report.bytes_freed == 6


def test_untagged_manifests_stay_unless_asked(storage, stores):
    untagged, (only_untagged, shared) = push_image(stores, storage, "app", None, b"mine", b"shared")
    tagged, _ = push_image(stores, storage, "app", "v1", b"shared", config=b'{"a":1}')

    report = run(storage)
    assert report.blobs == 0 and blob_exists(storage, only_untagged)

    report = run(storage, delete_untagged=True)

    assert report.manifests == 1
    assert not blob_exists(storage, untagged) and not blob_exists(storage, only_untagged)
    assert blob_exists(storage, shared) and blob_exists(storage, tagged)
    assert stores.manifests.get("app", "v1")[2] == stores.manifests.resolve("app", "v1")


def test_index_children_and_referrers_of_kept_subjects_are_kept(storage, stores):
    child, child_layers = push_image(stores, storage, "app", None, b"arm64 layer")
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": 1}],
        }
    ).encode()
    stores.manifests.put("app", "multi", index, OCI_INDEX)
    signature, sig_layers = push_image(
        stores, storage, "app", None, b"signature", config=b'{"sig":1}', subject=child
    )
    from docker_registry.core.v2.referrers import ReferrerStore

    ReferrerStore(storage, stores.manifests).add(
        "app",
        stores.manifests.put(
            "app",
            signature,
            storage.get_content(layout.blob_data("sha256", signature.partition(":")[2])),
            OCI_MANIFEST,
        ),
    )
    orphan_sig, orphan_layers = push_image(
        stores,
        storage,
        "app",
        None,
        b"dangling signature",
        config=b'{"x":2}',
        subject=digest_of(b"no such subject"),
    )

    report = run(storage, delete_untagged=True)

    for kept in (child, *child_layers, signature, *sig_layers):
        assert blob_exists(storage, kept), kept
    assert not blob_exists(storage, orphan_sig) and not blob_exists(storage, orphan_layers[0])
    assert report.manifests == 1


def test_link_to_missing_data_is_removed(storage, stores):
    from docker_registry.core.v2.digests import parse_digest

    missing = parse_digest(digest_of(b"never stored"))
    stores.blobs.link("app", missing)
    push_image(stores, storage, "app", "v1", b"layer")

    report = run(storage)

    assert not stores.blobs.linked("app", missing)
    assert report.links == 1


def test_expired_upload_sessions_go_fresh_ones_stay(storage, stores):
    storage.put_content(layout.upload_chunk("app", "old-session", 0, 5, "t"), b"12345")
    report = run(storage, now=time.time() + 8 * 24 * 3600)
    assert report.uploads == 1 and report.bytes_freed == 5
    assert not storage.exists(layout.upload_dir("app", "old-session"))

    storage.put_content(layout.upload_chunk("app", "fresh", 0, 5, "t"), b"12345")
    assert run(storage).uploads == 0
    assert storage.exists(layout.upload_dir("app", "fresh"))


def test_quarantine_left_by_an_interrupted_run_is_put_back(storage, stores):
    _, layers = push_image(stores, storage, "app", "v1", b"layer")
    assert gc_sweep.quarantine(storage, layers[0])
    assert not blob_exists(storage, layers[0])

    run(storage)

    assert blob_exists(storage, layers[0])
    assert gc_scan.scan_quarantine(storage) == {}


def test_manifest_pushed_during_the_collection_gets_its_blobs_back(storage, stores):
    orphan = put_blob(storage, stores.blobs, "app", b"layer pushed before, manifest during gc")
    config = put_blob(storage, stores.blobs, "app", b"{}")
    pushed = []

    def progress(phase, done, total):
        # After the first mark, before the quarantine: the worst moment for a push.
        if phase == "repositories" and done == total and not pushed:
            data = image_manifest(config, [orphan])
            pushed.append(stores.manifests.put("app", "late", data, OCI_MANIFEST))

    report = collect_garbage(storage, GcOptions(), progress, now=time.time() + LATER)

    assert pushed and blob_exists(storage, orphan) and blob_exists(storage, config)
    assert report.restored == 2 and report.blobs == 0


def test_manifest_put_refuses_a_blob_quarantined_after_its_first_check(storage, stores):
    orphan = put_blob(storage, stores.blobs, "app", b"layer")
    config = put_blob(storage, stores.blobs, "app", b"{}")
    blobs = stores.blobs
    original = blobs.exists
    checked = []

    def exists_then_collected(digest, **options):
        answer = original(digest, **options)
        if str(digest) == orphan and not checked:
            checked.append(digest)
            gc_sweep.quarantine(storage, orphan)  # a collection strikes right after the check
        return answer

    blobs.exists = exists_then_collected  # type: ignore[method-assign]
    with pytest.raises(ManifestBlobUnknown) as refused:
        stores.manifests.put("app", "v1", image_manifest(config, [orphan]), OCI_MANIFEST)
    assert checked and "removed by garbage collection" in refused.value.description
    assert "v1" not in stores.manifests.tags("app")


def test_manifest_whose_own_blob_is_parked_still_keeps_its_layers(storage, stores):
    # A client pushes again the bytes of a deleted image: every blob, the manifest's own
    # included, is old garbage when the collection marks.
    layer = put_blob(storage, stores.blobs, "app", b"layer of a deleted image")
    config = put_blob(storage, stores.blobs, "app", b"{}")
    data = image_manifest(config, [layer])
    stores.manifests.put("app", "old", data, OCI_MANIFEST)
    stores.manifests.delete("app", digest_of(data))
    pushed = []

    def progress(phase, done, total):
        if phase == "repositories" and done == total and not pushed:
            pushed.append(stores.manifests.put("app", "again", data, OCI_MANIFEST))

    report = collect_garbage(
        storage, GcOptions(delete_untagged=True), progress, now=time.time() + LATER
    )

    assert pushed and report.blobs == 0
    for digest in (digest_of(data), config, layer):
        assert blob_exists(storage, digest), digest


def test_manifest_put_writes_its_own_blob_again_when_it_was_parked(storage, stores):
    layer = put_blob(storage, stores.blobs, "app", b"layer")
    config = put_blob(storage, stores.blobs, "app", b"{}")
    data = image_manifest(config, [layer])
    storage.put_content(layout.blob_data("sha256", digest_of(data).partition(":")[2]), data)
    original = stores.blobs.exists
    parked = []

    def exists_then_collected(digest, **options):
        if not parked:
            parked.append(gc_sweep.quarantine(storage, digest_of(data)))
        return original(digest, **options)

    stores.blobs.exists = exists_then_collected  # type: ignore[method-assign]
    stores.manifests.put("app", "v1", data, OCI_MANIFEST)

    assert parked == [True]
    assert storage.get_content(layout.blob_data("sha256", digest_of(data)[7:])) == data


@pytest.mark.parametrize(
    ("delete_untagged", "grace"),
    # NOTE: with delete_untagged a revision is a root only through its tag, written last
    # by a push: the grace period must outlast that gap (milliseconds). Without it,
    # revisions are roots and the manifest store's re-check alone keeps pushes safe.
    [(False, 0.0), (True, 0.5)],
    ids=["revisions-are-roots-grace-0", "delete-untagged-grace-0.5s"],
)
def test_collections_racing_pushes_never_break_an_acknowledged_manifest(
    storage, stores, delete_untagged, grace
):
    from docker_registry.core.v2.digests import parse_digest

    # Blobs every pusher reuses; each pusher deletes its older images, so that these
    # become garbage now and then, and are found by a mount and named again.
    contents = [f"base {i}".encode() for i in range(6)] + [b"{}"]
    shared = [put_blob(storage, stores.blobs, "seed", data) for data in contents[:6]]
    config = put_blob(storage, stores.blobs, "seed", contents[6])
    by_digest = dict(zip([*shared, config], contents, strict=True))
    acknowledged: dict[tuple[str, str], bytes] = {}
    stop = threading.Event()
    errors: list[BaseException] = []
    freed = []

    def pusher(index: int) -> None:
        name = f"repo{index}"
        mine: list[tuple[str, bytes]] = []
        n = 0
        while not stop.is_set():
            n += 1
            layers = [shared[(index + n) % 6], shared[(index * 2 + n + 1) % 6]]
            data = image_manifest(config, layers) + b" " * (index * 1000 + n)
            try:
                for digest in [config, *layers]:
                    if not stores.blobs.mount(name, parse_digest(digest), None):
                        put_blob(storage, stores.blobs, name, by_digest[digest])
                stores.manifests.put(name, f"t{n}", data, OCI_MANIFEST)
                acknowledged[(name, f"t{n}")] = data
                mine.append((f"t{n}", data))
            except ManifestBlobUnknown:
                pass  # refused, not acknowledged: the client pushes again
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return
            if len(mine) > 2:
                tag, old = mine.pop(0)
                del acknowledged[(name, tag)]
                stores.manifests.delete(name, digest_of(old))

    threads = [threading.Thread(target=pusher, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(15):
            options = GcOptions(grace=grace, delete_untagged=delete_untagged)
            freed.append(collect_garbage(storage, options, now=time.time()).blobs)
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors
    assert len(acknowledged) >= 4 and sum(freed) > 0
    for (name, tag), data in acknowledged.items():
        got, _, _ = stores.manifests.get(name, tag)
        assert got == data
        doc = json.loads(data)
        for digest in [
            digest_of(data),
            doc["config"]["digest"],
            *(d["digest"] for d in doc["layers"]),
        ]:
            assert blob_exists(storage, digest), (name, tag, digest)


# -- v1 ---------------------------------------------------------------------------------


def put_v1_image(storage, image_id, parent=None, layer=b"v1 layer"):
    ancestry = [image_id] + ([parent] if parent else [])
    if parent:
        ancestry += json.loads(storage.get_content(v1_layout.image_ancestry_path(parent)))[1:]
    storage.put_content(v1_layout.image_json_path(image_id), json.dumps({"id": image_id}).encode())
    storage.put_content(v1_layout.image_ancestry_path(image_id), json.dumps(ancestry).encode())
    storage.put_content(v1_layout.image_layer_path(image_id), layer)


def test_v1_images_reached_by_tags_or_index_stay_with_their_ancestry(storage):
    base, top, indexed, orphan = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)
    put_v1_image(storage, base)
    put_v1_image(storage, top, parent=base)
    put_v1_image(storage, indexed)
    put_v1_image(storage, orphan, layer=b"orphan layer")
    storage.put_content(v1_layout.tag_path("library", "ubuntu", "latest"), top.encode())
    storage.put_content(
        v1_layout.index_images_path("library", "ubuntu"), json.dumps([{"id": indexed}]).encode()
    )

    report = run(storage)

    for kept in (base, top, indexed):
        assert storage.exists(v1_layout.image_layer_path(kept))
    assert not storage.exists(v1_layout.image_path(orphan))
    assert report.v1_images == 1 and report.bytes_freed > len(b"orphan layer")


def test_v1_layers_served_through_the_bridge_stay(storage, stores):
    image = "e" * 64
    put_v1_image(storage, image, layer=b"bridged layer")
    storage.put_content(v1_layout.tag_path("library", "legacy", "v1"), image.encode())
    data, digest = stores.manifests.bridge.manifest("legacy", "v1")
    storage.delete(v1_layout.tag_path("library", "legacy", "v1"))  # only v2 reaches it now

    run(storage)

    assert storage.exists(v1_layout.image_layer_path(image))
    assert stores.manifests.get("legacy", str(digest))[0] == data


# -- hostile storage -------------------------------------------------------------------


def test_garbage_in_the_layout_is_skipped_not_fatal(storage, stores):
    manifest, layers = push_image(stores, storage, "app", "v1", b"layer")
    storage.put_content(layout.tag_current_link("app", "broken"), b"\xff\xfe not a digest")
    storage.put_content(layout.revision_link("app", "sha256", "00" * 32), b"junk")
    storage.put_content(layout.REPOSITORIES + "/app/_layers/sha256/zz/link", b"zz")
    storage.put_content(layout.BLOBS + "/sha256/ab/not-a-blob/data", b"x")
    storage.put_content(v1_layout.index_images_path("library", "x"), b"{not json")
    storage.put_content(v1_layout.image_ancestry_path("f" * 64), b"[1, 2, {}]")

    report = run(storage)

    assert all(blob_exists(storage, d) for d in [manifest, *layers])
    assert report.blobs == 0


# -- lock, du, CLI -----------------------------------------------------------------------


def test_one_collection_at_a_time(storage, tmp_path):
    coordinator = LocalCoordinator("gc-test", str(tmp_path / "locks"))
    registry = SimpleNamespace(storage=storage, coordinator=coordinator)
    with coordinator.lock("gc"), pytest.raises(LockTimeout):
        run_gc(registry, GcOptions(), wait=0.05)
    assert run_gc(registry, GcOptions()).blobs == 0


def test_progress_off_a_terminal_is_plain_lines(storage, stores):
    import io

    from docker_registry.core.ops.gc import ProgressDisplay

    push_image(stores, storage, "app", "v1", b"layer")
    put_blob(storage, stores.blobs, "app", b"orphan")
    stream = io.StringIO()
    display = ProgressDisplay(stream)
    collect_garbage(storage, GcOptions(), display, now=time.time() + LATER)
    display.close()

    lines = stream.getvalue().splitlines()
    assert "gc: blobs: 4 items" in lines and "gc: repositories: 1 items" in lines
    assert "gc: blobs removed: 1 items" in lines and "\r" not in stream.getvalue()


def test_du_counts_shared_blobs_once(storage, stores):
    push_image(stores, storage, "a", "v1", b"shared layer", b"only a")
    push_image(stores, storage, "b", "v1", b"shared layer")

    usage = disk_usage(storage)

    rows = {row.name: row for row in usage.repositories}
    manifest_bytes = sum(len(storage.get_content(info.path)) for info in storage.walk(layout.BLOBS))
    assert usage.total == manifest_bytes  # every blob once
    assert rows["a"].total + rows["b"].total > usage.total  # shared ones counted in both
    assert rows["a"].own == rows["a"].total - len(b"shared layer") - len(b"{}")
    assert "total (shared counted once)" in format_usage(usage)
    assert [r.name for r in disk_usage(storage, "b").repositories] == ["b"]


def test_du_counts_v1_images_reached_by_tags_with_their_ancestry(storage):
    base, top, orphan = ("a" * 64, "b" * 64, "d" * 64)
    put_v1_image(storage, base, layer=b"b" * 100)
    put_v1_image(storage, top, parent=base, layer=b"t" * 10)
    put_v1_image(storage, orphan, layer=b"o" * 1000)
    storage.put_content(v1_layout.tag_path("library", "ubuntu", "latest"), top.encode())

    usage = disk_usage(storage, "library/ubuntu")

    files = [info for image in (base, top) for info in storage.walk(v1_layout.image_path(image))]
    assert [row.name for row in usage.repositories] == ["library/ubuntu"]
    assert usage.repositories[0].total == sum(info.size for info in files)
    assert usage.total == usage.repositories[0].total  # the orphan is garbage, not usage


def test_cli_gc_dry_run_and_du(run_cli, write_config, tmp_path, storage, stores):
    orphan = put_blob(storage, stores.blobs, "app", b"orphan")
    config = write_config(
        f"dev:\n  storage: file\n  storage_path: {tmp_path / 'data'}\n"
        f"  coordination: {{directory: {tmp_path / 'locks'}}}\n"
    )

    result = run_cli("gc", "--config", str(config), "--dry-run", "--grace", "0s")
    assert result.returncode == 0, result.stderr
    assert f"would remove blob {orphan}" in result.stdout
    assert "gc dry run done" in result.stdout and blob_exists(storage, orphan)

    result = run_cli("gc", "--config", str(config), "--grace", "0")
    assert result.returncode == 0, result.stderr
    assert "1 blobs" in result.stdout and "freed 6 bytes" in result.stdout
    assert not blob_exists(storage, orphan)

    result = run_cli("du", "--config", str(config))
    assert result.returncode == 0 and "REPOSITORY" in result.stdout


def test_cli_gc_refuses_a_bad_grace(run_cli, write_config, tmp_path):
    config = write_config(f"dev:\n  storage: file\n  storage_path: {tmp_path}\n")
    result = run_cli("gc", "--config", str(config), "--grace", "soon")
    assert result.returncode == 2
    assert "'soon' is not a duration" in result.stderr


def test_collections_are_counted_in_the_servers_metrics(storage, stores, tmp_path):
    """gc runs as its own process: its counts reach /metrics through the storage."""
    import re

    import falcon.testing

    from docker_registry.core.app import create_app
    from docker_registry.core.config import Settings

    app = create_app(Settings.from_mapping({"metrics": {"enabled": True}}), storage=storage)
    client = falcon.testing.TestClient(app)

    def value(name: str) -> float:
        text = client.simulate_get("/metrics").text
        match = re.search(rf"^{name} (\S+)$", text, re.M)
        assert match, f"{name} missing from /metrics"
        return float(match[1])

    assert value("registry_gc_runs_total") == 0
    put_blob(storage, stores.blobs, "app", b"orphan bytes")
    registry = SimpleNamespace(
        storage=storage, coordinator=LocalCoordinator("gc-test", str(tmp_path / "locks"))
    )
    run_gc(registry, GcOptions(dry_run=True, grace=0))
    assert value("registry_gc_runs_total") == 0  # a dry run changes nothing, counts nothing
    run_gc(registry, GcOptions(grace=0))
    run_gc(registry, GcOptions(grace=0))
    assert value("registry_gc_runs_total") == 2
    assert value("registry_gc_freed_bytes_total") == len(b"orphan bytes")
    assert value("registry_gc_deleted_blobs_total") == 1
    assert value("registry_gc_last_run_timestamp_seconds") > time.time() - 60
