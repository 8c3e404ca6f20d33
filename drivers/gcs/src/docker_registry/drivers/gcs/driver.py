"""The ``gcs`` driver: the registry's files as objects of one Google Cloud Storage bucket.

Storage paths map onto object names under the prefix taken from ``storage_path``::

    bucket/
    └── registry/                         storage_path "/registry" (slashes normalised)
        ├── .registry-staging/<uuid>      new bytes of large appends, until composed
        ├── images/<id>/json              storage path /images/<id>/json
        └── docker/registry/v2/...        storage path /docker/registry/v2/...

The staging directory is reserved: it never shows in ``list``/``walk`` of the root and no
storage path may enter it. Writes are resumable uploads (see :mod:`.writer`); ``move``
rewrites server-side then deletes; ``redirect_url`` is a V4 signed URL when the
credentials can sign.
"""

from __future__ import annotations

import datetime
import functools
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, ClassVar, TypeVar

from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from docker_registry.core.storage import (
    Capability,
    DriverOption,
    FileInfo,
    InvalidOffsetError,
    InvalidPathError,
    PathNotFoundError,
    StorageDriver,
    StorageError,
    validate_path,
)
from docker_registry.core.storage.objectstore import WritableCheck
from docker_registry.core.storage.paths import ROOT

from .errors import translate
from .reader import GCSReader
from .settings import GCS_OPTIONS, gcs_settings, with_defaults
from .writer import GCSFileWriter

_Result = TypeVar("_Result")


#: The reserved top-level directory of staging objects.
STAGING_DIR = ".registry-staging"
#: Seconds a redirect URL stays valid.
REDIRECT_EXPIRES = 1200


