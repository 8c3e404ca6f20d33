"""The container image (deploy/container), run with podman and used by real clients.

Rootful podman (the CI runs as root): the container's processes are then visible from the
host with their real uids, and a host folder mounted as the data volume can be handed to
the image's user beforehand. Clients: skopeo (v2 push and pull), the oras SDK (an
artifact), and the black-box suite's Docker 1.x client (v1 push, pull and search).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml
from v1client import Image, V1Client
from v2support import write_oci_layout

from docker_registry.drivers.s3 import testing as s3
from docker_registry.testing import servers
from docker_registry.testing.services import (
    ServiceError,
    ServiceProcess,
    free_port,
    wait_until,
)

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
#: The image's user (deploy/container/Containerfile, REGISTRY_UID).
REGISTRY_UID = 10001
#: Where the image keeps its data (its VOLUME and STORAGE_PATH).
DATA = "/var/lib/registry"
ISSUE = "docker-registry in a container"


def podman_command(*args: str) -> list[str]:
    """podman with the options the build used ($PODMAN_OPTIONS) and, when installed, runc:
    crun cannot start containers on hosts with hybrid cgroups (v1 + v2)."""
    command = ["podman", *shlex.split(os.environ.get("PODMAN_OPTIONS", ""))]
    if shutil.which("runc"):
        command += ["--runtime", "runc"]
    return [*command, *args]


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(
        podman_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CONTAINERS_CONF": str(HERE / "containers.conf")},
    )
    if check:
        assert done.returncode == 0, f"podman {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def run(*command: str, timeout: float = 180) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass
class Container:
    """A registry container serving on the host's loopback at ``port``."""

    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def inspect(self) -> dict:
        return json.loads(podman("inspect", self.name).stdout)[0]

    def logs(self) -> str:
        done = podman("logs", "--tail", "60", self.name, check=False)
        return done.stdout + done.stderr


def start(image: str, name: str, data: Path | None, *options: str, **env: str) -> Container:
    """Run ``image`` detached with ``data`` as its volume (``None``: an anonymous one, like
    Kubernetes' emptyDir); wait until /v2/ answers.

    The host's network: the registry's port is chosen here and given as ``REGISTRY_PORT``
    (over any in ``env``), which is also how the image's HEALTHCHECK finds it. A read-only
    root, as in deploy/kubernetes (podman then mounts a tmpfs on /tmp).
    """
    port = free_port()
    environment = {**env, "REGISTRY_PORT": str(port)}
    variables = [f"--env={key}={value}" for key, value in environment.items()]
    if data is not None:
        variables += ["--volume", f"{data}:{DATA}"]
    podman(
        "run", "--detach", "--name", name, "--network", "host", "--read-only",
        *variables, *options, image,
    )  # fmt: skip
    container = Container(name, port)

    def answers() -> bool:
        if container.inspect()["State"]["Status"] != "running":
            raise ServiceError(f"the container stopped:\n{container.logs()}")
        return requests.get(f"{container.url}/v2/", timeout=2).status_code == 200

    try:
        wait_until(answers, 90, f"the registry in container {name} to answer /v2/")
    except ServiceError as error:
        raise AssertionError(f"{error}\n{container.logs()}") from None
    return container


def remove(name: str) -> None:
    podman("rm", "--force", "--volumes", "--time", "5", name, check=False)


def volume(directory: Path) -> Path:
    """A host folder for the data volume, owned by the image's user, as an operator makes it
    (``install -d -o 10001 -g 10001``)."""
    if os.geteuid() != 0:
        pytest.fail("the container tests run rootful podman: run them as root")
    directory.mkdir(parents=True)
    os.chown(directory, REGISTRY_UID, REGISTRY_UID)
    return directory


