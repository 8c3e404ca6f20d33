"""Garbage collection of a 1,000-image registry: ours beside the reference registry's.

Builds, once, a registry on file storage straight through the core's stores (no HTTP):
``--images`` Docker schema 2 images in ``--repos`` repositories, each with two layers from
a pool of 100 shared base layers, one layer of its own and a config; then makes garbage:
every fifth image is untagged (its manifest stays as a revision) and ``--orphans`` blobs
are linked but never referenced. The tree is the Go registry's layout, so the reference
reads it as it lies.

Each repetition copies the pristine tree twice and runs, in ABBA order,
``docker-registry gc --delete-untagged --grace 0`` (ours; the reference has no grace
period) and ``/usr/bin/docker-registry garbage-collect --delete-untagged`` (the
reference), each as a child process whose wall time and peak RSS (``wait4``) are taken;
then checks that both left the same blobs. Holds ``/tmp/bench.lock``::

    python benchmarks/gc_bench.py [--images 1000] [--repos 50] [--reps 3]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from docker_registry.core.storage import Storage
from docker_registry.core.v2 import layout
from docker_registry.core.v2.blobs import BlobStore
from docker_registry.core.v2.digests import parse_digest
from docker_registry.core.v2.manifests import ManifestStore
from docker_registry.drivers.file import FileDriver

LOCK = "/tmp/bench.lock"
REFERENCE = "/usr/bin/docker-registry"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def _blob(storage: Storage, blobs: BlobStore, name: str, data: bytes) -> dict:
    digest = parse_digest("sha256:" + hashlib.sha256(data).hexdigest())
    path = layout.blob_data(digest.algorithm, digest.hex)
    if not storage.exists(path):
        storage.put_content(path, data)
    blobs.link(name, digest)
    return {"digest": str(digest), "size": len(data)}


def build(root: Path, images: int, repos: int, orphans: int) -> dict[str, int]:
    """Fill ``root`` with the registry described in the module's docstring."""
    storage = Storage(FileDriver(storage_path=str(root)))
    blobs = BlobStore(storage)
    manifests = ManifestStore(storage, blobs, tags_ttl=0)
    bases = [os.urandom(4096) for _ in range(100)]
    untagged = 0
    for i in range(images):
        name = f"bench/app{i % repos}"
        layers = [bases[i % 100], bases[(i * 7 + 3) % 100], os.urandom(2048 + i % 1000)]
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": i}).encode()
        doc = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, **_blob(storage, blobs, name, config)},
            "layers": [
                {"mediaType": DOCKER_LAYER, **_blob(storage, blobs, name, data)} for data in layers
            ],
        }
        data = json.dumps(doc, indent=3).encode()
        manifest = manifests.put(name, f"v{i}", data, DOCKER_MANIFEST)
        if i % 5 == 0:
            manifests.delete(name, f"v{i}")  # the tag goes, the revision stays
            untagged += 1
        del manifest
    for i in range(orphans):
        _blob(storage, blobs, f"bench/app{i % repos}", os.urandom(1024))
    return {"images": images, "untagged": untagged, "orphans": orphans}


def measure(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and output of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({child.returncode}):\n{output[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, output


def blob_digests(root: Path) -> set[str]:
    storage = Storage(FileDriver(storage_path=str(root)))
    found = set()
    for info in storage.walk(layout.BLOBS):
        parsed = layout.parse_blob_data(info.path)
        if parsed is not None:
            found.add(parsed[1])
    return found


def run_ours(root: Path, workdir: Path) -> tuple[float, float, str]:
    config = workdir / "ours.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "bench": {
                    "storage": "file",
                    "storage_path": str(root),
                    "loglevel": "warning",
                    "coordination": {"directory": str(workdir / "locks")},
                }
            }
        )
    )
    return measure(
        [
            sys.executable,
            "-m",
            "docker_registry.core",
            "gc",
            "--config",
            str(config),
            "--flavor",
            "bench",
            "--delete-untagged",
            "--grace",
            "0",
        ]
    )


def run_reference(root: Path, workdir: Path) -> tuple[float, float, str]:
    config = workdir / "reference.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "log": {"level": "error"},
                "storage": {"filesystem": {"rootdirectory": str(root)}},
            }
        )
    )
    return measure([REFERENCE, "garbage-collect", "--delete-untagged", str(config)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repos", type=int, default=50)
    parser.add_argument("--orphans", type=int, default=500)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    if not os.path.exists(REFERENCE):
        raise SystemExit("the reference registry is missing: apt-get install docker-registry")
    with open(LOCK, "w") as lock, tempfile.TemporaryDirectory(prefix="gc-bench-") as tmp:
        fcntl.flock(lock, fcntl.LOCK_EX)
        workdir = Path(tmp)
        pristine = workdir / "pristine"
        started = time.perf_counter()
        facts = build(pristine, args.images, args.repos, args.orphans)
        print(
            f"built {facts['images']} images in {args.repos} repositories "
            f"({facts['untagged']} untagged, {facts['orphans']} orphan blobs, "
            f"{len(blob_digests(pristine))} blobs) in {time.perf_counter() - started:.1f} s"
        )
        results: dict[str, list[tuple[float, float]]] = {"ours": [], "reference": []}
        left: dict[str, set[str]] = {}
        for rep in range(args.reps):
            order = ["ours", "reference"] if rep % 2 == 0 else ["reference", "ours"]
            for who in order:
                root = workdir / who
                shutil.rmtree(root, ignore_errors=True)
                shutil.copytree(pristine, root, symlinks=True)
                runner = run_ours if who == "ours" else run_reference
                seconds, rss, output = runner(root, workdir)
                results[who].append((seconds, rss))
                left[who] = blob_digests(root)
                if who == "ours" and rep == 0:
                    print("ours:", output.strip().splitlines()[-1])
        same = left["ours"] == left["reference"]
        print(f"both left the same {len(left['ours'])} blobs: {same}")
        if not same:
            print(f"  only ours kept: {len(left['ours'] - left['reference'])}")
            print(f"  only the reference kept: {len(left['reference'] - left['ours'])}")
        print(f"{'':<10} {'wall s (median)':>16} {'peak RSS MiB (max)':>20}")
        for who, runs in results.items():
            wall = statistics.median(seconds for seconds, _ in runs)
            rss = max(peak for _, peak in runs)
            print(f"{who:<10} {wall:>16.2f} {rss:>20.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
