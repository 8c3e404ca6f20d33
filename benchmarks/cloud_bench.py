"""Object-storage benchmark (issue 17): our registry and the reference, each on its own
bucket (or container) of one emulator, served by the registries themselves.

Starts the emulator (moto's S3 server, or the Swift all-in-one the swift driver's tests
build), our registry (``serve --workers 2``, the ``s3`` or ``swift`` driver) and the
reference registry (Debian ``docker-registry``, its ``s3-aws`` or ``swift`` driver with
``redirect: disable: true`` and the in-memory blob-descriptor cache, so that both serve
the bytes themselves), then runs ``../shared/tools/bench_v2.py`` against both in ABBA
order (ours, reference, reference, ours) for each group of measures and prints the
issue's table with the ratios. The whole run holds ``/tmp/bench.lock``::

    python benchmarks/cloud_bench.py                      # S3 and Swift
    python benchmarks/cloud_bench.py --backends s3 --quick
    python benchmarks/cloud_bench.py --emulator-alone     # also the emulator's own GET speed
    python benchmarks/cloud_bench.py --redirect           # also downloads via signed URLs (S3)

Needs the drivers' test extras (moto; Debian's swift packages for Swift), ``wrk`` and
``ab`` (apache2-utils).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from docker_registry.testing.services import ServiceProcess, free_port, http_ready

TOOLS = Path(
    os.environ.get("REGISTRY_TOOLS", Path(__file__).resolve().parents[2] / "shared" / "tools")
)
LOCK = "/tmp/bench.lock"
MIB = 1024 * 1024
#: Groups of bench_v2.py measures, each run in ABBA order.
GROUPS = ["upload,download", "small", "wrk,tags"]
#: ``(bench_v2 name, the issue's label, target ratio ours/reference)``.
MEASURES = [
    ("ab_blob_head", "blob HEAD (req/s)", 1.5),
    ("download", "download (MB/s)", 1.0),
    ("download_redirect", "download, storage_redirect on both (MB/s)", None),
    ("upload_chunked", "upload in 4 PATCHes (MB/s)", 1.0),
    ("small_c1", "4 KiB blobs, 1 client (blobs/s)", 1.0),
    ("small_c8", "4 KiB blobs, 8 clients (blobs/s)", 1.0),
    ("upload_mono", "upload monolithic (MB/s)", 1.0),
    ("wrk_manifest_get", "manifest GET (req/s)", 1.0),
    ("wrk_tags_list", "tags list (req/s)", 1.0),
    ("peak_rss_mib", "server peak RSS (MiB, all processes)", None),
    ("peak_rss_sum_mib", "peak of summed RSS, sampled (MiB)", None),
    ("peak_pss_sum_mib", "peak of summed PSS, sampled (MiB)", None),
]
#: Memory measures: the largest run counts (not the median), and lower is better.
MEMORY = {"peak_rss_mib", "peak_rss_sum_mib", "peak_pss_sum_mib"}
#: Seconds between two memory samples of the server's processes.
SAMPLE_EVERY = 0.05


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (a supervisor and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def rollup(pid: int) -> dict[str, int]:
    """``Rss`` and ``Pss`` of one process, KiB (``/proc/PID/smaps_rollup``)."""
    values = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss"):
                values[name] = int(rest.split()[0])
    return values


class MemorySampler(threading.Thread):
    """Samples a server's processes while a benchmark runs: the peak of their summed RSS
    (pages shared copy-on-write counted once per process) and of their summed PSS
    (shared pages divided among the processes sharing them), and each process's peaks."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True, name="memory-sampler")
        self.root = root
        self.peak_rss = self.peak_pss = 0
        self.per_process: dict[int, tuple[int, int]] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(SAMPLE_EVERY):
            total_rss = total_pss = 0
            for pid in process_tree(self.root):
                values = rollup(pid)
                rss, pss = values.get("Rss", 0), values.get("Pss", 0)
                total_rss, total_pss = total_rss + rss, total_pss + pss
                old_rss, old_pss = self.per_process.get(pid, (0, 0))
                self.per_process[pid] = (max(old_rss, rss), max(old_pss, pss))
            self.peak_rss = max(self.peak_rss, total_rss)
            self.peak_pss = max(self.peak_pss, total_pss)

    def stop(self) -> None:
        self._done.set()
        self.join()

    def describe(self) -> str:
        return ", ".join(
            f"{'supervisor' if pid == self.root else pid}: RSS {rss / 1024:.0f} "
            f"PSS {pss / 1024:.0f}"
            for pid, (rss, pss) in sorted(self.per_process.items())
        )


@dataclass
class Emulator:
    """One running object store and how each registry reaches a fresh namespace of it."""

    name: str
    ours: dict[str, Any]
    reference: dict[str, Any]
    get_object: Any = None
    #: both registries can send clients to the store with signed URLs.
    redirects: bool = False