class GCSDriver(StorageDriver):
    """Google Cloud Storage through google-cloud-storage (JSON API, OAuth2 credentials).

    :raises ConfigError: HMAC keys (see :data:`.settings.HMAC_MESSAGE`), no bucket...
    """

    name = "gcs"
    options: ClassVar[tuple[DriverOption, ...]] = GCS_OPTIONS
    capabilities = frozenset({Capability.REDIRECT})
    log = logging.getLogger(__name__)
    #: Objects per listing request (the service's maximum is 1,000).
    page_size = 1000

    def __init__(self, **options: Any) -> None:
        self.settings = gcs_settings(with_defaults(self.options, options))
        settings = self.settings
        self._signer: Any = None
        if settings.credentials_file:
            from google.oauth2 import service_account

            self._signer = service_account.Credentials.from_service_account_file(
                settings.credentials_file,
                scopes=["https://www.googleapis.com/auth/devstorage.read_write"],
            )
        self._credentials: Any = AnonymousCredentials() if settings.endpoint_url else self._signer
        if not hasattr(self._signer, "sign_bytes"):
            # NOTE: nothing can sign a URL here: the registry serves the bytes itself.
            self.capabilities = frozenset()  # type: ignore[misc]
        #: retries of idempotent calls, bounded so a dead endpoint fails in seconds.
        self.retry: Retry = DEFAULT_RETRY.with_timeout(30.0)
        self._local = threading.local()
        self._bucket_checked = False
        self._writable = WritableCheck(self.name)

    @classmethod
    def validate_options(cls, values: Mapping[str, Any]) -> None:
        """Refuse option values that cannot work (the seed's HMAC keys among them).

        :raises ConfigError: naming the key at fault.
        """
        gcs_settings(with_defaults(cls.options, values))

    def __repr__(self) -> str:
        return f"GCSDriver(bucket={self.settings.bucket!r}, prefix={self.settings.prefix!r})"

    # -- clients (one per thread: requests sessions are not meant to be shared) ----------

    @property
    def client(self) -> storage.Client:
        """This thread's storage client."""
        client = getattr(self._local, "client", None)
        if client is None:
            options = {"api_endpoint": self.settings.endpoint_url}
            try:
                client = storage.Client(
                    project=self.settings.project or "registry",
                    credentials=self._credentials,
                    client_options=options if self.settings.endpoint_url else None,
                )
            except Exception as exc:
                # NOTE: application default credentials are looked up here, lazily.
                raise translate(
                    exc, self.settings, driver=self.name, operation="connect", path=ROOT
                ) from exc
            self._local.client = client
        return client

    @property
    def session(self) -> AuthorizedSession:
        """This thread's authorised HTTP session (resumable upload chunks)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = AuthorizedSession(self.client._credentials)
            self._local.session = session
        return session

    @property
    def bucket(self) -> storage.Bucket:
        return self.client.bucket(self.settings.bucket)

    # -- helpers shared with the writer ----------------------------------------------

    def object_name(self, path: str) -> str:
        """The object name of a storage path."""
        return self.settings.prefix + path.lstrip("/")

    def blob(self, path: str) -> storage.Blob:
        """A handle on the object of ``path`` (no request)."""
        return self.bucket.blob(self.object_name(path))

    def staging_blob(self, name: str) -> storage.Blob:
        """A handle on a staging object (never listed)."""
        return self.bucket.blob(f"{self.settings.prefix}{STAGING_DIR}/{name}")

    def get_blob(self, path: str) -> storage.Blob | None:
        """The object of ``path`` with its metadata, or ``None``."""
        return self.bucket.get_blob(self.object_name(path), retry=self.retry)

    def call(self, operation: str, path: str, call: Callable[[], _Result]) -> _Result:
        """Run one client call; any failure becomes a typed :class:`StorageError`."""
        self._check_bucket(operation, path)
        try:
            return call()
        except Exception as exc:
            raise translate(
                exc, self.settings, driver=self.name, operation=operation, path=path
            ) from exc

    def _check_bucket(self, operation: str, path: str) -> None:
        """Once per process: a missing bucket is a clear error, not "path not found"."""
        if self._bucket_checked:
            return
        try:
            exists = self.bucket.exists(retry=self.retry)
        except Exception as exc:
            raise translate(
                exc, self.settings, driver=self.name, operation=operation, path=path
            ) from exc
        if not exists:
            raise StorageError(
                f"bucket '{self.settings.bucket}' does not exist (create it, or check "
                "boto_bucket/gcs_bucket)",
                driver=self.name,
                operation=operation,
                path=path,
            )
        self._bucket_checked = True

    def discard(self, blob: storage.Blob) -> None:
        """Delete a staging object, best effort (a leftover is harmless and hidden)."""
        try:
            blob.delete(retry=self.retry)
        except Exception:
            self.log.warning("could not delete staging object %s", blob.name, exc_info=True)

    def cancel_session(self, url: str) -> None:
        """Cancel a resumable upload session, best effort (sessions expire in a week)."""
        try:
            self.session.delete(url, timeout=30)
        except Exception:
            self.log.warning("could not cancel upload session %s", url, exc_info=True)

    def _validate(self, path: str, *, allow_root: bool = False) -> None:
        validate_path(path, allow_root=allow_root)
        if path == f"/{STAGING_DIR}" or path.startswith(f"/{STAGING_DIR}/"):
            raise InvalidPathError(f"'/{STAGING_DIR}' is reserved for staging", path=path)

    def _dir_prefix(self, path: str) -> str:
        return self.settings.prefix if path == ROOT else self.object_name(path) + "/"

    def _path(self, name: str) -> str:
        return "/" + name[len(self.settings.prefix) :].rstrip("/")

    def check_writable(self, path: str, operation: str) -> None:
        """Refuse to write a file where a directory is, or below a file."""
        self._writable.check(path, operation, self._has_children, self._is_file)

    def _is_file(self, path: str, operation: str) -> storage.Blob | None:
        return self.call(operation, path, functools.partial(self.get_blob, path))

    def _has_children(self, path: str, operation: str) -> bool:
        prefix = self._dir_prefix(path)
        blobs = self.client.list_blobs(
            self.settings.bucket, prefix=prefix, max_results=1, retry=self.retry
        )
        return self.call(operation, path, lambda: any(True for _ in blobs))

    # -- streams -----------------------------------------------------------------------

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        self._validate(path)
        if offset < 0:
            raise InvalidOffsetError(
                f"negative offset {offset}", driver=self.name, operation="reader", path=path
            )
        blob = self.call("reader", path, lambda: self.get_blob(path))
        if blob is None:
            raise PathNotFoundError(driver=self.name, operation="reader", path=path)
        return GCSReader(self, path, blob, offset)  # type: ignore[return-value]

    def get_content(self, path: str) -> bytes:
        self._validate(path)
        # NOTE: one GET of the whole object: atomic against concurrent overwrites.
        return self.call(
            "get_content", path, lambda: self.blob(path).download_as_bytes(retry=self.retry)
        )

    def put_content(self, path: str, data: bytes) -> None:
        self._validate(path)
        if len(data) >= self.settings.chunk_size:
            super().put_content(path, data)
            return
        # PERF: below one chunk, a single upload request needs no resumable session.
        self.check_writable(path, "put_content")
        self.call(
            "put_content",
            path,
            lambda: self.blob(path).upload_from_string(
                data, content_type="application/octet-stream", retry=self.retry
            ),
        )

    def writer(self, path: str, append: bool = False) -> GCSFileWriter:
        self._validate(path)
        return GCSFileWriter(self, path, append)

    # -- metadata and namespace ------------------------------------------------------

    def stat(self, path: str) -> FileInfo:
        self._validate(path, allow_root=True)
        if path == ROOT:
            return FileInfo(path=ROOT, size=0, mtime=None, is_dir=True)
        blob = self.call("stat", path, lambda: self.get_blob(path))
        if blob is not None:
            updated = blob.updated.timestamp() if blob.updated else None
            return FileInfo(path=path, size=int(blob.size or 0), mtime=updated, is_dir=False)
        if self._has_children(path, "stat"):
            return FileInfo(path=path, size=0, mtime=None, is_dir=True)
        raise PathNotFoundError(driver=self.name, operation="stat", path=path)

    def _pages(self, path: str, operation: str, delimiter: str | None) -> Iterator[Any]:
        """Every page of a listing under ``path``'s prefix, following page tokens."""
        iterator = self.client.list_blobs(
            self.settings.bucket,
            prefix=self._dir_prefix(path),
            delimiter=delimiter,
            page_size=self.page_size,
            retry=self.retry,
        )
        pages = iterator.pages
        while True:
            page = self.call(operation, path, lambda: next(pages, None))
            if page is None:
                return
            yield page

    def _hidden(self, name: str) -> bool:
        """Staging objects, and "folder" marker objects made by consoles (``a/b/``)."""
        return name.startswith(f"{self.settings.prefix}{STAGING_DIR}/") or name.endswith("/")

    def _hidden_prefix(self, prefix: str) -> bool:
        return prefix == f"{self.settings.prefix}{STAGING_DIR}/"

    def list(self, path: str) -> list[str]:
        self._validate(path, allow_root=True)
        children: set[str] = set()
        for page in self._pages(path, "list", "/"):
            children.update(
                self._path(name) for name in page.prefixes if not self._hidden_prefix(name)
            )
            children.update(self._path(blob.name) for blob in page if not self._hidden(blob.name))
        if not children and path != ROOT:
            raise PathNotFoundError(driver=self.name, operation="list", path=path)
        return sorted(children)

    def walk(self, path: str) -> Iterator[FileInfo]:
        self._validate(path, allow_root=True)
        found = False
        for page in self._pages(path, "walk", None):
            for blob in page:
                if self._hidden(blob.name):
                    continue
                found = True
                updated = blob.updated.timestamp() if blob.updated else None
                yield FileInfo(self._path(blob.name), int(blob.size or 0), updated, False)
        if not found and path != ROOT:
            raise PathNotFoundError(driver=self.name, operation="walk", path=path)

    def move(self, source: str, destination: str) -> None:
        self._validate(source)
        self._validate(destination)
        original = self.call("move", source, lambda: self.get_blob(source))
        if original is None:
            raise PathNotFoundError(driver=self.name, operation="move", path=source)
        self.check_writable(destination, "move")
        target = self.blob(destination)
        token: str | None = None
        while True:
            # NOTE: rewrite copies any size server-side, a slice per call for big objects.
            rewrite = functools.partial(
                target.rewrite,
                original,
                token=token,
                if_source_generation_match=original.generation,
                retry=self.retry,
            )
            token, _, _ = self.call("move", source, rewrite)
            if token is None:
                break
        self.call("move", source, lambda: original.delete(retry=self.retry))

    def delete(self, path: str) -> None:
        self._validate(path)
        deleted = False
        try:
            self.call("delete", path, lambda: self.blob(path).delete(retry=self.retry))
            deleted = True
        except PathNotFoundError:
            pass
        for page in self._pages(path, "delete", None):
            for blob in page:
                try:
                    self.call("delete", path, functools.partial(blob.delete, retry=self.retry))
                except PathNotFoundError:
                    continue  # NOTE: deleted by someone else meanwhile: fine.
                deleted = True
        if not deleted:
            raise PathNotFoundError(driver=self.name, operation="delete", path=path)

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """A V4 signed URL valid for 20 minutes, or ``None`` when nothing can sign.

        :raises PathNotFoundError: no file at ``path`` (a URL to a 404 helps no client).
        """
        self._validate(path)
        if Capability.REDIRECT not in self.capabilities:
            return None
        if self._is_file(path, "redirect_url") is None:
            raise PathNotFoundError(driver=self.name, operation="redirect_url", path=path)
        extra = (
            {"api_access_endpoint": self.settings.endpoint_url}
            if self.settings.endpoint_url
            else {}
        )
        return self.call(
            "redirect_url",
            path,
            lambda: self.blob(path).generate_signed_url(
                version="v4",
                expiration=datetime.timedelta(seconds=REDIRECT_EXPIRES),
                method=method.upper(),
                credentials=self._signer,
                **extra,
            ),
        )

    def close(self) -> None:
        self._writable.close()
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
