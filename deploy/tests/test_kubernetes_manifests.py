"""deploy/kubernetes: the manifests parse, and agree with each other and with the image.

kubectl is not at hand: the YAML is read with PyYAML and checked against what the
Containerfile declares (port, user, command, volume) and what the registry serves
(/healthz, /readyz); the ConfigMap's configuration is loaded by the registry's own loader.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from docker_registry.core.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
CONTAINERFILE = (ROOT / "deploy" / "container" / "Containerfile").read_text()


def containerfile(instruction: str) -> str:
    """The argument of the Containerfile's (last) ``instruction``."""
    found = re.findall(rf"^{instruction}\s+(.+)$", CONTAINERFILE, re.MULTILINE)
    assert found, f"the Containerfile has no {instruction}"
    return found[-1].strip()


def version() -> str:
    with open(ROOT / "core" / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["version"]


@pytest.fixture(scope="module")
def documents() -> dict[str, dict]:
    """Every manifest by kind (one object of each kind here)."""
    found: dict[str, dict] = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            assert document["kind"] not in found, f"two {document['kind']}s"
            found[document["kind"]] = document
    return found


@pytest.fixture(scope="module")
def container(documents) -> dict:
    (only,) = documents["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


def test_kustomization_lists_every_manifest(documents):
    listed = documents["Kustomization"]["resources"]
    present = [path.name for path in MANIFESTS.glob("*.yaml") if path.name != "kustomization.yaml"]
    assert sorted(listed) == sorted(present)


def test_image_is_the_one_build_sh_makes(documents, container):
    name, _, tag = container["image"].rpartition(":")
    # build.sh's default IMAGE: localhost/docker-registry:<registry-core's version>.
    assert (
        "image=${IMAGE:-localhost/docker-registry:$version}"
        in (ROOT / "deploy" / "container" / "build.sh").read_text()
    )
    assert (name, tag) == ("localhost/docker-registry", version())
    (override,) = documents["Kustomization"]["images"]
    assert override["name"] == name
    assert override["newTag"] == version()


def test_command_port_and_user_match_the_containerfile(documents, container):
    assert "command" not in container, "the image's ENTRYPOINT runs"
    assert container["args"] == yaml.safe_load(containerfile("CMD"))
    (port,) = container["ports"]
    assert str(port["containerPort"]) == containerfile("EXPOSE")
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["REGISTRY_PORT"] == str(port["containerPort"])
    uid = int(re.search(r"^ARG REGISTRY_UID=(\d+)$", CONTAINERFILE, re.MULTILINE)[1])
    security = documents["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"], security["fsGroup"]) == (uid,) * 3


def test_probes_ask_healthz_and_readyz_on_the_served_port(container):
    port_names = {port["name"] for port in container["ports"]}
    probes = {
        kind: container[kind]["httpGet"]
        for kind in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["startupProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert probe["port"] in port_names
    # The image's own HEALTHCHECK asks the same endpoint.
    assert "/healthz" in (ROOT / "deploy" / "container" / "healthcheck.py").read_text()


def test_service_reaches_the_pods(documents, container):
    service = documents["Service"]["spec"]
    labels = documents["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    assert documents["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (port,) = service["ports"]
    assert port["targetPort"] in {item["name"] for item in container["ports"]}


def test_read_only_root_has_its_writable_folders(documents, container):
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {
        item["name"]: item
        for item in documents["Deployment"]["spec"]["template"]["spec"]["volumes"]
    }
    mounts = {item["mountPath"]: item["name"] for item in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    # The image's VOLUME.
    assert yaml.safe_load(containerfile("VOLUME")) == ["/var/lib/registry"]
    assert "/var/lib/registry" in mounts


def test_configmap_is_the_configuration_the_deployment_reads(documents, container, tmp_path):
    env = {item["name"]: item.get("value") for item in container["env"]}
    config_path = Path(env["DOCKER_REGISTRY_CONFIG"])
    mounts = {item["name"]: item["mountPath"] for item in container["volumeMounts"]}
    volumes = documents["Deployment"]["spec"]["template"]["spec"]["volumes"]
    (config_volume,) = [item for item in volumes if "configMap" in item]
    assert config_volume["configMap"]["name"] == documents["ConfigMap"]["metadata"]["name"]
    assert mounts[config_volume["name"]] == str(config_path.parent)
    text = documents["ConfigMap"]["data"][config_path.name]
    # The registry's loader: the flavor exists, `_env:` values resolve, types validate.
    secrets = {
        "AWS_BUCKET": "registry",
        "AWS_KEY": "key",
        "AWS_SECRET": "secret",
        "COORDINATION_REDIS_URL": "redis://redis:6379/0",
        "SQLALCHEMY_INDEX_DATABASE": "postgresql+psycopg://registry@postgres/registry",
        "UPLOAD_SECRET": "0123456789abcdef",
    }
    (tmp_path / "config.yml").write_text(text)
    settings = load_settings(tmp_path / "config.yml", env["SETTINGS_FLAVOR"], environ=secrets)
    assert settings.get("storage") == "s3"
    assert settings.get("boto_bucket") == "registry"
    assert settings.get("coordination")["backend"] == "redis"
    assert settings.get("search_backend") == "sqlalchemy"
    assert settings.get("upload_secret") == "0123456789abcdef"
