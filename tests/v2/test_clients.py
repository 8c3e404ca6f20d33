"""Real clients against our registry: skopeo, podman, buildah, oras, python-dxf."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from v2support import OCI_MANIFEST, Client, digest, start_ours, write_oci_layout

from docker_registry.testing.podman_search import check_podman_search, podman_command

pytestmark = pytest.mark.slow


def run(*command: str, timeout: float = 180) -> str:
    """Run a client; fail with its output when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is missing: apt-get install -y {tool}")


@pytest.fixture
def oci_image(tmp_path) -> tuple[str, dict]:
    parts = write_oci_layout(tmp_path / "layout", "v1", {"etc/motd": b"hello from a test\n"})
    return f"oci:{tmp_path / 'layout'}:v1", parts


class TestSkopeo:
    def test_push_pull_inspect_list_delete(self, ours, oci_image, tmp_path):
        need("skopeo")
        source, parts = oci_image
        dest = f"docker://{ours.host}/team/app"
        run("skopeo", "copy", "--dest-tls-verify=false", source, f"{dest}:oci")
        run(
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            "--format",
            "v2s2",
            source,
            f"{dest}:docker",
        )
        manifest = Client(ours.url).http.get(
            f"{ours.url}/v2/team/app/manifests/oci", headers={"Accept": OCI_MANIFEST}
        )
        assert manifest.content == parts["manifest"]  # stored bytes are the pushed bytes
        inspect = json.loads(run("skopeo", "inspect", "--tls-verify=false", f"{dest}:docker"))
        assert inspect["Layers"] == [digest(parts["layer"])]
        raw = json.loads(run("skopeo", "inspect", "--raw", "--tls-verify=false", f"{dest}:docker"))
        assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
        tags = json.loads(run("skopeo", "list-tags", "--tls-verify=false", dest))
        assert tags["Tags"] == ["docker", "oci"]
        out = tmp_path / "pulled"
        run("skopeo", "copy", "--src-tls-verify=false", f"{dest}:oci", f"oci:{out}:v1")
        blob = out / "blobs" / "sha256" / digest(parts["layer"]).split(":")[1]
        assert blob.read_bytes() == parts["layer"]
        run("skopeo", "delete", "--tls-verify=false", f"{dest}:docker")
        tags = json.loads(run("skopeo", "list-tags", "--tls-verify=false", dest))
        assert tags["Tags"] == ["oci"]

    def test_dir_pull_v2s2(self, ours, oci_image, tmp_path):
        need("skopeo")
        source, parts = oci_image
        run(
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            "--format",
            "v2s2",
            source,
            f"docker://{ours.host}/library/busybox:1",
        )
        run(
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            f"docker://{ours.host}/library/busybox:1",
            f"dir:{tmp_path / 'dir'}",
        )
        files = os.listdir(tmp_path / "dir")
        assert digest(parts["layer"]).split(":")[1] in files


class TestPodman:
    def podman(self, root, *args: str) -> str:
        return run(*podman_command(str(root)), *args)

    def test_pull_push_search(self, ours, oci_image, tool_root):
        need("podman")
        need("skopeo")
        source, _ = oci_image
        run(
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            source,
            f"docker://{ours.host}/podman/src:1",
        )
        self.podman(tool_root, "pull", "--tls-verify=false", f"{ours.host}/podman/src:1")
        self.podman(tool_root, "tag", f"{ours.host}/podman/src:1", f"{ours.host}/podman/dst:2")
        self.podman(tool_root, "push", "--tls-verify=false", f"{ours.host}/podman/dst:2")
        found = self.podman(tool_root, "search", "--tls-verify=false", f"{ours.host}/")
        assert f"{ours.host}/podman/dst" in found
        assert f"{ours.host}/podman/src" in found
        tags = self.podman(
            tool_root, "search", "--tls-verify=false", "--list-tags", f"{ours.host}/podman/dst"
        )
        assert "2" in tags.split()


