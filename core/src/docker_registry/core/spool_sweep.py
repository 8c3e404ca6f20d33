"""Remove the spool and staging files that crashed requests left behind.

A request body the server receives goes to ``<uuid>.body`` in the spool directory
(:mod:`.spool`), and the file driver stages every write in ``<uuid>.tmp`` next to it.
Both are removed when their request ends; after ``kill -9``, a power cut or an OOM kill
they stay. :class:`SpoolSweeper` removes those untouched for ``spool_sweep_age``
seconds, once at start-up and then every ``spool_sweep_interval`` seconds.

Why a live file is never removed: waitress closes a connection that sends nothing for
``channel_timeout`` seconds (:data:`~.config.settings.CHANNEL_TIMEOUT`), and the spool
file of its body goes with it, so a file still being received was written less than that
ago; the settings refuse an age under twice that. A body fully received and waiting for
its handler is known to this process (:func:`~.spool.receiving_paths`) and skipped
whatever its age. A staging file belongs to a running write and is as fresh as its last
write; one untouched for an hour was left by a process that is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading
import time

from .config import Settings
from .spool import receiving_paths

log = logging.getLogger(__name__)

#: In a directory of its own: every spool and staging file.
_OWN_FILES = re.compile(r"^[^.].*\.(body|tmp)$")
#: In the shared temporary directory: only names the spool itself gives.
_SHARED_FILES = re.compile(r"^[0-9a-f]{32}\.body$")


def sweep_spool_files(directory: str, older_than: float, *, dedicated: bool) -> int:
    """Remove ``*.body`` / ``*.tmp`` files of ``directory`` last modified before
    ``older_than`` (seconds since the epoch); return how many went. Best effort.

    :param dedicated: the directory holds only the registry's files (the file driver's
        staging directory); otherwise (the system's temporary directory) only
        ``<32 hex>.body`` files are touched.
    """
    pattern = _OWN_FILES if dedicated else _SHARED_FILES
    live = receiving_paths()
    removed = 0
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if not pattern.match(entry.name) or entry.path in live:
                    continue
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False) and (
                        entry.stat(follow_symlinks=False).st_mtime < older_than
                    ):
                        os.unlink(entry.path)
                        removed += 1
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.warning(
            "cannot sweep leftover spool files in %s: %s; check its permissions", directory, exc
        )
        return removed
    if removed:
        log.info(
            "removed %d spool/staging file(s) left by interrupted requests from %s",
            removed,
            directory,
        )
    return removed


class SpoolSweeper:
    """Sweeps one spool directory at start and then every ``interval`` seconds.

    :param spool_directory: the storage's spool directory (``None``: the system's
        temporary directory, where only the spool's own ``<uuid>.body`` names are swept).
    :param age: seconds a file must be untouched to be removed; ``0`` disables sweeping.
    :param interval: seconds between sweeps; ``0``: only the one at start.
    """

    def __init__(self, spool_directory: str | None, *, age: float, interval: float) -> None:
        self.directory = spool_directory or tempfile.gettempdir()
        self.dedicated = spool_directory is not None
        self.age = age
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> int:
        """One sweep now; return how many files were removed."""
        if self.age <= 0:
            return 0
        return sweep_spool_files(self.directory, time.time() - self.age, dedicated=self.dedicated)

    def start(self) -> None:
        """Sweep now (before the server accepts requests), then in a daemon thread."""
        self.sweep()
        if self.age <= 0 or self.interval <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="spool-sweep", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception:  # NOTE: a sweep that fails must not end the sweeping
                log.exception("sweeping spool files in %s failed", self.directory)


def start_spool_sweeper(settings: Settings, spool_directory: str | None) -> SpoolSweeper:
    """Sweep the storage's spool directory now and then periodically, per ``settings``."""
    sweeper = SpoolSweeper(
        spool_directory, age=settings.spool_sweep_age, interval=settings.spool_sweep_interval
    )
    sweeper.start()
    return sweeper
