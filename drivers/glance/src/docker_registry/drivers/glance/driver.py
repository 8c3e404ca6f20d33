"""The ``glance`` driver: layers as Glance images, everything else in an alternate driver.

Layer-shaped paths (see :func:`is_layer_path`) are stored as private Glance images
(disk format ``raw``, container format ``docker``) found by two properties::

    image (status active)
    ├── docker_registry_namespace = <glance_namespace, default storage_path>
    ├── docker_registry_path      = /images/<id>/layer   (set on commit only)
    └── docker_registry_committed = <ns since epoch>     (newest wins during a commit)

Every other path (image JSON, ancestry, tags, v2 links, manifests, uploads...) goes to the
alternate driver named by ``storage_alternate`` (``file`` by default, or ``swift``),
built by the core's driver factory from the same configuration. Directories are the union
of both: ``list('/images/<id>')`` shows the alternate's ``json`` next to Glance's ``layer``.
"""

from __future__ import annotations

import calendar
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, TypeVar

from docker_registry.core.config.errors import ConfigError
from docker_registry.core.storage import (
    CHUNK_SIZE,
    FileInfo,
    FileWriter,
    InvalidOffsetError,
    PathNotFoundError,
    StorageDriver,
    StorageError,
    create_driver,
    validate_path,
)
from docker_registry.core.storage.paths import ROOT, is_under

from .client import Credentials, GlanceClient
from .errors import translate
from .options import GLANCE_OPTIONS, PASSTHROUGH_OPTIONS
from .reader import GlanceReader
from .writer import GlanceLayerWriter

_Result = TypeVar("_Result")
log = logging.getLogger(__name__)

#: v1 layers: ``/images/<image id>/layer``.
V1_LAYER = re.compile(r"^/images/[^/]+/layer$")
#: v2 blob data: ``/docker/registry/v2/blobs/<algorithm>/<2 hex>/<hex>/data``.
V2_BLOB = re.compile(r"^/docker/registry/v2/blobs/[a-z0-9]+/[0-9a-f]{2}/[0-9a-f]+/data$")

PATH_PROPERTY = "docker_registry_path"
NAMESPACE_PROPERTY = "docker_registry_namespace"
COMMITTED_PROPERTY = "docker_registry_committed"


def is_layer_path(path: str) -> bool:
    """True for the paths stored in Glance: v1 layers and v2 blob data."""
    return bool(V1_LAYER.match(path) or V2_BLOB.match(path))


