"""Scale-out under faults: three instances (``serve --workers 2`` each) behind nginx on shared
object storage (the S3 emulator, then the Swift all-in-one), with Redis coordination and a
PostgreSQL search index.

32 clients push and pull v1 and v2 images for a bounded time (skopeo for some); chunked v2
uploads hop between instances (nginx balances each request); pairs of v1 clients push the
same image id at once with different content; one instance is killed with SIGKILL and
restarted mid-run. At the end every acknowledged write is read back, no v1 image is a mix of
two pushers, the search index lists the v1 repositories, and ``docker-registry verify``
walks the storage and finds nothing damaged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from driver_backends import start_s3, start_swift_backend
from registry_process import start_registry_process
from v1client import Image, V1Client, V1Error, make_tar

from docker_registry.testing.servers import create_database, start_postgres, start_redis
from docker_registry.testing.services import ServiceProcess, free_port, http_ready

pytestmark = pytest.mark.slow

INSTANCES = 3
#: Seconds of load; the kill comes at 35 %, the restart at 55 %.
DURATION = float(os.environ.get("REGISTRY_SCALE_OUT_SECONDS", "40"))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
TIMEOUT = 60


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- the cluster ----------------------------------------------------------------------------


@dataclass
class Cluster:
    """Three registry instances behind one nginx."""

    workdir: Path
    config: dict
    ports: list[int]
    instances: list[ServiceProcess | None] = field(default_factory=list)
    nginx: ServiceProcess | None = None
    url: str = ""

    def start_instance(self, index: int) -> None:
        folder = self.workdir / f"instance-{index}"
        folder.mkdir(exist_ok=True)
        process, _ = start_registry_process(
            folder, self.config, threads=8, workers=2, port=self.ports[index]
        )
        self.instances[index] = process

    def kill_instance(self, index: int) -> None:
        """SIGKILL the instance's supervisor and workers at once (a host that dies)."""
        process = self.instances[index]
        assert process is not None and process.pid is not None
        os.killpg(process.pid, signal.SIGKILL)
        process.stop()
        self.instances[index] = None

    def start_nginx(self) -> None:
        folder = self.workdir / "nginx"
        folder.mkdir()
        port = free_port()
        servers = "\n".join(
            f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in self.ports
        )
        temp = "\n".join(
            f"    {kind}_temp_path {folder / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (folder / "nginx.conf").write_text(
            f"daemon off;\nworker_processes 2;\npid {folder / 'nginx.pid'};\n"
            f"error_log {folder / 'error.log'} warn;\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n    access_log off;\n{temp}\n"
            f"    upstream registry {{\n{servers}\n        keepalive 64;\n    }}\n"
            "    server {\n"
            f"        listen 127.0.0.1:{port};\n"
            "        client_max_body_size 0;\n"
            "        proxy_request_buffering off;\n"
            "        proxy_buffering off;\n"
            "        location / {\n"
            "            proxy_pass http://registry;\n"
            "            proxy_http_version 1.1;\n"
            '            proxy_set_header Connection "";\n'
            "            proxy_set_header Host $http_host;\n"
            "            proxy_read_timeout 120s;\n"
            "        }\n    }\n}\n"
        )
        self.url = f"http://127.0.0.1:{port}"
        self.nginx = ServiceProcess(
            ["nginx", "-c", str(folder / "nginx.conf"), "-p", str(folder)],
            name="nginx",
            url=self.url,
            ready=http_ready(f"{self.url}/v2/"),
        ).start()

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def stop(self) -> None:
        for process in [self.nginx, *self.instances]:
            if process is not None:
                process.stop()


@contextlib.contextmanager
def cluster(workdir: Path, backend_values: dict, redis_url: str, database_url: str):
    config = {
        **backend_values,
        "loglevel": "info",
        "standalone": True,
        # NOTE: every instance must sign upload URLs with the same key (docs/deploy.md).
        "upload_secret": secrets.token_hex(32),
        "coordination": {"backend": "redis", "url": redis_url},
        "cache_lru": {"url": redis_url},
        "search_backend": "sqlalchemy",
        "sqlalchemy_index_database": database_url,
    }
    env = config.pop("env", {})
    os.environ.update(env)  # the instances and `verify` inherit the backend's environment
    running = Cluster(workdir, config, [free_port() for _ in range(INSTANCES)])
    running.instances = [None] * INSTANCES
    try:
        for index in range(INSTANCES):
            running.start_instance(index)
        running.start_nginx()
        yield running
    finally:
        running.stop()


