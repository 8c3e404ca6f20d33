"""Pull-through caching shared by the v1 mirror and the v2 proxy (spec §6.6, issue #6).

* :class:`MirrorConfig` -- the ``mirroring`` config section (``source``, ``source_index``,
  ``tags_cache_ttl``, ``timeout``); both APIs read the same section.
* :class:`Upstream` -- a small HTTP client of the upstream. Every failure becomes one of
  three outcomes, so that callers decide with one ``try``:

  * :class:`UpstreamMiss` -- upstream answered a 4xx: the thing does not exist there
    either (or the client may not see it); callers answer their *local* 404.
  * ``gateway_timeout`` (504) -- no answer within ``mirroring.timeout``.
  * ``bad_gateway`` (502) -- connection refused, a 5xx, a truncated body or an answer
    that is not what the route promises (garbage JSON).

  The two gateway errors are class attributes, so that each API raises its own error
  type (v1: ``{"error": ...}``; v2: the OCI envelope). Their message names the upstream,
  e.g. ``Mirror upstream http://hub:5000 timed out after 30s (GET /v1/images/<id>/json)``.
* :class:`StreamTee` -- streams an upstream body to the client and into a storage writer
  while hashing it; commits only a complete, verified body.
* :class:`ClientRequest` -- what an upstream request inherits from the client's (its
  headers, its path as spelled). The pull-through stores keep the interface of the local
  ones, so this travels beside the call, as a ``context.Context`` does in Go: the
  forwarding middleware sets it for the duration of each ``/v1/`` and ``/v2/`` request
  (:func:`client_request`; tests use :func:`forwarding`). Outside one (a web UI page, a
  background job) the pull-through stores answer what is stored here, and never ask
  upstream.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import json
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote

from .config.keys import mirroring as keys
from .inputs import parse_number
from .storage import FileWriter

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

#: Default ``mirroring.tags_cache_ttl``: two days, as the seed's ``config_mirror.yml``.
DEFAULT_TAGS_CACHE_TTL: float = keys.TAGS_CACHE_TTL.default
#: Default ``mirroring.timeout`` in seconds.
DEFAULT_TIMEOUT: float = keys.TIMEOUT.default
#: Largest upstream JSON answer accepted (index image lists of big repositories).
MAX_JSON_BYTES = 16 * 1024 * 1024
#: Bytes per read of an upstream layer.
LAYER_CHUNK = 1024 * 1024

#: Request headers never forwarded upstream: hop-by-hop, body framing, the client's
#: conditional/range headers (the mirror fetches whole answers to cache them), and the
#: seed's ``Host``/``Location`` exclusions.
_NOT_FORWARDED = frozenset(
    {
        "host",
        "location",
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
        "content-type",
        "accept-encoding",
        "range",
        "if-range",
        "if-modified-since",
        "if-none-match",
    }
)


@dataclass(frozen=True)
class MirrorConfig:
    """The ``mirroring`` section.

    :param source: registry to fetch images from (``mirroring.source``).
    :param source_index: index for image lists, tags and search
        (``mirroring.source_index``; ``None``: use ``source``).
    :param tags_cache_ttl: seconds an upstream tag list / image list is reused.
    :param timeout: seconds to connect and to wait for each piece of an answer.
    """

    source: str
    source_index: str | None = None
    tags_cache_ttl: float = DEFAULT_TAGS_CACHE_TTL
    timeout: float = DEFAULT_TIMEOUT

    @property
    def index(self) -> str:
        """Where index routes (image lists, tags, search) go: Q10's fix."""
        return self.source_index or self.source

    @classmethod
    def from_settings(cls, settings: Any) -> MirrorConfig | None:
        """The section of ``settings``, ``None`` when ``mirroring.source`` is empty.

        :raises ConfigError: a URL that is not http(s), a negative TTL, a timeout <= 0
            (the declarations of :mod:`.config.keys.mirroring`).
        """
        source = keys.SOURCE.read(settings)
        if not source:
            return None
        return cls(
            source=source,
            source_index=keys.SOURCE_INDEX.read(settings),
            tags_cache_ttl=keys.TAGS_CACHE_TTL.read(settings),
            timeout=keys.TIMEOUT.read(settings),
        )


