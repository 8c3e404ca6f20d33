"""Build the configured storage at start-up, and probe it for ``config check --connect``.

Every failure here is one line (a :class:`~.config.StartupError`, exit status 2) that
names the driver, what failed (its path or key) and what to do, never a traceback:
``serve`` (one process or ``--workers``), the WSGI entry point and ``config check``
share these functions.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .config import ConfigError, Settings, StartupError
from .storage.errors import StorageError

if TYPE_CHECKING:
    from .storage import Storage, StorageDriver

_Result = TypeVar("_Result")

#: The reserved folder of the probe object (no layout of the core writes there).
PROBE_DIRECTORY = "/_registry_probe"


def build_storage(settings: Settings, *, hint: bool = True) -> Storage:
    """Load, configure and start the storage driver ``settings`` name.

    :param hint: end a failure with the hint to run ``config check --connect`` (which
        passes ``False``: it is that command).

    :raises ConfigError: the configuration is wrong (unknown driver, bad option).
    :raises StartupError: the driver's constructor failed (its error, on one line).
    """
    from .storage import Storage
    from .storage.factory import load_driver_class, resolve_options

    try:
        driver_class = load_driver_class(settings.storage)
        values = resolve_options(driver_class, settings.values)
    except ConfigError as exc:
        raise exc.located(flavor=settings.flavor, file=settings.source) from None
    try:
        return Storage(driver_class(**values))
    except ConfigError as exc:
        raise exc.located(flavor=settings.flavor, file=settings.source) from None
    except Exception as exc:
        raise startup_error(settings, driver_class, exc, hint=hint) from exc


def startup_error(
    settings: Settings,
    driver: type[StorageDriver] | StorageDriver,
    exc: BaseException,
    *,
    hint: bool = True,
) -> StartupError:
    """The one line saying that ``driver`` cannot start because of ``exc``."""
    detail = str(exc) if isinstance(exc, StorageError) else f"{type(exc).__name__}: {exc}"
    keys = ", ".join(option.name for option in driver.options) or "none"
    tried = "; 'docker-registry config check --connect' tries them without serving"
    return StartupError(
        f"the '{driver.name}' storage driver cannot start: {one_line(detail)} (its keys: "
        f"{keys}{tried if hint else ''})",
        flavor=settings.flavor,
        file=settings.source,
    )


def one_line(text: str) -> str:
    """``text`` with its line breaks and runs of spaces folded into single spaces."""
    return " ".join(text.split())


def probe(storage: Storage) -> list[str]:
    """Write, read back, list and delete a probe object under :data:`PROBE_DIRECTORY`.

    Returns one line per problem (empty when the backend works); never raises for a
    backend failure. Nothing is left behind when the steps succeed.
    """
    path = f"{PROBE_DIRECTORY}/{uuid.uuid4().hex}"
    content = f"docker-registry probe {path}\n".encode()
    problems: list[str] = []

    def step(what: str, call: Callable[[], _Result]) -> tuple[bool, _Result | None]:
        try:
            return True, call()
        except Exception as exc:  # noqa: BLE001 - reported as one line
            detail = str(exc) if isinstance(exc, StorageError) else f"{type(exc).__name__}: {exc}"
            problems.append(f"cannot {what}: {one_line(detail)}")
            return False, None

    written, _ = step(f"write {path}", lambda: storage.put_content(path, content))
    if not written:
        return problems
    _, read = step(f"read back {path}", lambda: storage.get_content(path))
    if read is not None and read != content:
        problems.append(f"{path} read back {len(read)} bytes, not the {len(content)} written")
    _, listed = step(f"list {PROBE_DIRECTORY}", lambda: storage.list(PROBE_DIRECTORY))
    if listed is not None and path not in listed:
        problems.append(f"{path} is missing from the listing of {PROBE_DIRECTORY}")
    deleted, _ = step(f"delete {path}", lambda: storage.delete(path))
    if deleted:
        with contextlib.suppress(StorageError):
            storage.stat(path)
            problems.append(f"{path} is still there after its delete")
        # NOTE: the folder too, once empty (a file system keeps empty directories).
        with contextlib.suppress(StorageError):
            if not storage.list(PROBE_DIRECTORY):
                storage.delete(PROBE_DIRECTORY)
    return problems