def uids(pid: int) -> set[int]:
    """Real, effective, saved and filesystem uids of ``pid`` as the host sees them."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return {int(value) for value in line.split()[1:]}
    raise AssertionError(f"/proc/{pid}/status has no Uid line")


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def files_hashing_to(directory: Path, digest: str) -> list[Path]:
    """Files under ``directory`` whose content hashes to ``digest`` (``sha256:...``)."""
    expected = digest.split(":", 1)[1]
    found = []
    for path in directory.rglob("*"):
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == expected:
            found.append(path)
    return found


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def registry(image, tmp_path_factory) -> Iterator[tuple[Container, Path]]:
    """One container configured by environment only: two workers, the SQL search index
    (registry-plugin-sqlalchemy, SQLite in the volume), deletes on, a custom ``issue``."""
    data = volume(tmp_path_factory.mktemp("container") / "data")
    name = f"docker-registry-test-{secrets.token_hex(4)}"
    try:
        container = start(
            image,
            name,
            data,
            REGISTRY_WORKERS="2",
            SEARCH_BACKEND="sqlalchemy",
            DELETE_ENABLED="true",
            REGISTRY_ISSUE=json.dumps(ISSUE),
            # NOTE: set, as docs/deploy.md says (the packaged configuration has no
            # `_env:` for it: the override form): two workers starting at once on an empty
            # volume can each write their own random key, and an upload hopping between
            # them is then refused.
            REGISTRY_UPLOAD_SECRET=secrets.token_hex(32),
        )
        yield container, data
    finally:
        remove(name)


class TestImage:
    def test_declares_user_volume_port_and_healthcheck(self, image):
        config = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
        assert config["User"] == f"{REGISTRY_UID}:{REGISTRY_UID}"
        assert DATA in config["Volumes"]
        assert "5000/tcp" in config["ExposedPorts"]
        assert config["Entrypoint"] == ["docker-registry"]
        assert config["Cmd"] == ["serve"]
        assert f"STORAGE_PATH={DATA}" in config["Env"]
        health = json.loads(podman("image", "inspect", "--format", "{{json .HealthCheck}}",
                                   image).stdout)  # fmt: skip
        assert health["Test"] == ["CMD", "/usr/local/bin/registry-healthcheck"]

    def test_installed_from_wheels_not_a_checkout(self, image):
        listing = podman("run", "--rm", "--network", "none", image, "plugins").stdout
        for name in ("registry-core", "registry-driver-file", "registry-driver-s3",
                     "registry-plugin-redis", "registry-plugin-sqlalchemy"):  # fmt: skip
            assert name in listing, listing
        located = podman(
            "run", "--rm", "--network", "none", "--entrypoint", "python3", image, "-c",
            "import docker_registry.core as m; print(m.__file__)",
        ).stdout  # fmt: skip
        assert located.startswith("/opt/docker-registry/lib/python3"), located
        assert "site-packages" in located, located


class TestRunning:
    def test_configured_by_environment(self, registry):
        container, _ = registry
        assert requests.get(f"{container.url}/", timeout=10).json() == ISSUE
        ready = requests.get(f"{container.url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text

    def test_healthcheck_passes_and_can_fail(self, registry):
        container, _ = registry
        podman("healthcheck", "run", container.name)
        assert container.inspect()["State"]["Health"]["Status"] == "healthy"
        ready = podman("exec", container.name, "registry-healthcheck", "--ready", check=False)
        assert ready.returncode == 0, ready.stderr
        # The same check against a port nothing listens on: it must say so, and fail.
        wrong = podman(
            "exec", "--env", "REGISTRY_PORT=1", container.name, "registry-healthcheck",
            check=False,
        )  # fmt: skip
        assert wrong.returncode == 1
        assert "127.0.0.1:1/healthz" in wrong.stderr

    def test_every_process_runs_as_the_registry_user(self, registry):
        container, _ = registry
        assert podman("exec", container.name, "id", "-u").stdout.strip() == str(REGISTRY_UID)
        main = container.inspect()["State"]["Pid"]
        processes = [main, *descendants(main)]
        # serve --workers 2: a supervisor and its two workers.
        assert len(processes) >= 3, processes
        for pid in processes:
            assert uids(pid) == {REGISTRY_UID}, (pid, uids(pid))

    def test_skopeo_push_pull_lands_in_the_volume(self, registry, tmp_path):
        container, data = registry
        parts = write_oci_layout(tmp_path / "layout", "1", {"etc/motd": b"from the image test\n"})
        target = f"docker://{container.host}/deploy/hello:1"
        run("skopeo", "copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:1", target)
        run("skopeo", "copy", "--src-tls-verify=false", target, f"oci:{tmp_path / 'out'}:1")
        layer = sha256(parts["layer"])
        pulled = tmp_path / "out" / "blobs" / "sha256" / layer.split(":")[1]
        assert pulled.read_bytes() == parts["layer"]
        stored = files_hashing_to(data, layer)
        assert stored, f"no file in the volume {data} holds the pushed layer {layer}"
        for path in stored:
            assert path.stat().st_uid == REGISTRY_UID, path

    def test_oras_artifact(self, registry, tmp_path, monkeypatch):
        oras_client = pytest.importorskip("oras.client")
        container, data = registry
        monkeypatch.chdir(tmp_path)
        content = f"an artifact {secrets.token_hex(8)}\n".encode()
        Path("artifact.txt").write_bytes(content)
        client = oras_client.OrasClient(hostname=container.host, insecure=True)
        client.push(files=["artifact.txt"], target=f"{container.host}/deploy/artifact:v1")
        pulled = client.pull(target=f"{container.host}/deploy/artifact:v1", outdir="out")
        assert [Path(path).read_bytes() for path in pulled] == [content]
        assert files_hashing_to(data, sha256(content))

    def test_v1_push_pull_and_search(self, registry):
        container, data = registry
        client = V1Client(container.url)
        base = Image.create(files={"etc/os-release": b"NAME=test\n"})
        top = Image.create(parent=base, files={"app/run": b"#!/bin/sh\necho hi\n"})
        client.push("deploy/legacy", [base, top], {"latest": top.id})
        pulled = V1Client(container.url).pull("deploy/legacy", "latest")
        assert [image["id"] for image in pulled] == [base.id, top.id]
        assert [image["layer"] for image in pulled] == [base.layer, top.layer]
        found = requests.get(f"{container.url}/v1/search", params={"q": "legacy"}, timeout=10)
        assert [item["name"] for item in found.json()["results"]] == ["deploy/legacy"]
        # The SQL index is SQLite in the volume (registry-plugin-sqlalchemy's default).
        assert [path for path in data.rglob("*.sqlite") if path.stat().st_uid == REGISTRY_UID]
        assert files_hashing_to(data, sha256(top.layer))


def test_data_outlives_the_container_and_sigterm_stops_it(image, tmp_path):
    """podman stop (SIGTERM) ends the registry promptly and cleanly; a new container on the
    same volume serves what the first one stored."""
    data = volume(tmp_path / "data")
    parts = write_oci_layout(tmp_path / "layout", "1", {"kept.txt": b"still here\n"})
    first = f"docker-registry-test-{secrets.token_hex(4)}"
    second = f"docker-registry-test-{secrets.token_hex(4)}"
    try:
        container = start(image, first, data)
        run(
            "skopeo", "copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:1",
            f"docker://{container.host}/deploy/kept:1",
        )  # fmt: skip
        began = time.monotonic()
        podman("stop", "--time", "20", first)
        took = time.monotonic() - began
        state = container.inspect()["State"]
        # A PID 1 that ignored SIGTERM would be killed after --time: 137 and 20 s.
        assert state["ExitCode"] == 0, container.logs()
        assert took < 15, f"podman stop took {took:.1f}s"
        container = start(image, second, data)
        run(
            "skopeo", "copy", "--src-tls-verify=false",
            f"docker://{container.host}/deploy/kept:1", f"oci:{tmp_path / 'out'}:1",
        )  # fmt: skip
        layer = sha256(parts["layer"])
        assert (tmp_path / "out" / "blobs" / "sha256" / layer.split(":")[1]).read_bytes() == (
            parts["layer"]
        )
    finally:
        remove(first)
        remove(second)


# -- the Kubernetes configuration on shared backends ------------------------------------------

MANIFESTS = HERE.parent / "kubernetes"


def kubernetes_replica_setup(config_folder: Path) -> tuple[dict[str, str], list[str]]:
    """The Deployment's environment and a mount of the ConfigMap, as podman options."""
    documents = {}
    for path in MANIFESTS.glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            documents[document["kind"]] = document
    (container,) = documents["Deployment"]["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item["value"] for item in container["env"]}
    config_path = Path(env["DOCKER_REGISTRY_CONFIG"])
    config_folder.mkdir()
    for name, text in documents["ConfigMap"]["data"].items():
        (config_folder / name).write_text(text)
    return env, ["--volume", f"{config_folder}:{config_path.parent}:ro"]


def test_kubernetes_replicas_share_s3_redis_and_postgres(image, tmp_path):
    """Two containers configured as two replicas of deploy/kubernetes (its ConfigMap and
    its Deployment's environment) on real S3 (moto), Redis and PostgreSQL: what one
    stores, the other serves; what one indexes, the other finds."""
    for tool in ("moto_server", "redis-server", str(servers.PG_BIN / "postgres")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing (moto[server]; Debian redis-server, postgresql)")
    env, mount = kubernetes_replica_setup(tmp_path / "config")
    names = [f"docker-registry-test-{secrets.token_hex(4)}" for _ in range(2)]
    services: list[ServiceProcess] = []
    try:
        for starting in (s3.start_moto, servers.start_redis, servers.start_postgres):
            services.append(starting())
        moto, redis, postgres = services
        s3.s3_client(moto.url).create_bucket(Bucket="registry")
        secret = {
            "AWS_BUCKET": "registry",
            "AWS_KEY": s3.ACCESS_KEY,
            "AWS_SECRET": s3.SECRET_KEY,
            "AWS_ENDPOINT_URL": moto.url,
            "COORDINATION_REDIS_URL": redis.url,
            "SQLALCHEMY_INDEX_DATABASE": postgres.url,
            "UPLOAD_SECRET": secrets.token_hex(32),
        }
        # NOTE: the replicas share the host's network here, so each has its own port.
        replicas = [start(image, name, None, *mount, **env, **secret) for name in names]
        first, second = replicas
        for replica in replicas:
            ready = requests.get(f"{replica.url}/readyz", timeout=10)
            assert ready.status_code == 200, ready.text
            assert set(ready.json()["checks"]) == {"storage", "search (sqlalchemy)"}
        parts = write_oci_layout(tmp_path / "layout", "1", {"shared.txt": b"one bucket\n"})
        run(
            "skopeo", "copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:1",
            f"docker://{first.host}/cluster/app:1",
        )  # fmt: skip
        run(
            "skopeo", "copy", "--src-tls-verify=false",
            f"docker://{second.host}/cluster/app:1", f"oci:{tmp_path / 'out'}:1",
        )  # fmt: skip
        layer = sha256(parts["layer"]).split(":")[1]
        assert (tmp_path / "out" / "blobs" / "sha256" / layer).read_bytes() == parts["layer"]
        client = s3.s3_client(moto.url)
        keys = [item["Key"] for item in client.list_objects_v2(Bucket="registry")["Contents"]]
        assert any(
            client.get_object(Bucket="registry", Key=key)["Body"].read() == parts["layer"]
            for key in keys
        ), "the layer is not in the bucket"
        image_v1 = Image.create(files={"etc/motd": b"indexed once\n"})
        V1Client(first.url).push("cluster/legacy", [image_v1], {"latest": image_v1.id})
        found = requests.get(f"{second.url}/v1/search", params={"q": "legacy"}, timeout=10)
        assert [item["name"] for item in found.json()["results"]] == ["cluster/legacy"]
    finally:
        for name in names:
            remove(name)
        for service in services:
            service.stop()