class UpstreamMiss(Exception):
    """Upstream answered a 4xx (``status``): callers answer their local 404."""

    def __init__(self, status: int, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"upstream answered {status}")
        self.status = status
        #: the answer's headers (``WWW-Authenticate`` of a 401).
        self.headers: Mapping[str, str] = headers or {}


@dataclass(frozen=True)
class ClientRequest:
    """The client request a pull-through store serves, as far as upstream needs it.

    :param headers: the client's request headers (``Authorization`` and ``Accept`` are
        forwarded, see :func:`forward_headers`).
    :param path: the request's path and query as the client spelled them (v1 index
        routes are asked upstream under the same URL).
    """

    headers: Mapping[str, str]
    path: str = ""


_CLIENT_REQUEST: contextvars.ContextVar[ClientRequest | None] = contextvars.ContextVar(
    "docker_registry_client_request", default=None
)
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def client_request() -> ClientRequest | None:
    """The registry client's request being served, ``None`` outside one."""
    return _CLIENT_REQUEST.get()


@contextlib.contextmanager
def forwarding(request: ClientRequest | None) -> Iterator[None]:
    """Serve ``request`` within the block: pull-through stores forward its headers
    (``None``: no client's, they answer what is stored here)."""
    token = _CLIENT_REQUEST.set(request)
    try:
        yield
    finally:
        _CLIENT_REQUEST.reset(token)


def begin_forwarding(request: ClientRequest) -> contextvars.Token[ClientRequest | None]:
    """Start serving ``request`` (the middleware's half of :func:`forwarding`)."""
    return _CLIENT_REQUEST.set(request)


def end_forwarding(token: contextvars.Token[ClientRequest | None]) -> None:
    """Stop serving the request :func:`begin_forwarding` started."""
    _CLIENT_REQUEST.reset(token)


_Store = TypeVar("_Store", bound=type)


def forwards_to_local(local_type: type) -> Callable[[_Store], _Store]:
    """Class decorator of a pull-through store: each public method of ``local_type``
    that the class does not define itself calls the same method of ``self.local``.

    NOTE: a pull-through store subclasses its local store for the type only and shares
    none of its state; forwarding every method it does not override (methods added to
    the local store later too) means no inherited method ever runs on state never set.
    """

    def decorate(cls: _Store) -> _Store:
        for name, member in vars(local_type).items():
            if not name.startswith("_") and inspect.isfunction(member) and name not in vars(cls):
                setattr(cls, name, _forwarder(name, member))
        return cls

    return decorate


def _forwarder(name: str, member: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(member)
    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.local, name)(*args, **kwargs)

    return forward


def upstream_path(path: str, query: str) -> str:
    """A request's path and query as sent upstream (the client's own spelling)."""
    quoted = quote(path, safe=_PATH_SAFE)
    return f"{quoted}?{query}" if query else quoted


def forward_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client's request headers to send upstream (``Authorization`` included)."""
    forwarded = {
        name: value for name, value in headers.items() if name.lower() not in _NOT_FORWARDED
    }
    forwarded["Accept-Encoding"] = "identity"
    return forwarded


def content_length(headers: Mapping[str, str]) -> int | None:
    """The upstream's ``Content-Length``, or ``None`` when absent or not a sane number
    (a hostile upstream's 5,000 digits or ``²`` must not become a 500 here)."""
    value = headers.get("Content-Length")
    return parse_number(value.strip()) if value is not None else None


@dataclass
class UpstreamAnswer:
    """A complete JSON answer: the raw body, the decoded value and the headers."""

    raw: bytes
    value: Any
    headers: Mapping[str, str]


