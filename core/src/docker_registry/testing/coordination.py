"""Process bodies for testing a coordination backend across real processes.

A test module is not importable by name in a spawned child (pytest puts it on the path its
own way), so the targets of ``multiprocessing`` live here, in a module every child can import.
Each target builds its coordinator by calling ``factory`` (``"module:callable"``) with
``factory_args``: the callable must be importable too, for example a backend's class or one
of its class methods (``"package.module:Backend.from_section"``).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

from docker_registry.core.coordination import Coordinator


def build(factory: str, factory_args: tuple[Any, ...]) -> Coordinator:
    """The coordinator that ``factory(*factory_args)`` makes."""
    module, _, qualified_name = factory.partition(":")
    target: Any = importlib.import_module(module)
    for name in qualified_name.split("."):
        target = getattr(target, name)
    made: Coordinator = target(*factory_args)
    return made


def count_under_lock(
    factory: str, factory_args: tuple[Any, ...], counter: str, rounds: int
) -> None:
    """Read-modify-write a counter file under the lock ``counter``: updates get lost
    unless the lock excludes the other processes."""
    coordinator = build(factory, factory_args)
    for _ in range(rounds):
        with coordinator.lock("counter"):
            value = int(Path(counter).read_text() or "0")
            time.sleep(0.0005)
            Path(counter).write_text(str(value + 1))


def take_turn(factory: str, factory_args: tuple[Any, ...], results: Any) -> None:
    """Put whether this process got the turn of the job ``purge`` (period 60 s) on ``results``."""
    results.put(build(factory, factory_args).take_turn("purge", 60))


def read_upload_secret(
    factory: str, factory_args: tuple[Any, ...], storage_path: str, start: Any, results: Any
) -> None:
    """Wait at ``start`` (a barrier), then put the upload secret this process would use
    on an (empty) file storage at ``storage_path`` on ``results``. Writes take as long as
    an object store's round trip, so that processes overlap as they do on S3."""
    from docker_registry.core.storage import Storage
    from docker_registry.core.v2.uploads import upload_secret
    from docker_registry.drivers.file import FileDriver

    class SlowWrites(FileDriver):
        def put_private(self, path: str, data: bytes) -> None:
            time.sleep(0.05)
            super().put_private(path, data)

    storage = Storage(SlowWrites(storage_path=storage_path))
    coordinator = build(factory, factory_args)
    start.wait()
    results.put(upload_secret(storage, None, coordinator))
