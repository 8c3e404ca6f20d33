"""An upload's chunks joined into its blob by reusing their segments.

A chunk the core adopts with ``durable=False`` (1 MiB or more) is stored as an SLO
(:meth:`~.driver.SwiftDriver.adopt_file`): the blob's manifest lists the chunks'
segments, and no byte moves. Plain chunks (under 1 MiB, or written otherwise) are
copied server-side into segments of the blob's own, as ``concatenate`` does.

A segment listed by two manifests would be lost to whichever is deleted first (a delete
of an SLO takes its segments), so the chunks' manifests go before the blob's is stored::

    1. read the chunks' manifests; copy the plain chunks into new segments
    2. delete the chunks' manifests (plainly: their segments stay)
    3. store the blob's manifest
    4. delete the plain chunks

If the store refuses step 3, the manifests deleted in step 2 are stored again (unless the
blob now lists their segments), so the client may retry. A chunk found gone in step 2 is
another join's (two requests finishing one upload): that join stores the segments,
and this one only fails, putting nothing back. Swift may also let both delete every
chunk: both then store the same segments at the blob, the second replacing the first
(only the copies of plain chunks the first made may stay unreferenced). A process
killed between steps 2 and 3 leaves their segments unreferenced in the segments
container: space, never another object's bytes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from docker_registry.core.storage import PathNotFoundError
from docker_registry.core.storage.objectstore import ObjectInfo

from .reader import is_slo
from .writer import MIN_SEGMENT_SIZE, SwiftFileWriter

if TYPE_CHECKING:
    from .driver import SwiftDriver

log = logging.getLogger(__name__)
#: The most segments one SLO manifest may list (the proxy's ``max_manifest_segments``
#: default); a join that would list more copies every chunk instead.
MAX_MANIFEST_SEGMENTS = 1000

#: A source of a join: its storage path, its object and, for an SLO, its manifest.
_Source = tuple[str, ObjectInfo, "list[dict[str, Any]] | None"]


def join_reusing_segments(
    driver: SwiftDriver, sources: Sequence[tuple[str, ObjectInfo]], destination: str
) -> bool:
    """Join ``sources`` (storage path and object, in order) into ``destination``,
    reusing the segments of those that are SLOs (see the module's steps).

    :returns: ``False`` (nothing done) when no source is an SLO, or when their segments
        cannot make one manifest (a segment but the last under 1 MiB, too many).
    :raises PathNotFoundError: a source vanished (another request joined or deleted it).
    """
    plan = _plan(driver, sources)
    if plan is None:
        return False
    key = driver.key(destination)
    container = driver.settings.container
    consumed: list[_Source] = []
    writer = SwiftFileWriter(driver, destination)
    try:
        with writer:
            _append(writer, plan)
            try:
                for source in plan:
                    path, info, manifest = source
                    if manifest is not None:
                        # NOTE: a plain DELETE: the segments stay; a 404 is raised.
                        delete = functools.partial(driver.delete_one, container, info.key)
                        driver.call("join", path, delete)
                        consumed.append(source)
                writer.commit()
            except PathNotFoundError:
                # NOTE: another join took a chunk: it stores their segments, not us.
                raise
            except BaseException:
                _put_back(driver, consumed, key)
                raise
        plain = [info.key for _, info, manifest in plan if manifest is None]
        if plain:
            driver.call("join", destination, functools.partial(driver.delete_objects, plain))
    finally:
        for path, _ in sources:
            driver.removed(path)
    return True


def _plan(driver: SwiftDriver, sources: Sequence[tuple[str, ObjectInfo]]) -> list[_Source] | None:
    """``sources`` with the manifests of the SLOs among them, if they can make one SLO."""
    slos = [(path, info.key) for path, info in sources if is_slo(info.native)]
    if not slos:
        return None

    def read_manifest(path: str, key: str) -> list[dict[str, Any]]:
        return driver.call("join", path, functools.partial(driver.manifest, key))

    read = driver.part_threads().map(read_manifest, *zip(*slos, strict=True))
    manifests = {key: entries for (_, key), entries in zip(slos, read, strict=True)}
    plan: list[_Source] = [(path, info, manifests.get(info.key)) for path, info in sources]
    sizes: list[int] = []
    for _, info, manifest in plan:
        if manifest is None:
            sizes += [info.size] if info.size else []
        else:
            sizes += [int(entry["size_bytes"]) for entry in manifest]
    if any(size < MIN_SEGMENT_SIZE for size in sizes[:-1]) or len(sizes) > MAX_MANIFEST_SEGMENTS:
        return None
    return plan


def _append(writer: SwiftFileWriter, plan: Sequence[_Source]) -> None:
    """Make the writer's segments those of ``plan``: reused, or copied for plain sources
    (consecutive ones together)."""
    plain: list[tuple[str, ObjectInfo]] = []
    for path, info, manifest in plan:
        if manifest is None:
            plain.append((path, info))
            continue
        if plain:
            writer.append_objects(plain)
            plain = []
        writer.reuse_segments(manifest)
    if plain:
        writer.append_objects(plain)


def _put_back(driver: SwiftDriver, consumed: Sequence[_Source], key: str) -> None:
    """Store again the manifests a failed join deleted, unless the destination at ``key``
    lists their segments."""
    if not consumed:
        return
    try:
        taken = set(driver.segments_of(key))
        for _, info, manifest in consumed:
            assert manifest is not None
            if taken.intersection(entry["path"] for entry in manifest):
                continue
            with driver.pool.connection() as conn:
                driver.put_manifest(info.key, manifest, conn)
    except Exception:
        log.warning(
            "a failed join into %s could not put back its sources (%s): their segments "
            "stay unreferenced in %s",
            key,
            ", ".join(path for path, _, _ in consumed),
            driver.settings.segment_container,
            exc_info=True,
        )
