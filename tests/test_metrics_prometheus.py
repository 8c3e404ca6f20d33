"""A real Prometheus scrapes /metrics of `serve --workers 2` and a series is read back
through Prometheus's HTTP API; health probes over real HTTP."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
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
    # 40 pings over fresh connections: both workers answer some of them.
    prefixes = set()
    for _ in range(40):
        ping = requests.get(f"{registry.url}/v2/", headers={"Connection": "close"}, timeout=10)
        prefixes.add(ping.headers["X-Request-Id"][:16])
    assert len(prefixes) == 2, "one worker answered every request"

    prometheus = _prometheus(tmp_path, registry.host)
    try:
        deadline = time.monotonic() + 30
        while True:
            pings = _query(
                prometheus.url, 'sum(registry_http_requests_total{api="v2",route="v2 ping"})'
            )
            if pings and float(pings[0]["value"][1]) >= 40:
                break
            assert time.monotonic() < deadline, f"never scraped: {pings}\n{prometheus.log_tail()}"
            time.sleep(0.5)
        # every worker's pings are summed: 40 (the multiprocess directory is shared)
        assert float(pings[0]["value"][1]) == 40
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
    # each worker maps its value files from the directory the supervisor made
    children = Path(f"/proc/{registry.process.pid}/task/{registry.process.pid}/children")
    worker = children.read_text().split()[0]
    mapped = {
        Path(line.split()[-1]).parent
        for line in Path(f"/proc/{worker}/maps").read_text().splitlines()
        if "/registry-metrics-" in line
    }
    assert len(mapped) == 1, "the worker keeps no values in a multiprocess directory"
    directory = mapped.pop()
    assert directory.is_dir() and any(directory.iterdir())
    registry.process.stop()
    assert not directory.exists()


def test_health_probes_over_http(registry):
    assert requests.get(f"{registry.url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{registry.url}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json() == {"checks": {"storage": "ok"}, "failed": [], "status": "ready"}
