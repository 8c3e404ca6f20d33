"""A real Prometheus scrapes /metrics of `serve --workers 2` and a series is read back
through Prometheus's HTTP API; health probes over real HTTP."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import yaml

from docker_registry.testing.services import ServiceProcess, free_port, http_ready


def _prometheus(workdir: Path, target: str) -> ServiceProcess:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing: apt-get install -y prometheus")
    config = workdir / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {"job_name": "registry", "static_configs": [{"targets": [target]}]}
                ],
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    return ServiceProcess(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        name="prometheus",
        url=url,
        ready=http_ready(f"{url}/-/ready"),
        startup_timeout=30,
    ).start()


def ping_every_worker(url: str, workers: int, timeout: float = 30) -> int:
    """``GET /v2/`` over fresh connections, 8 at a time, until every worker answered
    (the request id starts with a prefix of its own); return how many were sent.

    NOTE: which process accepts a connection is the kernel's choice: on a busy machine
    one worker can take dozens in a row."""
    prefixes: set[str] = set()
    sent = 0
    deadline = time.monotonic() + timeout

    def ping(_: int) -> str:
        answer = requests.get(f"{url}/v2/", headers={"Connection": "close"}, timeout=10)
        return answer.headers["X-Request-Id"][:16]

    with ThreadPoolExecutor(8) as pool:
        while len(prefixes) < workers:
            assert time.monotonic() < deadline, f"only {len(prefixes)} worker(s) answered"
            prefixes.update(pool.map(ping, range(8)))
            sent += 8
    return sent


def _query(prometheus: str, expression: str) -> list[dict]:
    answer = requests.get(f"{prometheus}/api/v1/query", params={"query": expression}, timeout=10)
    answer.raise_for_status()
    body = answer.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scrapes_every_worker(start_registry, tmp_path):
    registry = start_registry(workers=2, metrics={"enabled": True})
    data = os.urandom(300_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = requests.post(f"{registry.url}/v2/prom/app/blobs/uploads/", timeout=10)
    put = requests.put(
        f"{registry.url}{start.headers['Location']}&digest={digest}", data=data, timeout=30
    )
    assert put.status_code == 201, put.text
    sent = ping_every_worker(registry.url, workers=2)

    prometheus = _prometheus(tmp_path, registry.host)
    try:
        deadline = time.monotonic() + 30
        while True:
            pings = _query(
                prometheus.url, 'sum(registry_http_requests_total{api="v2",route="v2 ping"})'
            )
            if pings and float(pings[0]["value"][1]) >= sent:
                break
            assert time.monotonic() < deadline, f"never scraped: {pings}\n{prometheus.log_tail()}"
            time.sleep(0.5)
        # every worker's pings are summed (the multiprocess directory is shared)
        assert float(pings[0]["value"][1]) == sent
        received = _query(
            prometheus.url, 'sum(registry_http_received_bytes_total{route="v2 uploads"})'
        )
        assert float(received[0]["value"][1]) == len(data)
        stored = _query(
            prometheus.url,
            'sum(registry_storage_operation_duration_seconds_count{driver="file"})',
        )
        assert float(stored[0]["value"][1]) > 0
        up = _query(prometheus.url, 'up{job="registry"}')
        assert up[0]["value"][1] == "1"
    finally:
        prometheus.stop()


def test_the_metrics_directory_is_removed_at_stop(start_registry):
    registry = start_registry(workers=2, metrics={"enabled": True})
    assert requests.get(f"{registry.url}/metrics", timeout=10).status_code == 200
    ping_every_worker(registry.url, workers=2)
    # each worker maps its value files from the directory the supervisor made
    children = Path(f"/proc/{registry.process.pid}/task/{registry.process.pid}/children")
    mapped = {
        Path(line.split()[-1]).parent
        for worker in children.read_text().split()
        for line in Path(f"/proc/{worker}/maps").read_text().splitlines()
        if "/registry-metrics-" in line
    }
    assert len(mapped) == 1, "the workers keep no values in one multiprocess directory"
    directory = mapped.pop()
    assert directory.is_dir() and any(directory.iterdir())
    registry.process.stop()
    assert not directory.exists()


def test_health_probes_over_http(registry):
    assert requests.get(f"{registry.url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{registry.url}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json() == {"checks": {"storage": "ok"}, "failed": [], "status": "ready"}
