"""Progress of a long maintenance command: a bar on a terminal, plain lines in a log.

Operators run ``verify`` and ``gc`` by hand (a terminal: a tqdm bar on stderr) and from cron
or a Kubernetes job (a log: one line every ``interval`` seconds, nothing redrawn).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    """What a command reports while it works."""

    def update(self, count: int = 1, size: int = 0) -> None:
        """``count`` more items done, ``size`` more bytes read."""

    def close(self) -> None:
        """The work ended (a bar is finished, nothing more is printed)."""


class LogProgress:
    """A line ``<what>: <n> <unit>, <MiB> MiB read`` every ``interval`` seconds."""

    def __init__(
        self, what: str, unit: str, stream: TextIO | None = None, interval: float = 10.0
    ) -> None:
        self.what, self.unit = what, unit
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.count = self.size = 0
        self._next = time.monotonic() + interval

    def update(self, count: int = 1, size: int = 0) -> None:
        self.count += count
        self.size += size
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval
            self._print()

    def close(self) -> None:
        self._print()

    def _print(self) -> None:
        read = f", {self.size / 2**20:.1f} MiB read" if self.size else ""
        print(f"{self.what}: {self.count} {self.unit}{read}", file=self.stream, flush=True)


class BarProgress:
    """A tqdm bar (no total: storage is walked, not counted first)."""

    def __init__(self, what: str, unit: str, stream: TextIO | None = None) -> None:
        from tqdm import tqdm

        self._bar: Any = tqdm(desc=what, unit=f" {unit}", file=stream or sys.stderr)
        self._size = 0

    def update(self, count: int = 1, size: int = 0) -> None:
        self._size += size
        if size:
            self._bar.set_postfix_str(f"{self._size / 2**20:.1f} MiB read", refresh=False)
        self._bar.update(count)

    def close(self) -> None:
        self._bar.close()


def progress(what: str, unit: str, stream: TextIO | None = None) -> Progress:
    """A bar when ``stream`` (default stderr) is a terminal, else periodic lines."""
    stream = stream if stream is not None else sys.stderr
    if stream.isatty():
        return BarProgress(what, unit, stream)
    return LogProgress(what, unit, stream)