class GlanceDriver(StorageDriver):
    """Layers in OpenStack Glance (images API v2), the rest in ``storage_alternate``.

    Credentials: ``glance_endpoint`` + ``glance_token`` (or env ``OS_GLANCE_URL`` /
    ``OS_AUTH_TOKEN``; a Glance without Keystone needs no token), or Keystone with
    ``os_auth_url``, ``os_username``, ``os_password``, ``os_tenant_name`` (or the seed's
    ``OS_*`` environment variables).

    :raises ConfigError: the alternate driver is unknown or refuses its options.
    """

    name = "glance"
    options = GLANCE_OPTIONS + PASSTHROUGH_OPTIONS
    capabilities = frozenset()

    def __init__(self, **options: Any) -> None:
        values = {option.name: option.default for option in self.options}
        values |= {key: value for key, value in options.items() if value is not None}
        alternate = str(values["storage_alternate"]).strip().lower()
        if alternate == self.name:
            raise ConfigError("glance cannot be its own alternate", key="storage_alternate")
        own = {option.name for option in GLANCE_OPTIONS} - {"storage_path"}
        self.alternate: StorageDriver = create_driver(
            alternate, {key: value for key, value in values.items() if key not in own}
        )
        self.namespace = str(values.get("glance_namespace") or values["storage_path"])
        self.client = GlanceClient(_credentials(values), timeout=float(values["glance_timeout"]))

    @property
    def namespace_properties(self) -> dict[str, str]:
        """Properties every image of this registry carries (from creation on)."""
        return {NAMESPACE_PROPERTY: self.namespace}

    # -- Glance helpers (shared with the writer) ----------------------------------------

    def error(self, exc: BaseException, operation: str, path: str) -> StorageError:
        """The typed error for a failure of ``operation`` on ``path``."""
        return translate(exc, driver=self.name, operation=operation, path=path)

    def call(self, operation: str, path: str, call: Callable[[GlanceClient], _Result]) -> _Result:
        """Run one client call; any failure becomes a :class:`StorageError`."""
        try:
            return call(self.client)
        except Exception as exc:
            raise self.error(exc, operation, path) from exc

    def _layers(self, path: str | None = None) -> list[dict[str, Any]]:
        """Active, committed images of this namespace (at ``path`` only, when given)."""
        filters = {NAMESPACE_PROPERTY: self.namespace, "status": "active"}
        if path is not None:
            filters[PATH_PROPERTY] = path
        where = path or ROOT
        images = self.call("list", where, lambda client: list(client.images(filters)))
        return [image for image in images if image.get(PATH_PROPERTY)]

    def find_layer(self, path: str) -> dict[str, Any] | None:
        """The newest committed image at ``path``, or ``None``."""
        images = self._layers(path)
        if not images:
            return None
        return max(images, key=lambda image: int(image.get(COMMITTED_PROPERTY) or 0))

    def publish(self, image_id: str, path: str) -> None:
        """Give an uploaded image the path (and so make it visible); drop older versions."""
        previous = [image["id"] for image in self._layers(path) if image["id"] != image_id]
        committed = str(time.time_ns())
        self.call(
            "commit",
            path,
            lambda client: client.update(
                image_id, {PATH_PROPERTY: path, COMMITTED_PROPERTY: committed}
            ),
        )
        for old in previous:
            self.delete_image(old, path)

    def delete_image(self, image_id: str, path: str) -> None:
        """Delete an image; a failure is logged (the image is invisible or superseded)."""
        try:
            self.call("delete", path, lambda client: client.delete(image_id))
        except PathNotFoundError:
            pass
        except StorageError as exc:
            log.warning("could not delete Glance image %s (%s): %s", image_id, path, exc)

    def _layers_under(self, directory: str) -> list[str]:
        """Paths of the committed layers strictly inside ``directory``."""
        # PERF: Glance filters properties by exact value only: list the namespace.
        return sorted(
            {
                image[PATH_PROPERTY]
                for image in self._layers()
                if image[PATH_PROPERTY] != directory and is_under(image[PATH_PROPERTY], directory)
            }
        )

    # -- the contract --------------------------------------------------------------------

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        if not is_layer_path(path):
            return self.alternate.reader(path, offset)
        if offset < 0:
            raise InvalidOffsetError(f"negative offset {offset}")
        image = self.find_layer(path)
        if image is None:
            # NOTE: layers written before the switch to Glance stay in the alternate.
            return self.alternate.reader(path, offset)
        if offset >= int(image.get("size") or 0):
            return GlanceReader.empty(self, path)
        response = self.call("reader", path, lambda client: client.download(image["id"], offset))
        return GlanceReader.of(self, path, response)

    def writer(self, path: str, append: bool = False) -> FileWriter:
        validate_path(path)
        if not is_layer_path(path):
            return self.alternate.writer(path, append)
        return GlanceLayerWriter(self, path, append)

    def stat(self, path: str) -> FileInfo:
        image = self.find_layer(path) if is_layer_path(path) else None
        if image is not None:
            stamp = time.strptime(image["updated_at"], "%Y-%m-%dT%H:%M:%SZ")
            return FileInfo(path, int(image.get("size") or 0), calendar.timegm(stamp), False)
        try:
            return self.alternate.stat(path)
        except PathNotFoundError:
            if not self._layers_under(path):
                raise
        return FileInfo(path, 0, None, True)

    def list(self, path: str) -> list[str]:
        try:
            children = set(self.alternate.list(path))
        except PathNotFoundError:
            children = None
        depth = 1 if path == ROOT else path.count("/") + 1
        layered = {"/".join(layer.split("/")[: depth + 1]) for layer in self._layers_under(path)}
        if children is None and not layered:
            raise PathNotFoundError("not a directory")
        return sorted((children or set()) | layered)

    def move(self, source: str, destination: str) -> None:
        validate_path(destination)
        source_layer, destination_layer = is_layer_path(source), is_layer_path(destination)
        if not source_layer and not destination_layer:
            self.alternate.move(source, destination)
            return
        image = self.find_layer(source) if source_layer else None
        if image is not None and destination_layer:
            # NOTE: a property change: the data never moves, readers see old or new.
            self.publish(image["id"], destination)
            return
        with self.reader(source) as stream, self.writer(destination) as writer:
            while chunk := stream.read(CHUNK_SIZE):
                writer.write(chunk)
            writer.commit()
        self.delete(source)

    def delete(self, path: str) -> None:
        found = False
        layers = [path] if is_layer_path(path) else self._layers_under(path)
        for layer in layers:
            for image in self._layers(layer):
                found = True
                self.delete_image(image["id"], layer)
        # NOTE: also the alternate: a layer stored there before the switch to Glance
        # would otherwise show up again.
        try:
            self.alternate.delete(path)
            found = True
        except PathNotFoundError:
            pass
        if not found:
            raise PathNotFoundError()

    def close(self) -> None:
        self.client.close()
        self.alternate.close()


def _credentials(values: Mapping[str, Any]) -> Credentials:
    """Config keys first, then the seed's environment variables."""

    def pick(key: str, env: str) -> str | None:
        value = values.get(key)
        return str(value) if value else os.environ.get(env) or None

    return Credentials(
        endpoint=pick("glance_endpoint", "OS_GLANCE_URL"),
        token=pick("glance_token", "OS_AUTH_TOKEN"),
        auth_url=pick("os_auth_url", "OS_AUTH_URL"),
        username=pick("os_username", "OS_USERNAME"),
        password=pick("os_password", "OS_PASSWORD"),
        tenant_name=pick("os_tenant_name", "OS_TENANT_NAME"),
        region_name=pick("os_region_name", "OS_REGION_NAME"),
    )