class TestPodmanSearch:
    """podman finds v1 and v2 repositories by a term, with the built-in backends (the
    SQL index: plugins/sqlalchemy/tests/test_sqlalchemy_podman_search.py)."""

    @pytest.mark.parametrize("backend", [None, "storage"], ids=["no-backend", "storage"])
    def test_search_with_a_term(self, tmp_path, backend):
        values = {} if backend is None else {"search_backend": backend}
        server = start_ours(tmp_path / "ours", **values)
        try:
            check_podman_search(server.url, server.host)
        finally:
            server.process.stop()


class TestBuildah:
    def test_build_from_scratch_and_push(self, ours, tool_root):
        need("buildah")
        base = [
            "buildah",
            "--root",
            str(tool_root / "root"),
            "--runroot",
            str(tool_root / "run"),
            "--storage-driver",
            "vfs",
        ]
        container = run(*base, "from", "scratch").strip()
        payload = tool_root / "payload.txt"
        payload.write_text("built by buildah\n")
        run(*base, "copy", container, str(payload), "/payload.txt")
        run(*base, "commit", container, "localhost/scratch-test:1")
        run(
            *base,
            "push",
            "--tls-verify=false",
            "localhost/scratch-test:1",
            f"docker://{ours.host}/buildah/scratch:1",
        )
        tags = Client(ours.url).http.get(f"{ours.url}/v2/buildah/scratch/tags/list").json()
        assert tags["tags"] == ["1"]


class TestOras:
    def test_artifact_and_referrer(self, ours, tmp_path, monkeypatch):
        oras_client = pytest.importorskip("oras.client")
        oras_oci = pytest.importorskip("oras.oci")
        client = oras_client.OrasClient(hostname=ours.host, insecure=True)
        artifact = tmp_path / "artifact.txt"
        artifact.write_text("an oras artifact\n")
        monkeypatch.chdir(tmp_path)
        response = client.push(files=["artifact.txt"], target=f"{ours.host}/oras/thing:v1")
        assert response.status_code == 201
        subject = response.headers["Docker-Content-Digest"]
        raw = Client(ours.url).http.get(f"{ours.url}/v2/oras/thing/manifests/v1").content
        signature = tmp_path / "signature.txt"
        signature.write_text("a signature\n")
        referrer = client.push(
            files=["signature.txt"],
            target=f"{ours.host}/oras/thing:sig",
            subject=oras_oci.Subject(mediaType=OCI_MANIFEST, digest=subject, size=len(raw)),
        )
        assert referrer.status_code == 201
        assert referrer.headers["OCI-Subject"] == subject
        out = tmp_path / "out"
        pulled = client.pull(target=f"{ours.host}/oras/thing:v1", outdir=str(out))
        assert [Path(path).read_text() for path in pulled] == ["an oras artifact\n"]
        listed = Client(ours.url).http.get(f"{ours.url}/v2/oras/thing/referrers/{subject}")
        assert [entry["digest"] for entry in listed.json()["manifests"]] == [
            referrer.headers["Docker-Content-Digest"]
        ]
        assert client.get_tags(f"{ours.host}/oras/thing") == ["sig", "v1"]


class TestDxf:
    def test_blobs_aliases_repos(self, ours, tmp_path):
        dxf = pytest.importorskip("dxf")
        registry = dxf.DXF(ours.host, "dxf/repo", insecure=True)
        data = tmp_path / "blob.bin"
        data.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
        blob = registry.push_blob(str(data))
        assert registry.blob_size(blob) == data.stat().st_size
        assert b"".join(registry.pull_blob(blob)) == data.read_bytes()
        registry.set_alias("latest", blob)
        assert registry.list_aliases() == ["latest"]
        assert registry.get_alias("latest") == [blob]
        assert "dxf/repo" in registry.list_repos()
        registry.del_alias("latest")
        registry.del_blob(blob)
        with pytest.raises(Exception, match="404"):
            registry.blob_size(blob)
