"""What garbage collections did, kept in storage for ``/metrics``.

``docker-registry gc`` runs as its own process (cron, a Kubernetes job), so its counts
cannot go into the server's metrics directly: each run adds its figures to one small JSON
record in storage (under the ``gc`` lock, so runs never lose each other's counts), and every
scrape of ``/metrics`` reads it back (:class:`GcHistoryCollector`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from ..storage import PathNotFoundError, Storage
from ..v2 import layout


@dataclass(frozen=True)
class GcHistory:
    """Totals over every collection (dry runs excluded) and the last one's figures."""

    runs: int = 0
    bytes_freed: int = 0
    blobs_deleted: int = 0
    last_end: float = 0.0
    last_seconds: float = 0.0
    last_bytes_freed: int = 0


def read_history(storage: Storage) -> GcHistory:
    """The record; an empty one before the first collection or when it is unreadable."""
    try:
        data = json.loads(storage.get_content(layout.gc_history()))
        return GcHistory(**{key: data[key] for key in GcHistory.__dataclass_fields__})
    except (PathNotFoundError, ValueError, KeyError, TypeError):
        return GcHistory()


def record_run(
    storage: Storage, *, end: float, seconds: float, bytes_freed: int, blobs: int
) -> None:
    """Add one collection to the record (call it holding the ``gc`` lock)."""
    before = read_history(storage)
    after = GcHistory(
        runs=before.runs + 1,
        bytes_freed=before.bytes_freed + bytes_freed,
        blobs_deleted=before.blobs_deleted + blobs,
        last_end=end,
        last_seconds=seconds,
        last_bytes_freed=bytes_freed,
    )
    storage.put_content(layout.gc_history(), json.dumps(asdict(after)).encode())


class GcHistoryCollector:
    """A prometheus_client collector reading the record at each scrape."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        history = read_history(self.storage)
        yield CounterMetricFamily(
            "registry_gc_runs", "Garbage collections run (dry runs excluded).", value=history.runs
        )
        yield CounterMetricFamily(
            "registry_gc_freed_bytes",
            "Bytes of blobs deleted by garbage collections.",
            value=history.bytes_freed,
        )
        yield CounterMetricFamily(
            "registry_gc_deleted_blobs",
            "Blobs deleted by garbage collections.",
            value=history.blobs_deleted,
        )
        yield GaugeMetricFamily(
            "registry_gc_last_run_timestamp_seconds",
            "When the last garbage collection ended (0: never).",
            value=history.last_end,
        )
        yield GaugeMetricFamily(
            "registry_gc_last_run_duration_seconds",
            "How long the last garbage collection took.",
            value=history.last_seconds,
        )
