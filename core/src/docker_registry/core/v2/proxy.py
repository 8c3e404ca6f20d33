"""Proxy mode: a pull-through cache of an upstream v2 registry (issue #6, the Go
registry's ``proxy: remoteurl``).

On when ``mirroring.source`` is set (the v1 mirror's section, parsed by
:class:`~docker_registry.core.mirroring.MirrorConfig`): the v2 plugin then hands the
resources :class:`ProxiedManifestStore` and :class:`ProxiedBlobStore`, decorators with
the interface of the local stores (as distribution's ``registry/proxy/``), which ask
upstream on a local miss of a registry client's request (outside one, e.g. a web UI
page, they answer what is stored here):

==========================================  ==================================================
route                                       on a local miss
==========================================  ==================================================
``GET/HEAD /v2/<name>/manifests/<digest>``  GET upstream; sha256 of the bytes must be the
                                            digest; stored (blob + revision link)
``GET/HEAD /v2/<name>/manifests/<tag>``     GET upstream (also when the local tag is older than
                                            ``tags_cache_ttl``); the bytes must match
                                            upstream's ``Docker-Content-Digest``; stored with
                                            the tag; the local copy answers when upstream fails
``GET /v2/<name>/blobs/<digest>``           streamed to the client and into storage while
                                            hashed (:meth:`BlobStore.ingest`); committed and
                                            linked only when complete and the digest matches
``HEAD /v2/<name>/blobs/<digest>``          HEAD upstream; nothing stored
==========================================  ==================================================

A blob whose data is here already (fetched for another repository) is linked into the
repository once upstream confirms the repository has it (adopt on miss).

The client's ``Accept`` and ``Authorization`` go upstream (:func:`forward_headers`), read
from :func:`~docker_registry.core.mirroring.client_request`.
Without an ``Authorization`` of its own, a ``401`` carrying a ``Bearer`` challenge is
answered with an anonymous token from the challenge's realm (cached until it expires).
Nothing here builds storage paths: the stores of this package do.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..mirroring import (
    LAYER_CHUNK,
    MirrorConfig,
    StreamRejected,
    Upstream,
    UpstreamMiss,
    client_request,
    content_length,
    forwards_to_local,
)
from .blobs import BlobHandle, BlobStore, RemoteBlob
from .digests import Digest, digest_of, is_digest
from .errors import (
    BadGateway,
    BlobUnknown,
    DigestInvalid,
    GatewayTimeout,
    ManifestInvalid,
    ManifestUnknown,
)
from .manifests import ManifestStore, media_type_of
from .mediatypes import MANIFEST_TYPES
from .negotiation import accepted
from .referrers import ReferrerStore

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
#: Seconds a token is reused when the token endpoint gives no ``expires_in``.
DEFAULT_TOKEN_LIFETIME = 60.0
#: Blobs up to this size (configs, small layers) are verified before the answer starts.
SMALL_BLOB = LAYER_CHUNK


def parse_bearer_challenge(header: str | None) -> dict[str, str] | None:
    """The parameters of a ``Bearer`` ``WWW-Authenticate`` challenge (``realm`` set), or
    ``None`` for anything else."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    params = {key.lower(): value for key, value in _CHALLENGE_PARAM.findall(rest)}
    realm = params.get("realm", "")
    if not realm.startswith(("http://", "https://")):
        return None
    return params


class V2Upstream(Upstream):
    """The shared upstream client with v2 errors and anonymous Bearer tokens.

    :param clock: monotonic seconds, for token lifetimes (tests move it).
    """

    bad_gateway = BadGateway
    gateway_timeout = GatewayTimeout

    def __init__(
        self,
        config: MirrorConfig,
        session_factory: Callable[[], requests.Session] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config, session_factory)
        self._clock = clock
        self._tokens: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._tokens_lock = threading.Lock()

    def open(
        self, base: str, path: str, headers: Mapping[str, str], *, method: str = "GET"
    ) -> requests.Response:
        """As :meth:`Upstream.open`; a ``401`` with a Bearer challenge is retried once
        with an anonymous token when the client sent no credentials."""
        try:
            return super().open(base, path, headers, method=method)
        except UpstreamMiss as miss:
            if miss.status != 401 or any(key.lower() == "authorization" for key in headers):
                raise
            challenge = parse_bearer_challenge(miss.headers.get("WWW-Authenticate"))
            token = self.anonymous_token(challenge) if challenge is not None else None
            if token is None:
                raise
        return super().open(
            base, path, {**headers, "Authorization": f"Bearer {token}"}, method=method
        )

    def anonymous_token(self, challenge: Mapping[str, str]) -> str | None:
        """A token from ``challenge["realm"]`` for its ``service`` and ``scope``, without
        credentials; ``None`` when the realm does not give one."""
        key = (challenge["realm"], challenge.get("service", ""), challenge.get("scope", ""))
        now = self._clock()
        with self._tokens_lock:
            cached = self._tokens.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        params = {"service": key[1], "scope": key[2]}
        params = {name: value for name, value in params.items() if value}
        import requests

        timeout = self.config.timeout
        try:
            response = self._session().get(key[0], params=params, timeout=(timeout, timeout))
            answer: Any = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError) as exc:
            log.warning("proxy: token realm %s failed: %s", key[0], exc)
            return None
        if not isinstance(answer, dict):
            return None
        token = answer.get("token") or answer.get("access_token")
        if not isinstance(token, str) or not token:
            return None
        lifetime = answer.get("expires_in")
        if not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_LIFETIME
        with self._tokens_lock:
            if len(self._tokens) > 1000:
                self._tokens.clear()
            # NOTE: renewed 10% early, so that a token never expires in flight.
            self._tokens[key] = (now + float(lifetime) * 0.9, token)
        return token


