"""Test helpers for Swift: an all-in-one server and a TCP relay to simulate a crash.

Used by this distribution's tests and by other drivers that store data in Swift (the
``glance`` driver with ``storage_alternate: swift``). Nothing here needs pytest, and
nothing runs at import time. :func:`start_swift` builds an all-in-one from Debian's
``swift`` packages in a temporary directory::

    <tmp>/
    ├── swift.conf                  hash path prefix/suffix, one storage policy
    ├── {account,container,object}.ring.gz   one device, one replica each
    ├── {account,container,object,proxy}-server.conf
    └── srv/d1/                     the one device (mount_check = false)

plus memcached (tempauth keeps its tokens there). The proxy pipeline has tempauth
(``test:tester`` / ``testing``), tempurl, slo, dlo and copy.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from swiftclient.client import Connection

from docker_registry.testing.services import ServiceProcess, free_port, http_ready, tcp_ready

__all__ = ["KEY", "USER", "SwiftService", "TcpForwarder", "start_swift"]

USER = "test:tester"
KEY = "testing"
#: The system interpreter that has Debian's swift package.
SYSTEM_PYTHON = "/usr/bin/python3"

_RINGS = """
import sys
from swift.common.ring import RingBuilder
for kind, port in zip(("account", "container", "object"), sys.argv[2:]):
    builder = RingBuilder(8, 1, 1)
    builder.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
                     "device": "d1", "weight": 100})
    builder.rebalance()
    builder.save(f"{sys.argv[1]}/{kind}.builder")
    builder.get_ring().save(f"{sys.argv[1]}/{kind}.ring.gz")
"""


@dataclass
class SwiftService:
    """Where the tests reach Swift, and the processes to stop (none when reused)."""

    auth_url: str
    user: str = USER
    key: str = KEY
    memcached: str | None = None
    processes: list[ServiceProcess] = field(default_factory=list)
    workdir: str | None = None
    startup_seconds: float = 0.0

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def connection(self) -> Connection:
        """A plain swiftclient connection (to set up and inspect containers)."""
        return Connection(authurl=self.auth_url, user=self.user, key=self.key, retries=1)

    def expire_tokens(self) -> None:
        """Revoke every tempauth token by emptying memcached (where tempauth keeps them)."""
        if not self.memcached:
            raise RuntimeError("set REGISTRY_TEST_SWIFT_MEMCACHED=host:port to expire tokens")
        host, _, port = self.memcached.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"flush_all\r\n")
            assert sock.recv(64).startswith(b"OK")


def _server_conf(directory: Path, kind: str, port: int, body: str) -> Path:
    path = directory / f"{kind}-server.conf"
    common = f"""
        [DEFAULT]
        bind_ip = 127.0.0.1
        bind_port = {port}
        swift_dir = {directory}
        devices = {directory / "srv"}
        mount_check = false
        user = root
        workers = 0
        log_name = {kind}-server
        log_level = WARNING
    """
    path.write_text(textwrap.dedent(common) + textwrap.dedent(body))
    return path


def start_swift(token_life: int = 86400) -> SwiftService:
    """Build an all-in-one Swift in a temporary directory and start it on free ports."""
    started = time.monotonic()
    directory = Path(tempfile.mkdtemp(prefix="registry-swift-"))
    (directory / "srv" / "d1").mkdir(parents=True)
    (directory / "swift.conf").write_text(
        "[swift-hash]\nswift_hash_path_suffix = registry\nswift_hash_path_prefix = tests\n"
        "[storage-policy:0]\nname = gold\ndefault = yes\n"
    )
    ports = {kind: free_port() for kind in ("account", "container", "object", "proxy", "mc")}
    subprocess.run(
        [SYSTEM_PYTHON, "-c", _RINGS, str(directory)]
        + [str(ports[kind]) for kind in ("account", "container", "object")],
        check=True,
        capture_output=True,
    )
    service = SwiftService(
        auth_url=f"http://127.0.0.1:{ports['proxy']}/auth/v1.0",
        memcached=f"127.0.0.1:{ports['mc']}",
        workdir=str(directory),
    )
    try:
        service.processes.append(
            ServiceProcess(
                ["memcached", "-u", "root", "-l", "127.0.0.1", "-p", str(ports["mc"]), "-U", "0"],
                name="swift-memcached",
                ready=tcp_ready("127.0.0.1", ports["mc"]),
            ).start()
        )
        for kind in ("account", "container", "object"):
            conf = _server_conf(
                directory,
                kind,
                ports[kind],
                f"""
                [pipeline:main]
                pipeline = {kind}-server
                [app:{kind}-server]
                use = egg:swift#{kind}
                """,
            )
            service.processes.append(
                ServiceProcess(
                    [f"swift-{kind}-server", str(conf), "-v"],
                    name=f"swift-{kind}",
                    ready=tcp_ready("127.0.0.1", ports[kind]),
                ).start()
            )
        proxy = _server_conf(
            directory,
            "proxy",
            ports["proxy"],
            f"""
            [pipeline:main]
            pipeline = catch_errors gatekeeper healthcheck cache listing_formats tempurl
                tempauth copy slo dlo proxy-server
            [app:proxy-server]
            use = egg:swift#proxy
            account_autocreate = true
            allow_account_management = true
            [filter:catch_errors]
            use = egg:swift#catch_errors
            [filter:gatekeeper]
            use = egg:swift#gatekeeper
            [filter:healthcheck]
            use = egg:swift#healthcheck
            [filter:cache]
            use = egg:swift#memcache
            memcache_servers = 127.0.0.1:{ports["mc"]}
            [filter:listing_formats]
            use = egg:swift#listing_formats
            [filter:tempurl]
            use = egg:swift#tempurl
            [filter:tempauth]
            use = egg:swift#tempauth
            user_test_tester = {KEY} .admin
            token_life = {token_life}
            [filter:copy]
            use = egg:swift#copy
            [filter:slo]
            use = egg:swift#slo
            [filter:dlo]
            use = egg:swift#dlo
            """,
        )
        url = f"http://127.0.0.1:{ports['proxy']}"
        service.processes.append(
            ServiceProcess(
                ["swift-proxy-server", str(proxy), "-v"],
                name="swift-proxy",
                url=url,
                ready=http_ready(f"{url}/healthcheck"),
            ).start()
        )
    except BaseException:
        service.stop()
        raise
    service.startup_seconds = time.monotonic() - started
    return service


class TcpForwarder:
    """A TCP relay to ``target`` that a test can cut (a proxy crash) and bring back.

    :param target: ``(host, port)`` to relay to.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpForwarder:
        """Listen (again) on :attr:`port` and relay every connection."""
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Refuse new connections and cut every open one."""
        with self._lock:
            sockets, self._open = self._open, []
            if self._server is not None:
                sockets.append(self._server)
                self._server = None
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                if self._server is not server:
                    # NOTE: stop() ran while this connection was being set up.
                    client.close()
                    upstream.close()
                    return
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