class UpstreamError(Exception):
    """Placeholder gateway error of the base :class:`Upstream` (APIs set their own)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Upstream:
    """GETs from the upstream registry/index with ``requests`` and the mirror's timeout.

    Subclasses set :attr:`bad_gateway` and :attr:`gateway_timeout` to their API's error
    classes (called with one message argument).

    :param config: the mirroring section.
    :param session_factory: builds one ``requests.Session`` per thread (tests may
        inject their own).
    """

    bad_gateway: Callable[[str], Exception] = UpstreamError
    gateway_timeout: Callable[[str], Exception] = UpstreamError

    def __init__(
        self,
        config: MirrorConfig,
        session_factory: Callable[[], requests.Session] | None = None,
    ) -> None:
        self.config = config
        self._session_factory = session_factory or _new_session
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._session_factory()
            session.trust_env = False
        return session

    def describe(self, base: str, path: str, what: str) -> str:
        return f"Mirror upstream {base} {what} (GET {path})"

    def open(
        self, base: str, path: str, headers: Mapping[str, str], *, method: str = "GET"
    ) -> requests.Response:
        """Send the request; return the 200 response with its body not yet read.

        :raises UpstreamMiss: a 4xx. :raises BadGateway: refused, 5xx, other statuses.
        :raises GatewayTimeout: no connection or no answer within the timeout.
        """
        import requests

        timeout = self.config.timeout
        try:
            response = self._session().request(
                method,
                base + path,
                headers=forward_headers(headers),
                timeout=(timeout, timeout),
                stream=True,
                allow_redirects=True,
            )
        except requests.Timeout:
            raise self.gateway_timeout(
                self.describe(base, path, f"timed out after {timeout:g}s")
            ) from None
        except requests.RequestException as exc:
            raise self.bad_gateway(
                self.describe(base, path, f"is unreachable: {_reason(exc)}")
            ) from None
        if response.status_code == 200:
            return response
        response.close()
        if 400 <= response.status_code < 500:
            raise UpstreamMiss(response.status_code, response.headers)
        raise self.bad_gateway(self.describe(base, path, f"answered {response.status_code}"))

    def get_json(
        self,
        base: str,
        path: str,
        headers: Mapping[str, str],
        validate: Callable[[Any], bool],
        what: str,
    ) -> UpstreamAnswer:
        """GET a JSON answer, complete within the timeout, that ``validate`` accepts.

        :param what: what the route promises, for the error message ("an image JSON").
        :raises BadGateway: also when the body is truncated, too large, not JSON or
            refused by ``validate``.
        """
        deadline = time.monotonic() + self.config.timeout
        response = self.open(base, path, headers)
        try:
            raw = self._read_all(response, base, path, deadline)
        finally:
            response.close()
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            value = _INVALID
        if value is _INVALID or not validate(value):
            raise self.bad_gateway(self.describe(base, path, f"did not answer {what}"))
        return UpstreamAnswer(raw, value, response.headers)

    def _read_all(
        self, response: requests.Response, base: str, path: str, deadline: float
    ) -> bytes:
        parts: list[bytes] = []
        size = 0
        chunks = response.raw.stream(64 * 1024, decode_content=True)
        while True:
            try:
                chunk = next(chunks, None)
            except Exception as exc:  # NOTE: urllib3, requests and socket errors alike
                if _is_timeout(exc):
                    raise self.gateway_timeout(
                        self.describe(base, path, f"timed out after {self.config.timeout:g}s")
                    ) from exc
                raise self.bad_gateway(
                    self.describe(base, path, f"sent an incomplete answer: {_reason(exc)}")
                ) from exc
            if chunk is None:
                break
            size += len(chunk)
            if size > MAX_JSON_BYTES:
                raise self.bad_gateway(
                    self.describe(base, path, f"answered more than {MAX_JSON_BYTES} bytes")
                )
            if time.monotonic() > deadline:
                raise self.gateway_timeout(
                    self.describe(base, path, f"timed out after {self.config.timeout:g}s")
                )
            parts.append(chunk)
        return b"".join(parts)

    def layer_chunks(self, response: requests.Response) -> Iterator[bytes]:
        """The raw bytes of a layer answer (no content decoding), in 1 MiB pieces.

        A body shorter than its ``Content-Length`` raises (urllib3's
        ``enforce_content_length``), as does a stalled read after the timeout.
        """
        yield from response.raw.stream(LAYER_CHUNK, decode_content=False)


_INVALID = object()


def _new_session() -> requests.Session:
    # NOTE: requests (and its charset tables) is imported only by mirrors: ~9 MiB per
    # worker process otherwise.
    import requests

    return requests.Session()


def _is_timeout(exc: BaseException) -> bool:
    import requests

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError | requests.Timeout) or "timed out" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _reason(exc: BaseException) -> str:
    """A short reason ("connection refused") rather than urllib3's nested repr."""
    text = str(exc)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "unknown host"
    if "incompleteread" in lowered or "incomplete" in lowered:
        return "incomplete body"
    return text[:200] or type(exc).__name__