# -- the clients ----------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the server acknowledged, and what went wrong in a way that is never allowed."""

    v2: list[tuple[str, str, str, list[str]]] = field(default_factory=list)
    skopeo: list[tuple[str, str, str]] = field(default_factory=list)
    v1: list[tuple[str, str, Image]] = field(default_factory=list)
    races: list[tuple[list[Image], list[str]]] = field(default_factory=list)
    wrong_bytes: list[str] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, item) -> None:
        with self.lock:
            getattr(self, kind).append(item)

    def failed(self, what: str) -> None:
        with self.lock:
            self.failures[what] += 1


class Refused(Exception):
    """The cluster answered an error (an instance being killed): the write is not ours."""


def expect(response: requests.Response, *statuses: int) -> requests.Response:
    if response.status_code not in statuses:
        raise Refused(f"{response.request.method} {response.status_code}")
    return response


def push_v2_chunked(session: requests.Session, base: str, name: str, tag: str, rng) -> tuple:
    """Push a config and a layer in three PATCHes (each may land on another instance)."""
    layer = rng.randbytes(rng.randint(64, 320) * 1024)
    config = json.dumps({"os": "linux", "architecture": "amd64", "tag": tag}).encode()
    response = session.post(
        f"{base}/v2/{name}/blobs/uploads/", params={"digest": sha(config)}, data=config
    )
    expect(response, 201)
    location = expect(session.post(f"{base}/v2/{name}/blobs/uploads/"), 202).headers["Location"]
    third = len(layer) // 3
    for start, end in ((0, third), (third, 2 * third), (2 * third, len(layer))):
        url = location if location.startswith("http") else base + location
        response = session.patch(
            url,
            data=layer[start:end],
            headers={
                "Content-Range": f"{start}-{end - 1}",
                "Content-Type": "application/octet-stream",
            },
        )
        location = expect(response, 202).headers["Location"]
    url = location if location.startswith("http") else base + location
    separator = "&" if "?" in url else "?"
    expect(session.put(f"{url}{separator}digest={sha(layer)}"), 201)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha(layer), "size": len(layer)}],
        }
    ).encode()
    response = session.put(
        f"{base}/v2/{name}/manifests/{tag}", data=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    expect(response, 201)
    return name, tag, sha(manifest), [sha(config), sha(layer)]


def pull_v2(session: requests.Session, base: str, item, ledger: Ledger) -> None:
    name, tag, manifest_digest, blobs = item
    response = expect(
        session.get(f"{base}/v2/{name}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}), 200
    )
    if sha(response.content) != manifest_digest:
        ledger.record("wrong_bytes", f"{name}:{tag} manifest")
    for digest in blobs:
        blob = expect(session.get(f"{base}/v2/{name}/blobs/{digest}"), 200)
        if sha(blob.content) != digest:
            ledger.record("wrong_bytes", f"{name}@{digest}")


def v2_pusher(cluster: Cluster, index: int, deadline: float, ledger: Ledger) -> None:
    rng = random.Random(index)
    session = requests.Session()
    count = 0
    while time.monotonic() < deadline:
        count += 1
        try:
            item = push_v2_chunked(session, cluster.url, f"load/v2-{index}", f"t{count}", rng)
        except (Refused, requests.RequestException):
            ledger.failed("v2 push refused")
            time.sleep(0.2)
            continue
        ledger.record("v2", item)


def v2_puller(cluster: Cluster, index: int, deadline: float, ledger: Ledger) -> None:
    rng = random.Random(1000 + index)
    session = requests.Session()
    while time.monotonic() < deadline:
        with ledger.lock:
            choices = list(ledger.v2)
        if not choices:
            time.sleep(0.2)
            continue
        try:
            pull_v2(session, cluster.url, rng.choice(choices), ledger)
        except (Refused, requests.RequestException):
            ledger.failed("v2 pull refused")
            time.sleep(0.2)


def oci_layout(directory: Path, tag: str, layer: bytes) -> str:
    """A one-layer OCI layout for skopeo; return the manifest digest."""
    config = json.dumps({"os": "linux", "architecture": "amd64"}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha(layer), "size": len(layer)}],
        }
    ).encode()
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for data in (config, layer, manifest):
        (blobs / sha(data).split(":")[1]).write_bytes(data)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return sha(manifest)


