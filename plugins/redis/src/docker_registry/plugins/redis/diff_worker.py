"""``docker-registry diff-worker``: compute the v1 diffs queued on Redis (spec R10).

The seed's ``scripts/diff-worker.py``, as a sub-command of this plugin: it reads the same
configuration as the server (storage, and the Redis of the ``cache`` section), pops image
ids from the list ``diff-worker`` and stores each image's ``_diff``
(:func:`docker_registry.core.v1.diffs.store_diff`). Run one or more next to the
registry; ``--drain`` processes what is queued and exits (cron, tests).

An entry that is not a JSON image id, an image that is gone, still being uploaded, or
whose layer (or an ancestor's) is not a readable tar is skipped with a warning that names
it; the diff of such an image is queued again when a client asks for it.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import redis

from docker_registry.core.cli import add_config_options
from docker_registry.core.config import ConfigError, Settings, load_settings
from docker_registry.core.storage import Storage, StorageError, create_driver
from docker_registry.core.v1 import layout
from docker_registry.core.v1.diffs import store_diff
from docker_registry.core.v1.errors import V1Error
from docker_registry.core.v1.images import ImageStore

from .cache import create_client
from .diff_queue import RedisDiffQueue, describe

log = logging.getLogger("docker_registry.diff_worker")

#: Seconds one BRPOP waits before the loop goes round again.
BLOCK_SECONDS = 5
#: Seconds to wait before asking a Redis that did not answer again.
RETRY_SECONDS = 5


def add_diff_worker_command(commands: argparse._SubParsersAction) -> None:
    """Add ``diff-worker`` to the ``docker-registry`` sub-commands."""
    parser = commands.add_parser(
        "diff-worker", help="compute the v1 image diffs queued on Redis (the cache section)"
    )
    add_config_options(parser)
    parser.add_argument("--drain", action="store_true", help="process the queued images, then exit")
    parser.set_defaults(run=run_diff_worker)


class DiffWorker:
    """Pops image ids and stores their diffs.

    :param queue: the Redis queue (its client may block for ``BLOCK_SECONDS``).
    :param images: the v1 images of the registry's storage.
    """

    def __init__(self, queue: RedisDiffQueue, images: ImageStore) -> None:
        self.queue = queue
        self.images = images

    def run(self, *, drain: bool) -> int:
        """Work until the queue is empty (``drain``) or forever; return the count done."""
        done = 0
        while True:
            try:
                entry = self.queue.pop(None if drain else BLOCK_SECONDS)
            except redis.RedisError as exc:
                if drain:
                    raise
                log.warning(
                    "diff worker: Redis %s does not answer (%s: %s); retrying in %ss",
                    describe(self.queue.client),
                    type(exc).__name__,
                    exc,
                    RETRY_SECONDS,
                )
                time.sleep(RETRY_SECONDS)
                continue
            if entry is None:
                if drain:
                    return done
                continue
            done += self.process(entry)

    def process(self, entry: bytes) -> int:
        """Compute the diff of one queue entry; 1 when stored, else 0 (logged why)."""
        image_id = _image_id(entry)
        if image_id is None:
            log.warning("diff worker: skipping queue entry %r: not a JSON image id", entry[:100])
            return 0
        if not self.queue.lock(image_id):
            log.info("diff worker: image %s is being computed by another worker", image_id)
            return 0
        try:
            if self.images.diff(image_id) is not None:
                return 0  # NOTE: queued twice (pushed, then asked for): done already
            store_diff(self.images, image_id)
            log.info("diff worker: stored the diff of image %s", image_id)
            return 1
        except V1Error as exc:
            log.warning("diff worker: no diff for image %s: %s", image_id, exc.message)
        except StorageError as exc:
            log.error("diff worker: no diff for image %s: storage failed: %s", image_id, exc)
        except Exception:
            # NOTE: one bad image (unreadable stored JSON...) must not stop the worker.
            log.exception("diff worker: no diff for image %s", image_id)
        finally:
            self.queue.unlock(image_id)
        return 0


def _image_id(entry: bytes) -> str | None:
    try:
        value = json.loads(entry)
    except ValueError:
        return None
    return value if isinstance(value, str) and layout.is_image_id(value) else None


def run_diff_worker(args: argparse.Namespace) -> int:
    """The ``diff-worker`` command; return the exit status.

    :raises ConfigError: no ``cache.host``, bad storage or Redis settings.
    """
    from docker_registry.core.logs import configure_logging

    settings = load_settings(args.config, args.flavor)
    configure_logging(settings.loglevel)
    try:
        worker = _create_worker(settings)
    except ConfigError as exc:
        raise exc.located(flavor=settings.flavor, file=settings.source) from None
    client = worker.queue.client
    log.info("diff worker: waiting for images on Redis %s (list diff-worker)", describe(client))
    try:
        done = worker.run(drain=args.drain)
    except KeyboardInterrupt:
        return 0
    except redis.RedisError as exc:
        log.error("diff worker: Redis %s does not answer: %s", describe(client), exc)
        return 1
    finally:
        client.close()
        worker.images.storage.close()
    log.info("diff worker: queue empty, %d diff(s) stored", done)
    return 0


def _create_worker(settings: Settings) -> DiffWorker:
    if not settings.get("cache.host"):
        raise ConfigError(
            "set cache.host (the Redis the registry queues diffs on)", key="cache.host"
        )
    client = create_client(settings.get("cache"), name="cache", socket_timeout=BLOCK_SECONDS + 5)
    storage = Storage(create_driver(settings.storage, settings.values))
    return DiffWorker(RedisDiffQueue(client), ImageStore(storage))