class StreamRejected(Exception):
    """A streamed upstream body failed its checks; nothing was stored."""


class StreamHasher(Protocol):
    """What :class:`StreamTee` hashes with: ``update`` chunks, then ``checksum()``."""

    def update(self, chunk: bytes, /) -> None: ...

    def checksum(self) -> str: ...


class StreamTee:
    """Streams an upstream body to the client and into a storage writer at once.

    ``hasher`` sees every chunk. The writer is committed only when the body is complete
    (``Content-Length`` reached, no read error) and, when ``expected`` checksums are
    known, ``hasher.checksum()`` is among them; otherwise it is cancelled and iteration
    raises :class:`StreamRejected`.

    NOTE: the last chunk is held back until those checks pass, so a client never
    receives a complete body that the cache found bad: its connection is cut short
    (the WSGI server closes it) and it retries, as it would after a network error.

    :param chunks: the upstream body.
    :param writer: a writer at the content's storage path.
    :param hasher: computes the checksum compared with ``expected``.
    :param expected: checksums the body must match (empty: no check possible).
    :param length: upstream ``Content-Length``, ``None`` when it sent none.
    :param on_commit: called with the computed checksum after the commit.
    :param on_mismatch: called when the checksum does not match.
    :param close_upstream: releases the upstream connection.
    :param label: names the content and upstream in log messages.
    """

    def __init__(
        self,
        chunks: Iterator[bytes],
        writer: FileWriter,
        hasher: StreamHasher,
        expected: list[str],
        length: int | None,
        on_commit: Callable[[str], None],
        on_mismatch: Callable[[], None],
        close_upstream: Callable[[], None],
        label: str,
    ) -> None:
        self.writer = writer
        self.expected = expected
        self.length = length
        self.received = 0
        self.committed = False
        self._chunks = chunks
        self._hasher = hasher
        self._on_commit = on_commit
        self._on_mismatch = on_mismatch
        self._close_upstream = close_upstream
        self._label = label
        self._finished = False
        self._iterator = self._run()

    def __iter__(self) -> StreamTee:
        return self

    def __next__(self) -> bytes:
        return next(self._iterator)

    def close(self) -> None:
        """Called by the WSGI server at the end, or early when the client went away."""
        self._iterator.close()
        self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if not self.committed:
            with contextlib.suppress(Exception):
                self.writer.cancel()
        with contextlib.suppress(Exception):
            self.writer.close()
        with contextlib.suppress(Exception):
            self._close_upstream()

    def _run(self) -> Generator[bytes, None, None]:
        held: bytes | None = None
        try:
            try:
                for chunk in self._chunks:
                    if not chunk:
                        continue
                    self._hasher.update(chunk)
                    self.writer.write(chunk)
                    self.received += len(chunk)
                    if held is not None:
                        yield held
                    held = chunk
            except GeneratorExit:
                raise
            except Exception as exc:  # NOTE: any read error means "incomplete"
                raise self._reject(f"upstream body broke off: {exc}") from exc
            checksum = self._verify()
            self.writer.commit()
            self.committed = True
            self._on_commit(checksum)
            log.info("mirror: cached %s (%d bytes, %s)", self._label, self.received, checksum)
            if held is not None:
                yield held
        finally:
            self._finish()

    def _verify(self) -> str:
        if self.length is not None and self.received != self.length:
            raise self._reject(f"received {self.received} of {self.length} bytes")
        checksum = self._hasher.checksum()
        if self.expected and checksum not in self.expected:
            with contextlib.suppress(Exception):
                self._on_mismatch()
            raise self._reject(f"checksum {checksum} is not {', '.join(self.expected)}")
        return checksum

    def _reject(self, reason: str) -> StreamRejected:
        with contextlib.suppress(Exception):
            self.writer.cancel()
        log.error("mirror: %s rejected, nothing cached: %s", self._label, reason)
        return StreamRejected(f"{self._label}: {reason}")