@contextlib.contextmanager
def s3_emulator() -> Iterator[Emulator]:
    from docker_registry.drivers.s3.testing import (
        ACCESS_KEY,
        REGION,
        SECRET_KEY,
        s3_client,
        start_moto,
    )

    with start_moto() as service:
        client = s3_client(service.url)
        ours_bucket, ref_bucket = (f"bench-{uuid.uuid4().hex[:12]}" for _ in range(2))
        client.create_bucket(Bucket=ours_bucket)
        client.create_bucket(Bucket=ref_bucket)

        def get_object(size: int) -> float:
            """The emulator alone: MB/s of one GET of a ``size``-byte object."""
            client.put_object(Bucket=ours_bucket, Key="alone", Body=os.urandom(size))
            started = time.perf_counter()
            body = client.get_object(Bucket=ours_bucket, Key="alone")["Body"]
            while body.read(MIB):
                pass
            return size / (time.perf_counter() - started) / 1e6

        yield Emulator(
            "s3 (moto)",
            ours={
                "storage": "s3",
                "s3_endpoint_url": service.url,
                "s3_bucket": ours_bucket,
                "s3_access_key": ACCESS_KEY,
                "s3_secret_key": SECRET_KEY,
                "s3_region": REGION,
                "storage_path": "/registry",
            },
            reference={
                "s3": {
                    "region": REGION,
                    "regionendpoint": service.url,
                    "bucket": ref_bucket,
                    "accesskey": ACCESS_KEY,
                    "secretkey": SECRET_KEY,
                    "secure": False,
                    "v4auth": True,
                    "rootdirectory": "/registry",
                }
            },
            get_object=get_object,
            redirects=True,
        )


@contextlib.contextmanager
def swift_emulator() -> Iterator[Emulator]:
    from docker_registry.drivers.swift.testing import start_swift

    service = start_swift()
    try:
        ours_container, ref_container = (f"bench-{uuid.uuid4().hex[:12]}" for _ in range(2))
        connection = service.connection()

        def get_object(size: int) -> float:
            connection.put_container(ours_container)
            connection.put_object(ours_container, "alone", os.urandom(size))
            started = time.perf_counter()
            _headers, body = connection.get_object(ours_container, "alone", resp_chunk_size=MIB)
            for _chunk in body:
                pass
            return size / (time.perf_counter() - started) / 1e6

        yield Emulator(
            "swift (all-in-one)",
            ours={
                "storage": "swift",
                "swift_authurl": service.auth_url,
                "swift_user": service.user,
                "swift_password": service.key,
                "swift_auth_version": "1",
                "swift_container": ours_container,
                "storage_path": "/registry",
            },
            reference={
                "swift": {
                    "authurl": service.auth_url,
                    "username": service.user,
                    "password": service.key,
                    "container": ref_container,
                    "authversion": 1,
                    "rootdirectory": "/registry",
                }
            },
            get_object=get_object,
        )
    finally:
        service.stop()


EMULATORS = {"s3": s3_emulator, "swift": swift_emulator}


def start_ours(
    workdir: Path, emulator: Emulator, threads: int, workers: int, redirect: bool = False
) -> ServiceProcess:
    config = workdir / ("ours-redirect.yml" if redirect else "ours.yml")
    values = {**emulator.ours, "loglevel": "warning", "storage_redirect": redirect}
    config.write_text(yaml.safe_dump({"bench": values}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "docker_registry.core",
        "serve",
        "--config",
        str(config),
        "--flavor",
        "bench",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--threads",
        str(threads),
        "--workers",
        str(workers),
    ]
    return ServiceProcess(command, name="ours", url=url, ready=http_ready(url + "/v2/")).start()


def start_reference(workdir: Path, emulator: Emulator, redirect: bool = False) -> ServiceProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            **emulator.reference,
            "cache": {"blobdescriptor": "inmemory"},
            "delete": {"enabled": True},
            "redirect": {"disable": not redirect},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "cloud-bench-shared-secret"},
    }
    path = workdir / ("reference-redirect.yml" if redirect else "reference.yml")
    path.write_text(yaml.safe_dump(config))
    return ServiceProcess(
        ["/usr/bin/docker-registry", "serve", str(path)],
        name="reference",
        url=url,
        ready=http_ready(url + "/v2/"),
        # NOTE: with a CA bundle named, the Go SDK replaces its HTTP transport and
        # panics (LoadCustomCABundleError); the emulator is plain HTTP anyway.
        env={"AWS_CA_BUNDLE": ""},
    ).start()


