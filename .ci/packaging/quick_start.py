"""Run the README's command 1 in a fresh copy of the repository and use the registry.

    python .ci/packaging/quick_start.py

The command is read from the README (the line after "# 1."), run with bash in a copy of
the tracked files, on a free port ($REGISTRY_PORT). Passes when the registry answers v1 and
v2, a pushed repository is found by /v1/search, and everything it wrote is in .venv and
./registry-data (the search index included). Exit 1 with the server's output otherwise.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def readme_command(number: int) -> str:
    lines = (ROOT / "README.md").read_text().splitlines()
    marker = next(i for i, line in enumerate(lines) if line.startswith(f"# {number}. "))
    return lines[marker + 1]


def fresh_copy(target: Path) -> set[str]:
    """The files a clone would have (tracked, plus new ones not ignored), nothing built."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
    return {path.name for path in target.iterdir()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check(base: str, clone: Path, copied: set[str]) -> None:
    assert requests.get(f"{base}/v2/", timeout=5).status_code == 200
    assert requests.get(f"{base}/v1/_ping", timeout=5).status_code == 200
    created = requests.put(f"{base}/v1/repositories/quick/start/", data="[]", timeout=10)
    assert created.status_code == 200, created.text
    found = requests.get(f"{base}/v1/search", params={"q": "quick"}, timeout=10).json()
    assert [r["name"] for r in found["results"]] == ["quick/start"], found
    assert (clone / "registry-data" / "search-index.sqlite").is_file()
    written = {path.name for path in clone.iterdir()} - copied
    assert written <= {".venv", "registry-data"}, f"written outside them: {written}"


def main() -> int:
    command = readme_command(1)
    with tempfile.TemporaryDirectory(prefix="quick-start-") as temporary:
        clone = Path(temporary)
        copied = fresh_copy(clone)
        port = free_port()
        env = {**os.environ, "REGISTRY_PORT": str(port)}
        for name in ("VIRTUAL_ENV", "STORAGE_PATH", "DOCKER_REGISTRY_CONFIG", "SETTINGS_FLAVOR"):
            env.pop(name, None)
        log = (clone.parent / f"{clone.name}.log").open("w+")
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 300
            while process.poll() is None and time.monotonic() < deadline:
                try:
                    requests.get(f"{base}/v2/", timeout=2)
                    break
                except requests.ConnectionError:
                    time.sleep(0.5)
            check(base, clone, copied)
        except (AssertionError, requests.RequestException) as exc:
            log.seek(0)
            print(
                f"quick start failed: {exc!r}\n$ {command}\n{log.read()[-4000:]}", file=sys.stderr
            )
            return 1
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
            log.close()
            os.unlink(log.name)
    print(f"quick start OK: {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
