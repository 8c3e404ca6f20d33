"""``docker-registry du``: the bytes each repository holds, a blob shared by several
repositories counted once in the total.

A v2 repository holds the blobs it links (layers and configs) and its manifests; a v1
repository holds the images its tags and index list reach, with their ancestry. Each
repository's line counts everything it holds; ``own`` is what no other repository holds,
which is what deleting the repository (and collecting garbage) would free.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..storage import Storage
from . import gc_scan


@dataclass(frozen=True)
class RepositoryUsage:
    """Bytes of one repository: everything it holds, and the part no other holds."""

    name: str
    total: int
    own: int


@dataclass(frozen=True)
class Usage:
    """Per repository, and the total with shared content counted once."""

    repositories: list[RepositoryUsage]
    total: int


def disk_usage(storage: Storage, only: str | None = None) -> Usage:
    """Measure every repository (or only ``only``; the total stays the registry's)."""
    sizes: dict[str, int] = {
        digest: stored.size for digest, stored in gc_scan.scan_blobs(storage).items()
    }
    holdings: dict[str, set[str]] = {}
    for name in gc_scan.repository_names(storage):
        links = gc_scan.scan_repository(storage, name)
        held = holdings.setdefault(name, set())
        held.update(d for d in (*links.layers, *links.revisions) if d in sizes)
    v1_sizes: dict[str, int] = {}
    for repository in gc_scan.scan_v1_repositories(storage):
        held = holdings.setdefault(repository.name, set())
        for root in repository.roots:
            for image_id in gc_scan.v1_ancestry(storage, root):
                key = f"v1:{image_id}"
                if key not in v1_sizes:
                    files = gc_scan.v1_image_files(storage, image_id)
                    v1_sizes[key] = sum(f.size for f in files)
                held.add(key)
    sizes.update(v1_sizes)
    holders = Counter(key for held in holdings.values() for key in held)
    rows = [
        RepositoryUsage(
            name,
            sum(sizes[key] for key in held),
            sum(sizes[key] for key in held if holders[key] == 1),
        )
        for name, held in sorted(holdings.items())
        if only is None or name == only
    ]
    total = sum(sizes[key] for key in holders)
    return Usage(rows, total)


def format_usage(usage: Usage) -> str:
    """The table ``du`` prints: name, bytes held, bytes held by it alone; then the total."""
    width = max([len(row.name) for row in usage.repositories] + [len("REPOSITORY")])
    lines = [f"{'REPOSITORY':<{width}}  {'BYTES':>14}  {'OWN BYTES':>14}"]
    for row in usage.repositories:
        lines.append(f"{row.name:<{width}}  {row.total:>14}  {row.own:>14}")
    lines.append(f"{'total (shared counted once)':<{width}}  {usage.total:>14}")
    return "\n".join(lines)