def bench(url: str, pid: int, args: argparse.Namespace, out: Path, tests: str) -> dict[str, float]:
    command = [
        sys.executable,
        str(TOOLS / "bench_v2.py"),
        url,
        "--server-pid",
        str(pid),
        "--tests",
        tests,
        "--reps",
        str(args.reps),
        "--big-mib",
        str(args.big_mib),
        "--chunk-mib",
        str(max(1, args.big_mib // 4)),
        "--small-count",
        str(args.small_count),
        "--wrk-secs",
        str(args.wrk_secs),
        "--json",
        str(out),
    ]
    print("$", " ".join(command), flush=True)
    sampler = MemorySampler(pid)
    sampler.start()
    try:
        subprocess.run(command, check=True)
    finally:
        sampler.stop()
    print(f"peak per process (MiB): {sampler.describe()}", flush=True)
    data = json.loads(out.read_text())
    results = {item["name"]: item["median"] for item in data["results"]}
    # NOTE: bench_v2 sums each process's VmHWM: peaks of different moments, and shared
    # copy-on-write pages counted once per process; the sampled sums show both effects.
    results["peak_rss_mib"] = data["info"]["server_after"]["hwm_kib"] / 1024
    results["peak_rss_sum_mib"] = sampler.peak_rss / 1024
    results["peak_pss_sum_mib"] = sampler.peak_pss / 1024
    return results


def interleaved(
    servers: dict[str, ServiceProcess],
    args: argparse.Namespace,
    workdir: Path,
    groups: list[str],
    label: str = "",
) -> dict[str, dict[str, list[float]]]:
    """Each group of measures in ABBA order: a linear drift of the shared machine's load
    favours neither server. Both runs of each server are kept (the issue shows both)."""
    runs: dict[str, dict[str, list[float]]] = {kind: {} for kind in servers}
    for group in groups:
        for index, kind in enumerate(["ours", "reference", "reference", "ours"]):
            server = servers[kind]
            out = workdir / f"{kind}{label}-{group.replace(',', '-')}-{index}.json"
            for name, value in bench(server.url, server.pid, args, out, group).items():
                runs[kind].setdefault(name, []).append(value)
    return runs


def run_backend(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with EMULATORS[name]() as emulator:
        alone = emulator.get_object(args.big_mib * MIB) if args.emulator_alone else None
        ours = start_ours(workdir, emulator, args.threads, args.workers)
        reference = start_reference(workdir, emulator)
        try:
            requests.get(ours.url + "/v2/", timeout=5).raise_for_status()
            runs = interleaved({"ours": ours, "reference": reference}, args, workdir, args.groups)
        finally:
            ours.stop()
            reference.stop()
        if args.redirect and emulator.redirects:
            redirected = redirect_runs(emulator, args, workdir)
            for kind, values in redirected.items():
                runs[kind]["download_redirect"] = values["download"]
    return {"emulator": emulator.name, "emulator_get_mb_s": alone, "runs": runs}


def redirect_runs(
    emulator: Emulator, args: argparse.Namespace, workdir: Path
) -> dict[str, dict[str, list[float]]]:
    """Downloads with redirects on, in both registries: the client follows a signed URL
    and reads the blob from the emulator itself."""
    ours = start_ours(workdir, emulator, args.threads, args.workers, redirect=True)
    reference = start_reference(workdir, emulator, redirect=True)
    try:
        servers = {"ours": ours, "reference": reference}
        return interleaved(servers, args, workdir, ["download"], "-redirect")
    finally:
        ours.stop()
        reference.stop()


def report(results: dict[str, Any], big_mib: int) -> str:
    lines = []
    for backend in results.values():
        runs = backend["runs"]
        lines.append(f"\n{backend['emulator']}, {big_mib} MiB blobs")
        if backend["emulator_get_mb_s"]:
            lines.append(f"emulator alone, one GET: {backend['emulator_get_mb_s']:.0f} MB/s")
        lines.append("| measure | reference | ours | ours / ref | target |")
        lines.append("|---|---|---|---|---|")
        for key, label, target in MEASURES:
            ours, ref = runs["ours"].get(key), runs["reference"].get(key)
            if not ours or not ref:
                continue
            combine = max if key in MEMORY else statistics.median
            ratio = combine(ours) / combine(ref)
            mark = "" if target is None else (" ok" if ratio >= target else " MISS")
            lines.append(
                f"| {label} | {', '.join(f'{v:.0f}' for v in ref)} | "
                f"{', '.join(f'{v:.0f}' for v in ours)} | {ratio:.2f} | "
                f"{target or ''}{mark} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(EMULATORS), choices=EMULATORS)
    parser.add_argument("--threads", type=int, default=8, help="our waitress threads")
    parser.add_argument("--workers", type=int, default=2, help="our processes")
    parser.add_argument("--reps", type=int, default=2, help="bench_v2 repetitions per run")
    parser.add_argument("--big-mib", type=int, default=64)
    parser.add_argument("--small-count", type=int, default=200)
    parser.add_argument("--wrk-secs", type=int, default=10)
    parser.add_argument("--groups", nargs="+", default=GROUPS)
    parser.add_argument("--quick", action="store_true", help="1 rep, 5 s of wrk")
    parser.add_argument("--emulator-alone", action="store_true", help="time one GET alone")
    parser.add_argument(
        "--redirect",
        action="store_true",
        help="also downloads with storage_redirect (S3: the client follows to the emulator)",
    )
    parser.add_argument("--json", help="write the raw results here")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.wrk_secs = 1, 5
    with open(LOCK, "w") as lock:
        print(f"waiting for {LOCK}...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = {}
        for name in args.backends:
            with tempfile.TemporaryDirectory(prefix="cloudbench-") as tmp:
                results[name] = run_backend(name, args, Path(tmp))
    print(report(results, args.big_mib))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
