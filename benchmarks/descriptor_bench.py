"""Shared blob descriptors (issue 17): what a host that has not seen a blob yet asks S3.

Starts moto's S3 server and a Redis, then, for each mode, two hosts of our registry
(``serve --workers N``, the ``s3`` driver, one bucket, metrics on): host A receives
``--blobs`` small blobs and answers a ``HEAD`` of each (its descriptors are then known);
host B starts afterwards and answers a ``HEAD`` of each blob twice. Modes: ``local``
(each process's memory only, ``coordination`` local) and ``redis`` (``coordination:
{backend: redis}``: the descriptors shared in Redis). Printed per mode: B's first pass
(requests per second, one client) and the store ``stat`` calls B made per ``HEAD`` (its
``registry_storage_operation_duration_seconds_count`` for ``stat``), then its second
pass. The run holds ``/tmp/bench.lock``::

    python benchmarks/descriptor_bench.py --blobs 300 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import yaml

from docker_registry.testing.servers import start_redis
from docker_registry.testing.services import ServiceProcess, free_port, http_ready

LOCK = "/tmp/bench.lock"
_STAT_COUNT = re.compile(
    r'^registry_storage_operation_duration_seconds_count\{[^}]*operation="stat"[^}]*\} (\S+)$',
    re.M,
)


@contextlib.contextmanager
def host(workdir: Path, name: str, settings: dict[str, Any], workers: int) -> Iterator[str]:
    config = workdir / f"{name}.yml"
    config.write_text(yaml.safe_dump({"bench": settings}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "docker_registry.core", "serve", "--config", str(config),
        "--flavor", "bench", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    service = ServiceProcess(command, name=name, url=url, ready=http_ready(url + "/v2/")).start()
    try:
        yield url
    finally:
        service.stop()


def stat_calls(session: requests.Session, url: str) -> float:
    text = session.get(f"{url}/metrics", timeout=10).text
    return sum(float(value) for value in _STAT_COUNT.findall(text))


def head_all(session: requests.Session, url: str, digests: list[str]) -> float:
    """Seconds to ``HEAD`` every blob once, one request after the other."""
    started = time.perf_counter()
    for digest in digests:
        answer = session.head(f"{url}/v2/bench/blobs/{digest}", timeout=10)
        assert answer.status_code == 200, (digest, answer.status_code)
    return time.perf_counter() - started


def run_mode(mode: str, args: argparse.Namespace, s3: dict[str, Any], redis_url: str) -> dict:
    from docker_registry.drivers.s3.testing import s3_client

    bucket = f"desc-{uuid.uuid4().hex[:12]}"
    s3_client(s3["s3_endpoint_url"]).create_bucket(Bucket=bucket)
    with tempfile.TemporaryDirectory(prefix="descbench-") as tmp:
        workdir = Path(tmp)

        def settings(name: str) -> dict[str, Any]:
            coordination: dict[str, Any] = {"directory": str(workdir / f"{name}-locks")}
            if mode == "redis":
                coordination.update(backend="redis", url=redis_url)
            return {
                **s3,
                "s3_bucket": bucket,
                "loglevel": "warning",
                "metrics": {"enabled": True},
                "coordination": coordination,
            }

        session = requests.Session()
        digests = []
        with host(workdir, "host-a", settings("host-a"), args.workers) as first:
            for index in range(args.blobs):
                body = f"{mode} blob {index} {uuid.uuid4().hex}".encode()
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                answer = session.post(
                    f"{first}/v2/bench/blobs/uploads/?digest={digest}", data=body, timeout=30
                )
                assert answer.status_code == 201, answer.text
                digests.append(digest)
            head_all(session, first, digests)
            with host(workdir, "host-b", settings("host-b"), args.workers) as second:
                before = stat_calls(session, second)
                cold = head_all(session, second, digests)
                after_cold = stat_calls(session, second)
                warm = head_all(session, second, digests)
                after_warm = stat_calls(session, second)
    count = len(digests)
    return {
        "cold_rps": count / cold,
        "cold_stats_per_head": (after_cold - before) / count,
        "warm_rps": count / warm,
        "warm_stats_per_head": (after_warm - after_cold) / count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blobs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2, help="processes of each host")
    parser.add_argument("--modes", nargs="+", default=["local", "redis", "redis", "local"])
    args = parser.parse_args()
    from docker_registry.drivers.s3.testing import ACCESS_KEY, REGION, SECRET_KEY, start_moto

    with open(LOCK, "w") as lock:
        print(f"waiting for {LOCK}...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
        redis_server = start_redis()
        try:
            with start_moto() as moto:
                s3 = {
                    "storage": "s3",
                    "s3_endpoint_url": moto.url,
                    "s3_access_key": ACCESS_KEY,
                    "s3_secret_key": SECRET_KEY,
                    "s3_region": REGION,
                    "storage_path": "/registry",
                }
                results = [
                    (mode, run_mode(mode, args, s3, redis_server.url)) for mode in args.modes
                ]
        finally:
            redis_server.stop()
    print(f"{args.blobs} blobs, hosts of {args.workers} workers; host B (cold, then warm):")
    print("| mode | cold HEAD/s | store stats per cold HEAD | warm HEAD/s | per warm HEAD |")
    print("|---|---|---|---|---|")
    for mode, result in results:
        print(
            f"| {mode} | {result['cold_rps']:.0f} | {result['cold_stats_per_head']:.2f} | "
            f"{result['warm_rps']:.0f} | {result['warm_stats_per_head']:.2f} |"
        )


if __name__ == "__main__":
    main()
