"""A bounded queue of events on disk, one folder per endpoint, that survives restarts.

::

    <queue_path>/
      slot-0.lock             held (flock) by the process using slot-0
      slot-0/
        audit/                one endpoint
          00000000000000000041.json   one envelope event, oldest first
          00000000000000000042.json
      slot-1.lock, slot-1/    the next process of `serve --workers` on this host

Each process takes the first slot no other live process holds, so workers never share a
folder; at start it also takes over the events of slots nobody holds (a restart with
fewer workers). An event is written to a hidden ``.part`` file and renamed, so a crash
never leaves half an event; it is removed only once delivered (or dropped).

Only the file names are kept in memory (at most ``max_events`` per endpoint): a dead
endpoint costs disk, bounded, not memory. When an endpoint's queue is full the oldest
event is removed to make room, and the count of dropped events is logged.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import IO, Any

log = logging.getLogger(__name__)

#: How often, at most, the count of dropped events is logged per endpoint (seconds).
DROP_LOG_INTERVAL = 60.0
_MAX_SLOTS = 1024


class DiskQueue:
    """The queue of one endpoint in ``folder`` (created if missing).

    :param folder: the endpoint's folder in the process's slot.
    :param max_events: how many events it keeps at most.
    :param name: the endpoint's name, for logs.
    """

    def __init__(self, folder: str, max_events: int, name: str) -> None:
        self.folder = folder
        self.max_events = max_events
        self.name = name
        self.dropped = 0
        self._dropped_unlogged = 0
        self._drop_logged_at = 0.0
        self._lock = threading.Lock()
        os.makedirs(folder, exist_ok=True)
        entries = os.listdir(folder)
        for entry in entries:
            if entry.startswith(".") and entry.endswith(".part"):
                # NOTE: a crash between writing and renaming: the event was never queued.
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, entry))
        names = sorted(entry for entry in entries if _is_event(entry))
        self._names: collections.deque[str] = collections.deque(names)
        self._next = int(names[-1].split(".")[0]) + 1 if names else 1
        with self._lock:
            self._trim()

    def __len__(self) -> int:
        return len(self._names)

    def put(self, event: Mapping[str, Any]) -> None:
        """Append ``event``; the oldest is dropped when the queue is full.

        :raises OSError: the folder cannot be written (the caller logs it).
        """
        data = json.dumps(event, separators=(",", ":")).encode()
        with self._lock:
            name = f"{self._next:020d}.json"
            self._next += 1
            _write_atomically(os.path.join(self.folder, name), data)
            self._names.append(name)
            self._trim()

    def adopt(self, path: str) -> None:
        """Move the event file at ``path`` (another slot's) to the end of this queue."""
        with self._lock:
            name = f"{self._next:020d}.json"
            self._next += 1
            os.replace(path, os.path.join(self.folder, name))
            self._names.append(name)
            self._trim()

    def peek(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``count`` of the oldest events as ``(name, event)``; unreadable files
        (a disk error, edited by hand) are removed and logged."""
        with self._lock:
            names = list(self._names)[:count]
        batch: list[tuple[str, dict[str, Any]]] = []
        for name in names:
            path = os.path.join(self.folder, name)
            try:
                with open(path, "rb") as file:
                    event = json.load(file)
                if not isinstance(event, dict):
                    raise ValueError("not a JSON object")
            except FileNotFoundError:
                self._forget([name])  # dropped meanwhile
                continue
            except (OSError, ValueError) as exc:
                log.error(
                    "notifications to %s: event file %s is unreadable (%s); removed it",
                    self.name,
                    path,
                    exc,
                )
                self.remove([name])
                continue
            batch.append((name, event))
        return batch

    def remove(self, names: list[str]) -> None:
        """Remove delivered (or abandoned) events."""
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.folder, name))
        self._forget(names)

    def _forget(self, names: list[str]) -> None:
        gone = set(names)
        with self._lock:
            self._names = collections.deque(name for name in self._names if name not in gone)

    def _trim(self) -> None:
        while len(self._names) > self.max_events:
            oldest = self._names.popleft()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.folder, oldest))
            self.dropped += 1
            self._dropped_unlogged += 1
        now = time.monotonic()
        if self._dropped_unlogged and now - self._drop_logged_at >= DROP_LOG_INTERVAL:
            log.error(
                "notifications to %s: queue full (queue_max_events=%d): dropped the %d oldest "
                "undelivered event(s) (%d since start); is the endpoint up?",
                self.name,
                self.max_events,
                self._dropped_unlogged,
                self.dropped,
            )
            self._dropped_unlogged = 0
            self._drop_logged_at = now


class Slot:
    """This process's slot in ``root`` (see the module docstring); :meth:`close` frees it.

    :raises OSError: ``root`` cannot be created or locked.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)
        self._lock_file: IO[bytes] | None = None
        for index in range(_MAX_SLOTS):
            handle = _try_lock(os.path.join(root, f"slot-{index}.lock"))
            if handle is not None:
                self._lock_file = handle
                self.folder = os.path.join(root, f"slot-{index}")
                break
        else:
            raise OSError(f"all {_MAX_SLOTS} notification queue slots in {root} are in use")

    def queue(self, endpoint: str, max_events: int) -> DiskQueue:
        """The queue of ``endpoint`` in this slot, with the events of free slots taken over."""
        queue = DiskQueue(os.path.join(self.folder, endpoint), max_events, endpoint)
        for orphan in self._free_slots():
            folder = os.path.join(orphan.name, endpoint)
            try:
                names = sorted(entry for entry in os.listdir(folder) if _is_event(entry))
            except FileNotFoundError:
                names = []
            finally:
                orphan.close()
            for name in names:
                with contextlib.suppress(FileNotFoundError):
                    queue.adopt(os.path.join(folder, name))
            if names:
                log.info(
                    "notifications to %s: took over %d undelivered event(s) from %s",
                    endpoint,
                    len(names),
                    folder,
                )
        return queue

    def _free_slots(self) -> list[_Held]:
        """Lock handles of the other slots with a folder that no process holds; each
        handle's ``name`` is the slot's folder (close it to release)."""
        free = []
        for entry in sorted(os.listdir(self.root)):
            if not entry.endswith(".lock"):
                continue
            folder = os.path.join(self.root, entry[: -len(".lock")])
            if folder == self.folder or not os.path.isdir(folder):
                continue
            handle = _try_lock(os.path.join(self.root, entry))
            if handle is not None:
                free.append(_Held(handle, folder))
        return free

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


class _Held:
    """A lock handle and the folder it guards."""

    def __init__(self, handle: IO[bytes], folder: str) -> None:
        self.handle = handle
        self.name = folder

    def close(self) -> None:
        self.handle.close()


def _try_lock(path: str) -> IO[bytes] | None:
    handle = open(path, "ab")  # noqa: SIM115 (held open for as long as the lock)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _is_event(name: str) -> bool:
    stem, _, suffix = name.partition(".")
    return suffix == "json" and stem.isdigit()


def _write_atomically(path: str, data: bytes) -> None:
    folder, name = os.path.split(path)
    partial = os.path.join(folder, f".{name}.part")
    with open(partial, "wb") as file:
        file.write(data)
    os.replace(partial, path)
