"""Side-by-side v2 benchmark: our registry, the reference registry and a Falcon "hello".

Starts the three servers on loopback (file storage in a temporary folder), runs
``../shared/tools/bench_v2.py`` against ours and the reference in the same run (each
group of measures in ABBA order: ours, reference, reference, ours, so that a drift of
the machine's load favours neither), runs ``wrk`` against the hello app, and prints one
table with the ratios. The whole run holds
``/tmp/bench.lock`` so that it never overlaps with another benchmark::

    python benchmarks/v2_bench.py                 # full run (~8 minutes)
    python benchmarks/v2_bench.py --quick         # 64 MiB, 1 rep, 5 s wrk
    python benchmarks/v2_bench.py --threads 8 --json results.json
    python benchmarks/v2_bench.py --groups upload,download   # only these measures
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests

from docker_registry.testing.services import ServiceProcess, free_port, http_ready

# NOTE: the team's shared tools sit beside the repository checkout (``../shared/tools``).
TOOLS = Path(
    os.environ.get("REGISTRY_TOOLS", Path(__file__).resolve().parents[2] / "shared" / "tools")
)
LOCK = "/tmp/bench.lock"
HELLO = textwrap.dedent(
    """
    import sys, falcon, waitress
    class Hello:
        def on_get(self, req, resp):
            resp.data = b"hello"
    app = falcon.App()
    app.add_route("/", Hello())
    waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]),
                   _quiet=True)
    """
)
#: Groups of bench_v2.py measures, each run in ABBA order.
GROUPS = ["upload,download", "small", "wrk,tags"]
#: ``(measure, target ratio ours/reference)``, from the issue.
TARGETS = {
    "upload_mono": 1.5,
    "upload_chunked": 1.5,
    "download": 1.2,
    "small_c1": 3.0,
    "small_c8": 3.0,
    "wrk_manifest_get": 2.0,
    "wrk_tags_list": 2.0,
}


def start_ours(workdir: Path, threads: int, workers: int) -> ServiceProcess:
    config = workdir / "ours.yml"
    config.write_text(
        f"bench:\n  storage: file\n  storage_path: {workdir / 'ours-data'}\n  loglevel: warning\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "docker_registry.core",
        "serve",
        "--config",
        str(config),
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
    ]
    return ServiceProcess(command, name="ours", url=url, ready=http_ready(url + "/v2/")).start()


def start_reference(workdir: Path) -> tuple[str, int]:
    port = free_port()
    pid = subprocess.run(
        ["bash", str(TOOLS / "reference-registry.sh"), str(port), str(workdir / "reference")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"http://127.0.0.1:{port}", int(pid)


def start_hello(threads: int) -> ServiceProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    return ServiceProcess(
        [sys.executable, "-c", HELLO, str(port), str(threads)],
        name="hello",
        url=url,
        ready=http_ready(url + "/"),
    ).start()


def bench(url: str, pid: int, args, out: Path, tests: str, reps: int) -> dict[str, float]:
    command = [
        sys.executable,
        str(TOOLS / "bench_v2.py"),
        url,
        "--server-pid",
        str(pid),
        "--tests",
        tests,
        "--reps",
        str(reps),
        "--big-mib",
        str(args.big_mib),
        "--wrk-secs",
        str(args.wrk_secs),
        "--json",
        str(out),
    ]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    data = json.loads(out.read_text())
    results = {item["name"]: item["median"] for item in data["results"]}
    results["peak_rss_mib"] = data["info"]["server_after"]["hwm_kib"] / 1024
    return results


def interleaved(servers: dict[str, tuple[str, int]], args, workdir: Path) -> dict[str, dict]:
    """Run each group of measures in ABBA order (ours, reference, reference, ours).

    NOTE: the machine is shared; load that rises or falls during a run would favour
    whichever server goes last. ABBA cancels a linear drift; medians of the two runs.
    """
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in servers}
    reps = max(1, (args.reps + 1) // 2)
    order = ["ours", "reference", "reference", "ours"]
    for group in args.groups:
        for index, kind in enumerate(order):
            url, pid = servers[kind]
            out = workdir / f"{kind}-{group.replace(',', '-')}-{index}.json"
            runs[kind].append(bench(url, pid, args, out, group, reps))
    merged: dict[str, dict] = {}
    for kind, results in runs.items():
        names = {name for result in results for name in result}
        merged[kind] = {
            name: (max if name == "peak_rss_mib" else statistics.median)(
                [result[name] for result in results if name in result]
            )
            for name in names
        }
    return merged


def wrk_hello(url: str, secs: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{secs}s", url + "/"], check=True, capture_output=True, text=True
    ).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (ours, hello)")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="our server's processes (default: one per CPU core; the hello app has one)",
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--wrk-secs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="64 MiB, 1 rep, 5 s of wrk")
    parser.add_argument("--json", help="write both servers' results here")
    parser.add_argument(
        "--groups",
        nargs="+",
        default=GROUPS,
        help=f"groups of bench_v2.py measures, each run ABBA (default: {' '.join(GROUPS)})",
    )
    args = parser.parse_args()
    if args.quick:
        args.reps, args.big_mib, args.wrk_secs = 1, 64, 5
    with open(LOCK, "w") as lock:
        print(f"waiting for {LOCK}...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
        with tempfile.TemporaryDirectory(prefix="v2bench-") as tmp:
            run(Path(tmp), args)


def run(workdir: Path, args) -> None:
    ours = start_ours(workdir, args.threads, args.workers)
    ref_url, ref_pid = start_reference(workdir)
    hello = start_hello(args.threads)
    try:
        requests.get(ours.url + "/v2/", timeout=5).raise_for_status()
        results: dict = interleaved(
            {"ours": (ours.url, ours.pid), "reference": (ref_url, ref_pid)}, args, workdir
        )
        time.sleep(1)
        wanted = any("wrk" in group for group in args.groups)
        results["hello_rps"] = wrk_hello(hello.url, args.wrk_secs) if wanted else 0.0
    finally:
        ours.stop()
        hello.stop()
        os.kill(ref_pid, 15)
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def report(results: dict) -> None:
    ours, ref, hello = results["ours"], results["reference"], results["hello_rps"]
    print(f"\n{'measure':<20} {'ours':>10} {'reference':>10} {'ratio':>7} {'target':>7}")
    for name in sorted(set(ours) | set(ref)):
        a, b = ours.get(name), ref.get(name)
        ratio = a / b if a and b else float("nan")
        target = TARGETS.get(name)
        mark = "" if target is None else (" ok" if ratio >= target else " MISS")
        print(f"{name:<20} {a or 0:10.1f} {b or 0:10.1f} {ratio:7.2f} {target or '':>7}{mark}")
    if not hello:
        return
    print(f"\nFalcon hello on waitress: {hello:.0f} req/s")
    for name in ("wrk_manifest_get", "wrk_tags_list"):
        if name in ours:
            print(f"  {name}: {ours[name] / hello:.0%} of hello (target >= 60%)")


if __name__ == "__main__":
    main()
