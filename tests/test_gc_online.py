"""Garbage collection while the registry serves (issue 13 §1): `docker-registry gc` runs in
a loop while 8 clients (3 of them skopeo) push, pull and delete images; afterwards every
image whose push was acknowledged, and not deleted by its client, is pulled complete with
skopeo. Run on the file driver and on the S3 emulator (moto).

The grace period is one second, far below the default hour, so that nearly everything a
client is not holding on to is a candidate in every collection: pushes may be refused
(a blob collected between upload and manifest; the client pushes again), an
acknowledged image may never lose a blob.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "v2"))

from driver_backends import Backend, start_s3
from v2support import OCI_MANIFEST, Client, digest, image_config, image_manifest, layer_tar

pytestmark = pytest.mark.slow

CLIENTS_SECONDS = 35
#: Longest a pull of an acknowledged image may wait for a collection to settle.
SETTLE_SECONDS = 60
HTTP_CLIENTS = 5
SKOPEO_CLIENTS = 3
#: A few layers every client reuses: shared blobs that become garbage now and then.
SHARED = [layer_tar({f"shared/{i}": os.urandom(2048)}) for i in range(4)]


@pytest.fixture(scope="module", params=["file", "s3"])
def backend(request, tmp_path_factory) -> Iterator[Backend | None]:
    if request.param == "file":
        yield None
        return
    with start_s3(tmp_path_factory.mktemp("s3")) as started:
        yield started


def skopeo(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def write_layout(directory: Path, layers: list[bytes]) -> bytes:
    """An OCI image layout of ``layers``; returns the manifest bytes."""
    config = image_config(layers)
    manifest = image_manifest(config, layers)
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for data in (*layers, config, manifest):
        (blobs / digest(data).split(":")[1]).write_bytes(data)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "x"},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return manifest


class Workload:
    """What the clients did: images acknowledged (and not deleted), refusals, failures."""

    def __init__(self, host: str, url: str, workdir: Path) -> None:
        self.host, self.url, self.workdir = host, url, workdir
        self.lock = threading.Lock()
        self.acknowledged: dict[tuple[str, str], bytes] = {}  # (repo, tag) -> manifest
        self.refused = 0
        self.pulls = 0
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.late_pulls: list[float] = []  # seconds a pull waited for a collection to settle

    def image(self, rng: random.Random, client: int, n: int) -> list[bytes]:
        own = layer_tar({f"c{client}/{n}": os.urandom(rng.randint(100, 20000))})
        return [*rng.sample(SHARED, 2), own]

    def acknowledge(self, repo: str, tag: str, manifest: bytes) -> None:
        with self.lock:
            self.acknowledged[(repo, tag)] = manifest

    def pull_check(self, repo: str, tag: str, manifest: bytes) -> None:
        """Pull over HTTP: the manifest and every blob it names, digests verified.

        A manifest acknowledged while a collection ran between its mark and its
        quarantine names blobs that are parked until the collection settles: those pulls
        are retried for as long as a collection may take, and counted as late.
        """
        client = requests.Session()
        doc = json.loads(manifest)
        started = time.monotonic()
        problem = ""
        attempts = 0
        while time.monotonic() - started < SETTLE_SECONDS:
            attempts += 1
            got = client.get(
                f"{self.url}/v2/{repo}/manifests/{tag}",
                headers={"Accept": OCI_MANIFEST},
                timeout=30,
            )
            problem = "" if got.status_code == 200 and got.content == manifest else "manifest"
            for descriptor in [doc["config"], *doc["layers"]]:
                if problem:
                    break
                blob = client.get(f"{self.url}/v2/{repo}/blobs/{descriptor['digest']}", timeout=30)
                if blob.status_code != 200 or digest(blob.content) != descriptor["digest"]:
                    problem = f"blob {descriptor['digest']}: {blob.status_code}"
            if not problem:
                with self.lock:
                    self.pulls += 1
                    if attempts > 1:
                        self.late_pulls.append(time.monotonic() - started)
                return
            time.sleep(1)
        self.failures.append(f"pull of acknowledged {repo}:{tag}: {problem}")

    def http_client(self, index: int) -> None:
        rng = random.Random(index)
        client = Client(self.url)
        repo = f"http/c{index}"
        mine: list[tuple[str, bytes, list[bytes]]] = []
        garbage: list[bytes] = []  # layers of images this client deleted
        n = 0
        while not self.stop.is_set():
            n += 1
            layers = self.image(rng, index, n)
            if garbage and rng.random() < 0.5:
                # The race a collection must survive: a layer that is garbage, found by
                # HEAD and not uploaded again, named by a new manifest.
                layers[-1] = garbage.pop()
            config = image_config(layers)
            try:
                for blob in (*layers, config):
                    url = f"{self.url}/v2/{repo}/blobs/{digest(blob)}"
                    if client.http.head(url, timeout=30).status_code != 200:
                        client.push_blob(repo, blob)
                if rng.random() < 0.3:
                    time.sleep(1.5)  # a slow client: its blobs outlive the grace period
                manifest = image_manifest(config, layers)
                answer = client.push_manifest(repo, f"t{n}", manifest)
            except (AssertionError, requests.RequestException) as exc:
                self.failures.append(f"{repo}: push failed outside the manifest: {exc}")
                continue
            if answer.status_code == 201:
                self.acknowledge(repo, f"t{n}", manifest)
                mine.append((f"t{n}", manifest, layers))
            elif answer.status_code == 400 and "MANIFEST_BLOB_UNKNOWN" in answer.text:
                with self.lock:
                    self.refused += 1
            else:
                self.failures.append(f"{repo}:t{n}: {answer.status_code} {answer.text[:200]}")
            if mine and rng.random() < 0.5:
                tag, manifest, _ = rng.choice(mine)
                self.pull_check(repo, tag, manifest)
            if len(mine) > 2:
                tag, manifest, old_layers = mine.pop(0)  # make garbage: delete an old image
                with self.lock:
                    del self.acknowledged[(repo, tag)]
                gone = client.http.delete(f"{self.url}/v2/{repo}/manifests/{digest(manifest)}")
                if gone.status_code != 202:
                    self.failures.append(f"{repo}: delete {tag}: {gone.status_code} {gone.text}")
                garbage.append(old_layers[-1])

    def skopeo_client(self, index: int) -> None:
        rng = random.Random(100 + index)
        repo = f"skopeo/c{index}"
        n = 0
        while not self.stop.is_set():
            n += 1
            layout = self.workdir / f"skopeo{index}-{n}"
            manifest = write_layout(layout, self.image(rng, 100 + index, n))
            done = skopeo(
                "copy",
                "--dest-tls-verify=false",
                f"oci:{layout}:x",
                f"docker://{self.host}/{repo}:t{n}",
            )
            shutil.rmtree(layout)
            if done.returncode == 0:
                self.acknowledge(repo, f"t{n}", manifest)
            elif "MANIFEST_BLOB_UNKNOWN" in done.stderr or "manifest blob unknown" in done.stderr:
                with self.lock:
                    self.refused += 1
            else:
                self.failures.append(f"skopeo push {repo}:t{n}: {done.stderr[-300:]}")
            if n > 1 and (repo, f"t{n - 1}") in self.acknowledged:
                pulled = skopeo(
                    "copy",
                    "--src-tls-verify=false",
                    f"docker://{self.host}/{repo}:t{n - 1}",
                    f"oci:{self.workdir / f'pull{index}'}:x",
                )
                shutil.rmtree(self.workdir / f"pull{index}", ignore_errors=True)
                if pulled.returncode != 0:
                    time.sleep(3)
                    self.pull_check(repo, f"t{n - 1}", self.acknowledged[(repo, f"t{n - 1}")])
                else:
                    self.pulls += 1


def run_gc(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "docker_registry.core",
            "gc",
            "--config",
            str(config),
            "--flavor",
            "test",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_gc_in_a_loop_while_clients_push_and_pull(backend, start_registry, tmp_path):
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo is missing: apt-get install -y skopeo")
    values = backend.registry_config() if backend is not None else {}
    registry = start_registry(delete_enabled=True, threads=8, **values)
    work = Workload(registry.host, registry.url, tmp_path)
    collections: list[str] = []
    gc_errors: list[str] = []

    def collect_forever() -> None:
        while not work.stop.is_set():
            done = run_gc(registry.config_path, "--delete-untagged", "--grace", "1s")
            if done.returncode != 0:
                gc_errors.append(done.stderr[-500:])
            else:
                collections.append(done.stdout.strip().splitlines()[-1])

    threads = [threading.Thread(target=work.http_client, args=(i,)) for i in range(HTTP_CLIENTS)]
    threads += [
        threading.Thread(target=work.skopeo_client, args=(i,)) for i in range(SKOPEO_CLIENTS)
    ]
    threads.append(threading.Thread(target=collect_forever))
    for thread in threads:
        thread.start()
    time.sleep(CLIENTS_SECONDS)
    work.stop.set()
    for thread in threads:
        thread.join(timeout=300)

    final = run_gc(registry.config_path, "--delete-untagged", "--grace", "0")
    assert final.returncode == 0, final.stderr
    assert not gc_errors, gc_errors
    assert not work.failures, work.failures[:10]
    assert len(collections) >= 3, collections
    freed = [line for line in collections if " 0 blobs" not in line]
    assert freed, f"no collection removed anything: {collections}"
    assert len(work.acknowledged) >= 10, "too few pushes to tell anything"
    for (repo, tag), manifest in sorted(work.acknowledged.items()):
        out = tmp_path / "verify"
        pulled = skopeo(
            "copy",
            "--src-tls-verify=false",
            f"docker://{registry.host}/{repo}:{tag}",
            f"oci:{out}:x",
        )
        assert pulled.returncode == 0, f"{repo}:{tag}: {pulled.stderr}\n{registry.log()}"
        stored = json.loads((out / "index.json").read_text())["manifests"][0]["digest"]
        assert stored == digest(manifest)
        for descriptor in json.loads(manifest)["layers"]:
            blob = out / "blobs" / "sha256" / descriptor["digest"].split(":")[1]
            assert digest(blob.read_bytes()) == descriptor["digest"]
        shutil.rmtree(out)
    print(
        f"{len(collections)} collections, {len(work.acknowledged)} images verified, "
        f"{work.refused} pushes refused and retried, {work.pulls} pulls during GC "
        f"({len(work.late_pulls)} waited for a collection to settle, longest "
        f"{max(work.late_pulls, default=0):.1f} s); "
        f"last: {collections[-1]}"
    )
