"""Install sets of built wheels into fresh virtual environments and smoke-test each.

    python .ci/packaging/smoke.py DIST_DIR registry-core,registry-driver-gcs registry-driver-s3 ...

Each argument after DIST_DIR is one set, comma-separated distribution names. A set gets
its own venv (``uv venv``) with registry-core's and the file driver's wheels plus the
set's wheels, given as files so that no distribution of this repository comes from an
index (third-party dependencies do). Then, in that venv: ``docker-registry plugins`` must
list the set's drivers and plugins, and ``docker-registry serve`` must take a v2 blob
push and serve the same bytes back. Sets run in parallel; exit 1 when any fails.
"""

from __future__ import annotations

import concurrent.futures
import configparser
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import requests

#: Every set needs the core, which needs the embedded file driver.
BASE = ("registry-core", "registry-driver-file")


def wheel_of(dist_dir: Path, distribution: str) -> Path:
    pattern = distribution.replace("-", "_") + "-*.whl"
    wheels = sorted(dist_dir.glob(pattern))
    if len(wheels) != 1:
        raise SystemExit(f"smoke: expected one wheel {pattern} in {dist_dir}, found {wheels}")
    return wheels[0]


def entry_names(wheel: Path, group: str) -> list[str]:
    """The entry-point names a wheel declares in ``group`` (what `plugins` must list)."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
        parser = configparser.ConfigParser(delimiters=("=",))
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(archive.read(name).decode())
    return list(parser[group]) if parser.has_section(group) else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(command: list[str], **kwargs) -> str:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr}")
    return result.stdout


def push_and_pull(base_url: str) -> None:
    """A monolithic v2 blob upload, then a GET of the same digest."""
    blob = os.urandom(256 * 1024)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    started = requests.post(f"{base_url}/v2/smoke/test/blobs/uploads/", timeout=30)
    assert started.status_code == 202, (started.status_code, started.text)
    location = requests.compat.urljoin(base_url, started.headers["Location"])
    put = requests.put(location, params={"digest": digest}, data=blob, timeout=30)
    assert put.status_code == 201, (put.status_code, put.text)
    pulled = requests.get(f"{base_url}/v2/smoke/test/blobs/{digest}", timeout=30)
    assert pulled.status_code == 200 and pulled.content == blob, pulled.status_code


def pages_served(base_url: str) -> None:
    """registry-plugin-ui's templates and style sheet came with its wheel."""
    listing = requests.get(f"{base_url}/ui/", timeout=30)
    assert listing.status_code == 200 and "<h1>Repositories</h1>" in listing.text, listing.text
    css = requests.get(f"{base_url}/ui/static/ui.css", timeout=30)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


def serve_and_check(
    venv: Path, work: Path, env: dict[str, str], wanted: list[str] | None = None
) -> None:
    port = free_port()
    log = (work / "serve.log").open("w")
    command = [str(venv / "bin/docker-registry"), "serve", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--threads", "2"],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base_url}/v2/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                output = (work / "serve.log").read_text()
                raise RuntimeError(f"serve did not answer /v2/:\n{output}")
            time.sleep(0.2)
        push_and_pull(base_url)
        if "registry-plugin-ui" in (wanted or []):
            pages_served(base_url)
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()


def smoke(dist_dir: Path, wanted: list[str], root: Path) -> str:
    name = "+".join(wanted)
    work = root / name
    work.mkdir()
    venv = work / "venv"
    wheels = [wheel_of(dist_dir, dist) for dist in dict.fromkeys([*BASE, *wanted])]
    run(["uv", "venv", "--quiet", "--python", sys.executable, str(venv)])
    run(
        ["uv", "pip", "install", "--quiet", "--python", str(venv / "bin/python"), *map(str, wheels)]
    )
    listing = run([str(venv / "bin/docker-registry"), "plugins"], cwd=work)
    for wheel in wheels:
        for group in ("docker_registry.drivers", "docker_registry.plugins"):
            for entry in entry_names(wheel, group):
                line = next((li for li in listing.splitlines() if li.split()[:1] == [entry]), "")
                # NOTE: the mark `plugins` writes after a driver it cannot import
                # (IMPORT_FAILURE_MARK in docker_registry.core.storage.factory).
                if not line or "cannot import" in line:
                    raise RuntimeError(f"`plugins` does not list '{entry}' usable:\n{listing}")
    env = {"PATH": os.environ["PATH"], "STORAGE_PATH": str(work / "data")}
    if "registry-plugin-sqlalchemy" in wanted:
        env["SEARCH_BACKEND"] = "sqlalchemy"
    serve_and_check(venv, work, env, wanted)
    return f"{name}: installed from {len(wheels)} wheels, plugins listed, push + pull OK"


def main(arguments: list[str]) -> int:
    dist_dir = Path(arguments[0]).resolve()
    sets = [argument.split(",") for argument in arguments[1:]]
    failed = 0
    with (
        tempfile.TemporaryDirectory(prefix="dist-smoke-") as root,
        concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool,
    ):
        futures = {pool.submit(smoke, dist_dir, wanted, Path(root)): wanted for wanted in sets}
        for future in concurrent.futures.as_completed(futures):
            try:
                print(future.result(), flush=True)
            except Exception as exc:  # noqa: BLE001 - report every set, then fail
                failed += 1
                print(f"{'+'.join(futures[future])}: FAILED: {exc}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
