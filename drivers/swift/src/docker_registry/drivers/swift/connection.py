"""Settings, a pool of swiftclient connections, and the translation of Swift failures.

One :class:`swiftclient.client.Connection` holds one HTTP connection and is not safe to
share between threads, so the driver keeps a small pool: each call borrows a connection
and gives it back. Every connection re-authenticates by itself when the server answers
401 (an expired or revoked token) and retries, so token expiry is invisible to callers.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from requests.exceptions import RequestException
from swiftclient.client import ClientException, Connection

from docker_registry.core.config.errors import ConfigError
from docker_registry.core.storage import DriverOption, PathNotFoundError, StorageError
from docker_registry.core.storage.pieces import DEFAULT_IN_FLIGHT, read_piece_options, read_pieces

#: Auth versions swiftclient speaks (v1 = tempauth/swauth, 2 and 3 = Keystone).
AUTH_VERSIONS = ("1", "2", "3")
#: The largest object Swift stores in one PUT (and so the largest segment).
MAX_SEGMENT_SIZE = 5 * 1024**3


#: The options of the ``swift`` driver (the seed's keys first).
SWIFT_OPTIONS = (
    DriverOption("swift_authurl", str, help="auth URL (tempauth .../auth/v1.0, Keystone)"),
    DriverOption("swift_container", str, default="registry", help="container to use"),
    DriverOption("swift_user", str, help="user name (v1: 'account:user')"),
    DriverOption("swift_password", str, secret=True, help="password or API key"),
    DriverOption("swift_tenant_name", str, help="Keystone v2 tenant (v3: project)"),
    DriverOption("swift_region_name", str, help="Keystone region of the endpoint"),
    DriverOption("swift_auth_version", str, default="2", help="1, 2 or 3"),
    DriverOption("swift_user_domain_name", str, help="Keystone v3 user domain"),
    DriverOption("swift_project_name", str, help="Keystone v3 project"),
    DriverOption("swift_project_domain_name", str, help="Keystone v3 project domain"),
    DriverOption("swift_storage_url", str, help="pre-auth: storage URL (with auth token)"),
    DriverOption("swift_auth_token", str, secret=True, help="pre-auth: token to use"),
    DriverOption("swift_temp_url_key", str, secret=True, help="TempURL key: redirects"),
    DriverOption("swift_temp_url_expires", int, default=1200, help="TempURL seconds"),
    DriverOption("swift_segment_size", int, default=64 * 1024**2, help="bytes/segment"),
    DriverOption("swift_segment_container", str, help="default <swift_container>_segments"),
    DriverOption("swift_listing_limit", int, default=10_000, help="names per listing page"),
    DriverOption("swift_create_container", bool, default=True, help="create if missing"),
    DriverOption("swift_retries", int, default=5, help="retries of a failed request"),
    DriverOption("swift_timeout", float, default=60.0, help="seconds per request"),
    DriverOption("storage_path", str, default="/registry", help="object name prefix"),
    *read_piece_options("swift_read_piece_size", "swift_read_pieces"),
)


@dataclass(frozen=True)
class SwiftSettings:
    """The validated connection settings of one :class:`~.driver.SwiftDriver`."""

    authurl: str | None
    user: str | None
    password: str | None
    auth_version: str
    os_options: Mapping[str, str]
    tenant_name: str | None
    storage_url: str | None
    auth_token: str | None
    container: str
    segment_container: str
    prefix: str
    segment_size: int
    listing_limit: int
    temp_url_key: str | None
    temp_url_expires: int
    create_container: bool
    retries: int
    timeout: float | None
    #: ``(bytes per ranged GET, pieces in flight)`` of large downloads (0 bytes: one GET).
    read_pieces: tuple[int, int] = (0, DEFAULT_IN_FLIGHT)

    def connect(self) -> Connection:
        """A new, not yet authenticated, swiftclient connection."""
        return Connection(
            authurl=self.authurl,
            user=self.user,
            key=self.password,
            auth_version=self.auth_version,
            tenant_name=self.tenant_name,
            os_options=dict(self.os_options),
            preauthurl=self.storage_url,
            preauthtoken=self.auth_token,
            retries=self.retries,
            starting_backoff=0.5,
            max_backoff=8,
            timeout=self.timeout,
        )


def swift_settings(values: Mapping[str, Any]) -> SwiftSettings:
    """Check the option values of the ``swift`` driver and combine them.

    :raises ConfigError: naming the key at fault.
    """
    version = str(values.get("swift_auth_version") or "2").strip()
    version = {"1.0": "1", "2.0": "2", "3.0": "3"}.get(version, version)
    if version not in AUTH_VERSIONS:
        raise ConfigError("must be 1, 2 or 3", key="swift_auth_version")
    preauth = bool(values.get("swift_storage_url") and values.get("swift_auth_token"))
    if not preauth:
        for key in ("swift_authurl", "swift_user", "swift_password"):
            if not values.get(key):
                raise ConfigError(
                    "required unless swift_storage_url and swift_auth_token are both set",
                    key=key,
                )
    container = values.get("swift_container") or ""
    if not container or "/" in container:
        raise ConfigError("a container name without '/' is required", key="swift_container")
    segment_size = int(values.get("swift_segment_size") or 0)
    if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise ConfigError(f"must be between 1 and {MAX_SEGMENT_SIZE}", key="swift_segment_size")
    limit = int(values.get("swift_listing_limit") or 0)
    if not 1 <= limit <= 10_000:
        raise ConfigError("must be between 1 and 10000", key="swift_listing_limit")
    os_options = {
        name: values[key]
        for name, key in (
            ("region_name", "swift_region_name"),
            ("tenant_name", "swift_tenant_name"),
            ("project_name", "swift_project_name"),
            ("user_domain_name", "swift_user_domain_name"),
            ("project_domain_name", "swift_project_domain_name"),
        )
        if values.get(key)
    }
    if version == "3" and "project_name" not in os_options and values.get("swift_tenant_name"):
        # NOTE: Keystone v3 calls the v2 tenant a project; accept the seed's key for it.
        os_options["project_name"] = values["swift_tenant_name"]
    prefix = (values.get("storage_path") or "").strip("/")
    return SwiftSettings(
        authurl=values.get("swift_authurl"),
        user=values.get("swift_user"),
        password=values.get("swift_password"),
        auth_version=version,
        os_options=os_options,
        tenant_name=values.get("swift_tenant_name"),
        storage_url=values.get("swift_storage_url"),
        auth_token=values.get("swift_auth_token"),
        container=container,
        segment_container=values.get("swift_segment_container") or f"{container}_segments",
        prefix=f"{prefix}/" if prefix else "",
        segment_size=segment_size,
        listing_limit=limit,
        temp_url_key=values.get("swift_temp_url_key"),
        temp_url_expires=int(values.get("swift_temp_url_expires") or 1200),
        create_container=bool(values.get("swift_create_container")),
        retries=5 if values.get("swift_retries") is None else int(values["swift_retries"]),
        timeout=values.get("swift_timeout"),
        read_pieces=read_pieces(values, "swift_read_piece_size", "swift_read_pieces"),
    )


class ConnectionPool:
    """Lend swiftclient connections to one thread at a time; keep idle ones for reuse.

    :param settings: how to build a new connection.
    :param size: idle connections kept; more are built on demand and dropped on return.
    """

    def __init__(self, settings: SwiftSettings, size: int = 16) -> None:
        self._settings = settings
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue(maxsize=size)
        self._lock = threading.Lock()

    def acquire(self) -> Connection:
        """Borrow a connection (return it with :meth:`release`)."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._settings.connect()

    def release(self, connection: Connection) -> None:
        """Give a borrowed connection back (closed and dropped if the pool is full)."""
        try:
            self._idle.put_nowait(connection)
        except queue.Full:
            connection.close()

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """Borrow a connection for the duration of a ``with`` block."""
        connection = self.acquire()
        try:
            yield connection
        finally:
            self.release(connection)

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            while True:
                try:
                    self._idle.get_nowait().close()
                except queue.Empty:
                    return


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a swiftclient failure (``None`` if it never got an answer)."""
    return exc.http_status if isinstance(exc, ClientException) else None


def translate(
    exc: BaseException, settings: SwiftSettings, *, driver: str, operation: str, path: str
) -> StorageError:
    """Return the :class:`StorageError` an operator can act on for a swiftclient failure.

    A missing object becomes :class:`PathNotFoundError`; refused credentials, a missing
    container and an unreachable proxy each get a sentence naming the keys to check.
    """
    context = {"driver": driver, "operation": operation, "path": path}
    if isinstance(exc, StorageError):
        return exc.with_context(**context)
    status = status_of(exc)
    if status == 404:
        return PathNotFoundError(**context)
    # NOTE: the message without the URL: account paths read AUTH_<project>.
    if status == 401 or (isinstance(exc, ClientException) and "auth" in exc.msg.lower()):
        return StorageError(
            f"authentication refused ({exc}): check swift_authurl, swift_user, "
            "swift_password, swift_auth_version (or swift_auth_token)",
            **context,
        )
    if status == 403:
        return StorageError(
            f"access denied to container '{settings.container}' ({exc}): check the "
            "account's ACLs and the user's roles",
            **context,
        )
    if isinstance(exc, ClientException):
        return StorageError(f"Swift error: {exc}", **context)
    if isinstance(exc, (RequestException, OSError)):
        return StorageError(
            f"cannot reach Swift ({type(exc).__name__}: {exc}): check swift_authurl / "
            "swift_storage_url and that the proxy is running",
            **context,
        )
    return StorageError(f"{type(exc).__name__}: {exc}", **context)
