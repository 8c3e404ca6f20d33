#!/usr/bin/env python3
"""v1 push/pull benchmark beside the reference registry's v2 figures for the same bytes.

Starts our registry (``python -m docker_registry.core serve``, file driver) and the
reference registry (CNCF distribution 2.8 via ``../shared/tools/reference-registry.sh``)
on loopback, then measures in the same run:

* ours, v1: push of one ``--big-mib`` layer (PUT json, PUT layer, PUT checksum; both as
  Docker sends it, chunked, and with a Content-Length), pull of it (GET layer, 1 MiB
  reads), and ``--small-count`` images of ``--small-size`` bytes pushed one after the
  other (json + layer + checksum each: layers/s); server peak RSS (VmHWM).
* reference, v2: ``bench_v2.py --tests upload,download,small --concurrency 1`` with the
  same sizes (monolithic and chunked upload MB/s, download MB/s, small blobs/s).

Run it only while holding the shared benchmark lock::

    flock /tmp/bench.lock python benchmarks/v1_bench.py --reps 3

MB = 10^6 bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

MIB = 1 << 20
MB = 1e6
# NOTE: the team's shared tools sit beside the repository checkout (``../shared/tools``).
TOOLS = os.environ.get(
    "REGISTRY_TOOLS", str(Path(__file__).resolve().parents[2] / "shared" / "tools")
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def rss(pid: int) -> dict[str, float]:
    values = {}
    with open(f"/proc/{pid}/status") as stream:
        for line in stream:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                values[key] = int(value.split()[0]) / 1024
    return values


def start_ours(workdir: str, threads: int, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    os.makedirs(workdir, exist_ok=True)
    config = os.path.join(workdir, "config.yml")
    with open(config, "w") as stream:
        stream.write(
            f"bench:\n  storage: file\n  storage_path: {workdir}/data\n  loglevel: warning\n"
        )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "docker_registry.core",
            "serve",
            "--config",
            config,
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
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/_ping")
    return process, url


def image_json(image_id: str) -> bytes:
    return json.dumps({"id": image_id, "created": "2015-01-01T00:00:00Z"}).encode()


def prepare_image(data: bytes) -> tuple[str, bytes, str]:
    """A new image id, its json and payload checksum (client work, not timed)."""
    image_id = uuid.uuid4().hex + uuid.uuid4().hex
    raw = image_json(image_id)
    digest = hashlib.sha256(raw)
    digest.update(b"\n")
    digest.update(data)
    return image_id, raw, "sha256:" + digest.hexdigest()


def push_image(
    session: requests.Session,
    url: str,
    data: bytes,
    image: tuple[str, bytes, str],
    *,
    chunked: bool,
) -> str:
    image_id, raw, checksum = image
    base = f"{url}/v1/images/{image_id}"
    response = session.put(f"{base}/json", data=raw)
    assert response.status_code == 200, response.text
    body = (data[i : i + MIB] for i in range(0, len(data), MIB)) if chunked else data
    response = session.put(
        f"{base}/layer", data=body, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == 200, response.text
    response = session.put(f"{base}/checksum", headers={"X-Docker-Checksum-Payload": checksum})
    assert response.status_code == 200, response.text
    return image_id


def bench_ours(url: str, pid: int, args) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"push_chunked": [], "push_mono": [], "pull": [], "small": []}
    session = requests.Session()
    size = args.big_mib * MIB
    last = None
    for _ in range(args.reps):
        for mode in ("chunked", "mono"):
            data = os.urandom(size)
            # NOTE: the client's checksum is computed before timing, as bench_v2.py does
            # for the reference's digests.
            image = prepare_image(data)
            started = time.perf_counter()
            last = push_image(session, url, data, image, chunked=mode == "chunked")
            elapsed = time.perf_counter() - started
            results[f"push_{mode}"].append(size / elapsed / MB)
            print(f"  v1 push {mode:<8} {size / elapsed / MB:8.1f} MB/s", flush=True)
            del data
    for _ in range(args.reps):
        started = time.perf_counter()
        received = 0
        with session.get(f"{url}/v1/images/{last}/layer", stream=True) as response:
            assert response.status_code == 200
            # NOTE: read exactly as bench_v2.py's get_blob does, so clients cost the same.
            for chunk in response.raw.stream(MIB, decode_content=False):
                received += len(chunk)
        elapsed = time.perf_counter() - started
        assert received == size
        results["pull"].append(size / elapsed / MB)
        print(f"  v1 pull          {size / elapsed / MB:8.1f} MB/s", flush=True)
    for _ in range(args.reps):
        blobs = [os.urandom(args.small_size) for _ in range(args.small_count)]
        images = [prepare_image(blob) for blob in blobs]
        started = time.perf_counter()
        for blob, image in zip(blobs, images, strict=True):
            push_image(session, url, blob, image, chunked=True)
        elapsed = time.perf_counter() - started
        results["small"].append(args.small_count / elapsed)
        print(f"  v1 small layers  {args.small_count / elapsed:8.1f} layers/s", flush=True)
    memory = rss(pid)
    print(f"  server RSS {memory['VmRSS']:.1f} MiB, peak {memory['VmHWM']:.1f} MiB", flush=True)
    results["rss_peak_mib"] = [memory["VmHWM"]]
    return results


def bench_reference(workdir: str, args) -> dict[str, list[float]]:
    port = free_port()
    pid = int(
        subprocess.check_output(
            ["bash", f"{TOOLS}/reference-registry.sh", str(port), workdir], text=True
        ).split()[-1]
    )
    out = os.path.join(workdir, "bench.json")
    try:
        subprocess.run(
            [
                sys.executable,
                f"{TOOLS}/bench_v2.py",
                f"http://127.0.0.1:{port}",
                "--tests",
                "upload,download,small",
                "--concurrency",
                "1",
                "--reps",
                str(args.reps),
                "--big-mib",
                str(args.big_mib),
                "--small-count",
                str(args.small_count),
                "--small-size",
                str(args.small_size),
                "--server-pid",
                str(pid),
                "--json",
                out,
            ],
            check=True,
        )
    finally:
        os.kill(pid, 15)
    with open(out) as stream:
        rows = {row["name"]: row["values"] for row in json.load(stream)["results"]}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--small-count", type=int, default=500)
    parser.add_argument("--small-size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--workers", type=int, default=1, help="our server's processes (RSS is the first one's)"
    )
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--json", help="write all figures here")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="v1bench-")
    try:
        print(f"ours (v1, file driver, waitress {args.threads} threads):")
        process, url = start_ours(os.path.join(workdir, "ours"), args.threads, args.workers)
        try:
            ours = bench_ours(url, process.pid, args)
        finally:
            process.terminate()
            process.wait(10)
        reference = {}
        if not args.skip_reference:
            print("reference (distribution 2.8, v2):")
            reference = bench_reference(os.path.join(workdir, "reference"), args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def median(values):
        return statistics.median(values) if values else float("nan")

    rows = [
        ("layer push, chunked (MB/s)", ours["push_chunked"], reference.get("upload_chunked")),
        ("layer push, Content-Length (MB/s)", ours["push_mono"], reference.get("upload_mono")),
        ("layer pull (MB/s)", ours["pull"], reference.get("download")),
        (f"{args.small_count} small layers (layers/s)", ours["small"], reference.get("small_c1")),
    ]
    print(
        f"\n{args.big_mib} MiB layer, {args.small_count} x {args.small_size} B small layers; "
        f"medians of {args.reps}"
    )
    print(f"  {'measure':<36} {'ours v1':>10} {'ref v2':>10} {'ratio':>7}")
    for name, mine, theirs in rows:
        ratio = median(mine) / median(theirs) if theirs else float("nan")
        print(f"  {name:<36} {median(mine):10.1f} {median(theirs or []):10.1f} {ratio:7.2f}")
    print(f"  {'our server peak RSS (MiB)':<36} {ours['rss_peak_mib'][0]:10.1f}")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump({"ours": ours, "reference": reference, "args": vars(args)}, stream, indent=1)


if __name__ == "__main__":
    main()
