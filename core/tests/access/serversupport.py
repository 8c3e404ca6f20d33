"""Our waitress server (the one ``serve`` runs) in a thread, for tests that speak HTTP
over a real socket."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from docker_registry.core.app import ServedApp, create_served_app
from docker_registry.core.config import Settings
from docker_registry.core.server import _create_server
from docker_registry.core.storage import Storage
from docker_registry.drivers.file import FileDriver


@contextmanager
def serving(settings: Settings, tmp_path: Path) -> Iterator[tuple[int, ServedApp]]:
    """``(port, served app)`` of a server on 127.0.0.1 with file storage in ``tmp_path``."""
    storage = Storage(FileDriver(storage_path=str(tmp_path / "storage")))
    served = create_served_app(settings, storage)
    server = _create_server(served, settings, 2, host="127.0.0.1", port=0)
    stop = threading.Event()

    def run() -> None:
        # NOTE: waitress's run() loops until its sockets vanish; closing them under a
        # running select() fails it. Turns of the loop end cleanly instead.
        while not stop.is_set():
            server.asyncore.loop(timeout=0.05, map=server._map, count=1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield server.effective_port, served
    finally:
        stop.set()
        thread.join(5)
        server.task_dispatcher.shutdown()
        server.close()