def skopeo(*args: str) -> bool:
    try:
        result = subprocess.run(
            ["skopeo", "--insecure-policy", *args],
            capture_output=True,
            text=True,
            timeout=2 * TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False  # not acknowledged: the image is not in the ledger
    return result.returncode == 0


def skopeo_client(cluster: Cluster, index: int, deadline: float, ledger: Ledger, workdir: Path):
    rng = random.Random(2000 + index)
    count = 0
    while time.monotonic() < deadline:
        count += 1
        name, tag = f"load/skopeo-{index}", f"t{count}"
        source = workdir / f"skopeo-{index}-{count}"
        oci_layout(source, tag, rng.randbytes(200 * 1024))
        target = f"docker://{cluster.host}/{name}:{tag}"
        digest_file = source / "pushed-digest"
        pushed = skopeo(
            "copy", "--dest-tls-verify=false", "--digestfile", str(digest_file),
            f"oci:{source}:{tag}", target,
        )  # fmt: skip
        if not pushed:
            ledger.failed("skopeo push refused")
            continue
        # NOTE: skopeo may rewrite the manifest on the way: the digest it pushed is the truth.
        ledger.record("skopeo", (name, tag, digest_file.read_text().strip()))
        back = workdir / f"skopeo-{index}-{count}-back"
        if not skopeo("copy", "--src-tls-verify=false", target, f"oci:{back}:{tag}"):
            ledger.failed("skopeo pull refused")
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(back, ignore_errors=True)


def v1_pusher(cluster: Cluster, index: int, deadline: float, ledger: Ledger) -> None:
    rng = random.Random(3000 + index)
    count = 0
    while time.monotonic() < deadline:
        count += 1
        repository, tag = f"load/v1-{index}", f"t{count}"
        image = Image.create(files={"payload": rng.randbytes(rng.randint(16, 160) * 1024)})
        try:
            V1Client(cluster.url).push(repository, [image], {tag: image.id})
        except (V1Error, requests.RequestException, ValueError):
            ledger.failed("v1 push refused")
            time.sleep(0.2)
            continue
        ledger.record("v1", (repository, tag, image))


def race(cluster: Cluster, images: list[Image]) -> list[str]:
    """Push both images at the same instant; each pusher's outcome."""
    outcomes = ["", ""]
    start = threading.Barrier(2)

    def push(n: int) -> None:
        client = V1Client(cluster.url)
        start.wait()
        try:
            outcomes[n] = "pushed" if client.push_image(images[n]) else "skipped"
        except V1Error as exc:
            status = re.search(r" -> (\d+) (.*)", str(exc))
            outcomes[n] = f"refused {status[1]} {status[2][:60]}" if status else f"refused {exc}"
        except requests.RequestException:
            outcomes[n] = "network"

    threads = [threading.Thread(target=push, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def v1_racers(cluster: Cluster, deadline: float, ledger: Ledger) -> None:
    """Two clients push one image id at once, each with its own json and layer."""
    rng = random.Random(4000)
    while time.monotonic() < deadline:
        image_id = secrets.token_hex(32)
        images = [
            Image(
                image_id,
                json.dumps({"id": image_id, "comment": f"pushed by racer {n}"}).encode(),
                layer=make_tar({"who": f"racer {n}".encode() * 4096}),
            )
            for n in (1, 2)
        ]
        outcomes = race(cluster, images)
        ledger.record("races", (images, outcomes))
        time.sleep(rng.random() * 0.05)


# -- the run ----------------------------------------------------------------------------------


def run_load(running: Cluster, workdir: Path) -> Ledger:
    ledger = Ledger()
    deadline = time.monotonic() + DURATION
    workers = (
        [threading.Thread(target=v2_pusher, args=(running, i, deadline, ledger)) for i in range(14)]
        + [
            threading.Thread(target=v2_puller, args=(running, i, deadline, ledger))
            for i in range(8)
        ]
        + [
            threading.Thread(target=skopeo_client, args=(running, i, deadline, ledger, workdir))
            for i in range(4)
        ]
        + [
            threading.Thread(target=v1_pusher, args=(running, i, deadline, ledger))
            for i in range(4)
        ]
        + [threading.Thread(target=v1_racers, args=(running, deadline, ledger)) for _ in range(1)]
    )
    for worker in workers:
        worker.start()
    # 31 threads above, the racer pair makes the 32nd client.
    time.sleep(DURATION * 0.35)
    running.kill_instance(1)
    time.sleep(DURATION * 0.2)
    running.start_instance(1)
    for worker in workers:
        worker.join(DURATION + 4 * TIMEOUT)
        assert not worker.is_alive(), "a client hung"
    return ledger


def check_everything_acknowledged_is_there(running: Cluster, ledger: Ledger) -> None:
    session = requests.Session()
    base = running.url
    assert ledger.wrong_bytes == [], "a pull returned other bytes than were pushed"
    for item in ledger.v2:
        pull_v2(session, base, item, ledger)
    for name, tag, digest in ledger.skopeo:
        response = session.get(
            f"{base}/v2/{name}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}
        )
        assert response.status_code == 200 and sha(response.content) == digest, (name, tag)
    for repository, tag, image in ledger.v1:
        tags = session.get(f"{base}/v1/repositories/{repository}/tags").json()
        assert tags.get(tag) == image.id, (repository, tag, tags)
        layer = session.get(f"{base}/v1/images/{image.id}/layer")
        assert layer.status_code == 200 and layer.content == image.layer, (repository, tag)
    assert ledger.wrong_bytes == [], ledger.wrong_bytes[:5]


def check_no_mixed_v1_image(running: Cluster, ledger: Ledger) -> Counter:
    """Each raced id is one pusher's image entirely (json, layer and checksum), or absent."""
    results: Counter = Counter()
    session = requests.Session()
    for images, outcomes in ledger.races:
        results[tuple(sorted(outcome[:90] for outcome in outcomes))] += 1
        image_id = images[0].id
        stored = session.get(f"{running.url}/v1/images/{image_id}/json")
        if stored.status_code != 200:
            # Neither completed (both refused mid-way, or the killed instance held it).
            assert "pushed" not in outcomes, (image_id, outcomes)
            continue
        owner = [image for image in images if image.json == stored.content]
        assert len(owner) == 1, f"{image_id}: stored json belongs to no pusher"
        layer = session.get(f"{running.url}/v1/images/{image_id}/layer")
        assert layer.content == owner[0].layer, f"{image_id}: json of one pusher, layer of another"
        assert stored.headers.get("X-Docker-Checksum-Payload") == owner[0].payload_checksum()
        pushed = [n for n, outcome in enumerate(outcomes) if outcome == "pushed"]
        assert len(pushed) <= 1, f"{image_id}: both pushers were told they pushed"
        if pushed:
            assert images[pushed[0]] is owner[0], f"{image_id}: the winner's image is not stored"
    return results


def verify_storage(running: Cluster) -> subprocess.CompletedProcess[str]:
    config = running.workdir / "instance-0" / "config.yml"
    return subprocess.run(
        [sys.executable, "-m", "docker_registry.core", "verify", "--config", str(config),
         "--flavor", "test"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def redis_and_postgres():
    redis = start_redis(maxmemory="256mb")
    postgres = start_postgres()
    try:
        yield redis.url, postgres.url
    finally:
        redis.stop()
        postgres.stop()


@pytest.mark.parametrize("start_backend", [start_s3, start_swift_backend], ids=["s3", "swift"])
def test_three_instances_under_load_and_a_kill_lose_nothing(
    start_backend, redis_and_postgres, tmp_path
):
    for tool in ("nginx", "skopeo"):
        assert shutil.which(tool), f"{tool} is needed (Debian package {tool}, .ci/apt-packages)"
    redis_url, postgres_server = redis_and_postgres
    saved_env = dict(os.environ)
    try:
        with (
            start_backend(tmp_path) as backend,
            cluster(
                tmp_path,
                backend.registry_config(),
                redis_url,
                create_database(postgres_server),
            ) as running,
        ):
            ledger = run_load(running, tmp_path)
            print(
                f"acknowledged: {len(ledger.v2)} v2 chunked, {len(ledger.skopeo)} skopeo, "
                f"{len(ledger.v1)} v1, {len(ledger.races)} v1 races; "
                f"refused: {dict(ledger.failures)}"
            )
            # NOTE: floors, not speeds: a run that wrote almost nothing would prove nothing.
            assert len(ledger.v2) >= 10 and len(ledger.v1) >= 3 and len(ledger.skopeo) >= 2
            check_everything_acknowledged_is_there(running, ledger)
            races = check_no_mixed_v1_image(running, ledger)
            print(f"v1 races (outcomes of the two pushers): {dict(races)}")
            assert sum(races.values()) >= 1
            search = requests.get(f"{running.url}/v1/search", params={"q": "v1-"}).json()
            found = {result["name"] for result in search["results"]}
            assert {repository for repository, _, _ in ledger.v1} <= found
            for index, process in enumerate(running.instances):
                assert process is not None
                assert "PATCH" in process.log_path.read_text(errors="replace"), (
                    f"instance {index} never took part in a chunked upload"
                )
            verified = verify_storage(running)
            assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-2000:]
            assert "0 problem(s)" in verified.stdout
            print(verified.stdout.splitlines()[-1])
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