@forwards_to_local(ManifestStore)
class ProxiedManifestStore(ManifestStore):
    """A :class:`ManifestStore` that pulls through: manifests by digest are local, else
    fetched upstream; by tag, local while younger than ``tags_cache_ttl``, else fetched
    upstream (and stored again), else the local copy when upstream fails or no longer
    has the tag.

    Every other method is the local store's (:func:`forwards_to_local`).

    :param local: the store of this registry's manifests.
    :param referrers: records fetched manifests that have a ``subject``.
    :param config: the ``mirroring`` section.
    :param upstream: the HTTP client.
    :param clock: wall-clock seconds, compared with a tag link's mtime.
    """

    def __init__(
        self,
        local: ManifestStore,
        referrers: ReferrerStore,
        config: MirrorConfig,
        upstream: Upstream,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.local = local
        self.referrers = referrers
        self.config = config
        self.upstream = upstream
        self.clock = clock

    def get(self, name: str, reference: str) -> tuple[bytes, str, Digest]:
        """Raw bytes, media type and digest of a manifest, here or upstream.

        :raises ManifestUnknown: neither here nor upstream.
        :raises BadGateway | GatewayTimeout: upstream failed and nothing is here.
        """
        client = client_request()
        if client is None:
            return self.local.get(name, reference)
        local: tuple[bytes, str, Digest] | None = None
        try:
            local = self.local.get(name, reference)
        except ManifestUnknown as exc:
            miss = exc
        if local is not None and (is_digest(reference) or self.tag_fresh(name, reference)):
            return local
        try:
            return self._fetch(name, reference, client.headers)
        except UpstreamMiss:
            if local is None:
                raise miss from None
            return local
        except (BadGateway, GatewayTimeout) as exc:
            if local is None:
                raise
            log.warning(
                "proxy: %s; answering the local copy of %s:%s", exc.description, name, reference
            )
            return local

    def tag_fresh(self, name: str, tag: str) -> bool:
        """True when the local tag was written less than ``tags_cache_ttl`` ago."""
        written = self.local.tag_written_at(name, tag)
        if written is None:
            return False
        age = self.clock() - written
        return 0 <= age < self.config.tags_cache_ttl

    def _fetch(
        self, name: str, reference: str, headers: Mapping[str, str]
    ) -> tuple[bytes, str, Digest]:
        """GET a manifest upstream, verify it, store it (with the tag); return bytes,
        media type and digest. For a tag, upstream is asked for every manifest type: the
        answer is what the tag names, not negotiated for this client.

        :raises UpstreamMiss: upstream does not have it.
        :raises BadGateway: upstream failed, or its bytes do not match the digest.
        :raises GatewayTimeout: upstream did not answer in time.
        """
        source = self.config.source
        path = f"/v2/{name}/manifests/{reference}"
        if not is_digest(reference):
            headers = _tag_headers(headers)
        answer = self.upstream.get_json(
            source, path, headers, lambda value: isinstance(value, dict), "a manifest"
        )
        data = answer.raw
        digest = digest_of(data)
        claimed = (answer.headers.get("Docker-Content-Digest") or "").strip()
        expected = reference if is_digest(reference) else claimed
        if expected and expected != str(digest):
            log.error("proxy: %s%s is %s, not %s: not stored", source, path, digest, expected)
            raise BadGateway(
                f"Mirror upstream {source} answered a manifest whose digest is {digest}, "
                f"not {expected} (GET {path})",
                detail={"expected": expected, "actual": str(digest)},
            )
        content_type = answer.headers.get("Content-Type")
        tags = [] if is_digest(reference) else [reference]
        try:
            manifest = self.local.put(
                name, str(digest), data, content_type, tags, require_blobs=False
            )
        except (ManifestInvalid, DigestInvalid) as exc:
            # NOTE: e.g. schema 1: served as upstream sent it, never stored.
            log.warning("proxy: %s%s not stored: %s", source, path, exc.description)
            media_type = (content_type or "").split(";", 1)[0].strip() or media_type_of(data)
            return data, media_type, digest
        if manifest.subject is not None:
            self.referrers.add(name, manifest)
        log.info("proxy: cached manifest %s of %s (%s)", reference, name, digest)
        return data, manifest.media_type, digest


@forwards_to_local(BlobStore)
class ProxiedBlobStore(BlobStore):
    """A :class:`BlobStore` that pulls through: a blob missing here is linked when its
    data is here already and upstream has it in the repository (adopt on miss), else
    sized upstream (:meth:`describe`) or streamed from upstream while stored
    (:meth:`fetch`, through :meth:`BlobStore.ingest`).

    Every other method is the local store's (:func:`forwards_to_local`).

    :param local: the store of this registry's blobs.
    :param config: the ``mirroring`` section.
    :param upstream: the HTTP client.
    """

    def __init__(self, local: BlobStore, config: MirrorConfig, upstream: Upstream) -> None:
        self.local = local
        self.config = config
        self.upstream = upstream

    def describe(self, name: str, digest: Digest) -> BlobHandle | RemoteBlob:
        """The local blob, else upstream's size of it; nothing is stored.

        :raises BlobUnknown: neither here nor upstream.
        """
        client = client_request()
        if client is None:
            return self.local.stat(name, digest)
        try:
            return self.local.stat(name, digest)
        except BlobUnknown as exc:
            miss = exc
        try:
            if self._adopt(name, digest, client.headers):
                return self.local.stat(name, digest)
            response = self._open(name, digest, "HEAD", client.headers)
        except UpstreamMiss:
            raise miss from None
        response.close()
        return RemoteBlob(digest, content_length(response.headers))

    def fetch(self, name: str, digest: Digest) -> BlobHandle | RemoteBlob:
        """The local blob, else its bytes from upstream as they are stored. A blob of at
        most :data:`SMALL_BLOB` bytes is read and verified before this returns, so that a
        bad one is a clean 502 rather than a broken answer.

        :raises BlobUnknown: neither here nor upstream.
        :raises BadGateway: a small blob did not verify (nothing is stored).
        """
        client = client_request()
        if client is None:
            return self.local.stat(name, digest)
        try:
            return self.local.stat(name, digest)
        except BlobUnknown as exc:
            miss = exc
        try:
            if self._adopt(name, digest, client.headers):
                return self.local.stat(name, digest)
            response = self._open(name, digest, "GET", client.headers)
        except UpstreamMiss:
            raise miss from None
        length = content_length(response.headers)
        body = self.local.ingest(
            name,
            digest,
            self.upstream.layer_chunks(response),
            length,
            close=response.close,
            label=f"blob {digest} of {name} from {self.config.source}",
        )
        if length is None or length > SMALL_BLOB:
            return RemoteBlob(digest, length, body)
        try:
            data = b"".join(body)
        except StreamRejected as exc:
            raise BadGateway(f"Mirror upstream sent content that does not verify: {exc}") from None
        finally:
            body.close()
        return RemoteBlob(digest, length, [data])

    def _open(
        self, name: str, digest: Digest, method: str, headers: Mapping[str, str]
    ) -> requests.Response:
        return self.upstream.open(
            self.config.source, f"/v2/{name}/blobs/{digest}", headers, method=method
        )

    def _adopt(self, name: str, digest: Digest, headers: Mapping[str, str]) -> bool:
        """Link a blob stored already (fetched for another repository) into ``name`` once
        upstream confirms ``name`` has it; ``False`` when its data is not here.

        :raises UpstreamMiss: upstream does not have it in ``name``.
        """
        if not self.local.exists(digest):
            return False
        self._open(name, digest, "HEAD", headers).close()
        self.local.link(name, digest)
        return True


def _tag_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """The client's headers with every manifest type added to a restrictive ``Accept``, so
    that upstream answers what the tag names (an index, not one platform's manifest);
    the resource then negotiates for the client."""
    accept = next((value for key, value in headers.items() if key.lower() == "accept"), None)
    if accepted(accept) is None:
        return headers
    wanted = ", ".join([accept or "", *sorted(MANIFEST_TYPES)])
    return {**{k: v for k, v in headers.items() if k.lower() != "accept"}, "Accept": wanted}
