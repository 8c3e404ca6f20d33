"""The ``gcs`` driver: the registry's files as objects of one Google Cloud Storage bucket.

Storage paths map onto object names under the prefix taken from ``storage_path``::

    bucket/
    └── registry/                         storage_path "/registry" (slashes normalised)
        ├── .registry-staging/<uuid>      new bytes of large appends, until composed
        ├── images/<id>/json              storage path /images/<id>/json
        └── docker/registry/v2/...        storage path /docker/registry/v2/...

Everything but the SDK calls comes from
:class:`~docker_registry.core.storage.objectstore.ObjectStoreDriver`. The staging
directory is reserved: it never shows in ``list``/``walk`` of the root and no storage
path may enter it. Writes are resumable uploads (see :mod:`.writer`); ``move``
rewrites server-side then deletes; ``redirect_url`` is a V4 signed URL when the
credentials can sign.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO, ClassVar, cast

from google.api_core.exceptions import NotFound
from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from docker_registry.core.storage import Capability, DriverOption, PathNotFoundError, StorageError
from docker_registry.core.storage.objectstore import (
    ObjectInfo,
    ObjectStoreDriver,
    OfferedCapabilities,
)
from docker_registry.core.storage.paths import ROOT

from .errors import translate
from .reader import GCSReader
from .settings import GCS_OPTIONS, gcs_settings, with_defaults
from .writer import GCSFileWriter

#: The reserved top-level directory of staging objects.
STAGING_DIR = ".registry-staging"
#: Seconds a redirect URL stays valid.
REDIRECT_EXPIRES = 1200


class GCSDriver(ObjectStoreDriver):
    """Google Cloud Storage through google-cloud-storage (JSON API, OAuth2 credentials).

    :raises ConfigError: HMAC keys (see :data:`.settings.HMAC_MESSAGE`), no bucket...
    """

    name = "gcs"
    options: ClassVar[tuple[DriverOption, ...]] = GCS_OPTIONS
    capabilities = OfferedCapabilities(Capability.REDIRECT)
    log = logging.getLogger(__name__)
    #: Objects per listing request (the service's maximum is 1,000).
    page_size = 1000

    def __init__(self, **options: Any) -> None:
        self.settings = settings = gcs_settings(with_defaults(self.options, options))
        super().__init__(prefix=settings.prefix, part_size=settings.chunk_size)
        self._signer: Any = None
        if settings.credentials_file:
            from google.oauth2 import service_account

            self._signer = service_account.Credentials.from_service_account_file(
                settings.credentials_file,
                scopes=["https://www.googleapis.com/auth/devstorage.read_write"],
            )
        self._credentials: Any = AnonymousCredentials() if settings.endpoint_url else self._signer
        #: retries of idempotent calls, bounded so a dead endpoint fails in seconds.
        self.retry: Retry = DEFAULT_RETRY.with_timeout(30.0)
        self._local = threading.local()
        self._bucket_checked = False

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

    # -- primitives --------------------------------------------------------------------

    def error(self, exc: BaseException, operation: str, path: str) -> StorageError:
        return translate(exc, self.settings, driver=self.name, operation=operation, path=path)

    def offers(self, capability: str) -> bool:
        # NOTE: without a service-account key nothing can sign a URL: serve bytes ourselves.
        return capability != Capability.REDIRECT or hasattr(self._signer, "sign_bytes")

    def prepare(self, operation: str, path: str) -> None:
        """Once per process: a missing bucket is a clear error, not "path not found"."""
        if self._bucket_checked:
            return
        try:
            exists = self.bucket.exists(retry=self.retry)
        except Exception as exc:
            raise self.error(exc, operation, path) from exc
        if not exists:
            raise StorageError(
                f"bucket '{self.settings.bucket}' does not exist (create it, or check "
                "boto_bucket/gcs_bucket)",
                driver=self.name,
                operation=operation,
                path=path,
            )
        self._bucket_checked = True

    def reserved(self, key: str) -> bool:
        return key.startswith(f"{self.prefix}{STAGING_DIR}/")

    def staging_blob(self, name: str) -> storage.Blob:
        """A handle on a staging object (never listed)."""
        return self.bucket.blob(f"{self.prefix}{STAGING_DIR}/{name}")

    def head_object(self, key: str) -> ObjectInfo | None:
        blob = self.bucket.get_blob(key, retry=self.retry)
        if blob is None:
            return None
        return ObjectInfo(key, int(blob.size or 0), _updated(blob), native=blob)

    def list_objects(
        self, prefix: str, *, recursive: bool, page_size: int | None = None
    ) -> Iterator[ObjectInfo | str]:
        iterator = self.client.list_blobs(
            self.settings.bucket,
            prefix=prefix,
            delimiter=None if recursive else "/",
            page_size=page_size or self.page_size,
            retry=self.retry,
        )
        for page in iterator.pages:
            yield from page.prefixes
            for blob in page:
                yield ObjectInfo(blob.name, int(blob.size or 0), _updated(blob), native=blob)

    def open_object(self, path: str, key: str, offset: int) -> BinaryIO:
        info = self.head_object(key)
        if info is None:
            raise PathNotFoundError()
        return cast(BinaryIO, GCSReader(self, path, info.native, offset))

    def get_content(self, path: str) -> bytes:
        # NOTE: one GET of the whole object: atomic against concurrent overwrites.
        blob = self.bucket.blob(self.key(path))
        return self.call("get_content", path, lambda: blob.download_as_bytes(retry=self.retry))

    def put_object(self, key: str, data: bytes) -> None:
        self.bucket.blob(key).upload_from_string(
            data, content_type="application/octet-stream", retry=self.retry
        )

    def copy_object(self, source: ObjectInfo, key: str) -> None:
        original, target = source.native, self.bucket.blob(key)
        token: str | None = None
        while True:
            # NOTE: rewrite copies any size server-side, a slice per call for big objects.
            token, _, _ = target.rewrite(
                original,
                token=token,
                if_source_generation_match=original.generation,
                retry=self.retry,
            )
            if token is None:
                return

    def delete_objects(self, keys: Sequence[str]) -> None:
        for key in keys:
            try:
                self.bucket.blob(key).delete(retry=self.retry)
            except NotFound:
                continue  # NOTE: deleted by someone else meanwhile: fine.

    def open_writer(self, path: str, append: bool) -> GCSFileWriter:
        return GCSFileWriter(self, path, append)

    def signed_url(self, key: str, method: str) -> str:
        """A V4 signed URL valid for 20 minutes."""
        extra = (
            {"api_access_endpoint": self.settings.endpoint_url}
            if self.settings.endpoint_url
            else {}
        )
        return str(
            self.bucket.blob(key).generate_signed_url(
                version="v4",
                expiration=datetime.timedelta(seconds=REDIRECT_EXPIRES),
                method=method.upper(),
                credentials=self._signer,
                **extra,
            )
        )

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

    def close(self) -> None:
        super().close()
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()


def _updated(blob: storage.Blob) -> float | None:
    return blob.updated.timestamp() if blob.updated else None
