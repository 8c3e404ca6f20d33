"""Proxy mode: a pull-through cache of an upstream v2 registry (issue #6, the Go
registry's ``proxy: remoteurl``).

On when ``mirroring.source`` is set (the v1 mirror's section, parsed by
:class:`~docker_registry.core.mirroring.MirrorConfig`). The resources of
:mod:`.resources.proxy` ask this service on a local miss:

==========================================  ==================================================
route                                       on a local miss
==========================================  ==================================================
``GET/HEAD /v2/<name>/manifests/<digest>``  GET upstream; sha256 of the bytes must be the
                                            digest; stored (blob + revision link)
``GET/HEAD /v2/<name>/manifests/<tag>``     GET upstream (also when the local tag is older than
                                            ``tags_cache_ttl``); the bytes must match
                                            upstream's ``Docker-Content-Digest``; stored with
                                            the tag; the local copy answers when upstream fails
``GET /v2/<name>/blobs/<digest>``           streamed to the client and into a storage writer
                                            while hashed (:class:`StreamTee`); committed and
                                            linked only when complete and the digest matches
``HEAD /v2/<name>/blobs/<digest>``          HEAD upstream; nothing stored
==========================================  ==================================================

The client's ``Accept`` and ``Authorization`` go upstream (:func:`forward_headers`).
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

from ..mirroring import MirrorConfig, StreamTee, Upstream, UpstreamMiss, content_length
from .blobs import BlobStore
from .digests import Digest, digest_of, is_digest
from .errors import BadGateway, DigestInvalid, GatewayTimeout, ManifestInvalid
from .manifests import ManifestStore, media_type_of
from .mediatypes import MANIFEST_TYPES
from .negotiation import accepted

if TYPE_CHECKING:
    import requests
from .referrers import ReferrerStore
from .uploads import UploadStore

log = logging.getLogger(__name__)

_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
#: Seconds a token is reused when the token endpoint gives no ``expires_in``.
DEFAULT_TOKEN_LIFETIME = 60.0


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


class _DigestHasher:
    """Hashes a blob with its digest's algorithm; ``checksum()`` is ``alg:hex``."""

    def __init__(self, digest: Digest) -> None:
        self._algorithm = digest.algorithm
        self._hash = digest.hasher()

    def update(self, chunk: bytes, /) -> None:
        self._hash.update(chunk)

    def checksum(self) -> str:
        return f"{self._algorithm}:{self._hash.hexdigest()}"


class Proxy:
    """What to fetch from the upstream v2 registry on a local miss, and what to keep.

    :param config: the ``mirroring`` section.
    :param blobs: links fetched blobs into the repository.
    :param uploads: gives the writer of a fetched blob.
    :param manifests: stores fetched manifests and tags.
    :param referrers: records fetched manifests that have a ``subject``.
    :param upstream: the HTTP client (tests may pass another).
    :param clock: wall-clock seconds, compared with a tag link's mtime.
    """

    def __init__(
        self,
        config: MirrorConfig,
        blobs: BlobStore,
        uploads: UploadStore,
        manifests: ManifestStore,
        referrers: ReferrerStore,
        upstream: Upstream | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.blobs = blobs
        self.uploads = uploads
        self.manifests = manifests
        self.referrers = referrers
        self.upstream = upstream or V2Upstream(config)
        self.clock = clock

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        blobs: BlobStore,
        uploads: UploadStore,
        manifests: ManifestStore,
        referrers: ReferrerStore,
    ) -> Proxy | None:
        """The proxy when ``mirroring.source`` is set, else ``None``."""
        config = MirrorConfig.from_settings(settings)
        return None if config is None else cls(config, blobs, uploads, manifests, referrers)

    def tag_fresh(self, name: str, tag: str) -> bool:
        """True when the local tag was written less than ``tags_cache_ttl`` ago."""
        written = self.manifests.tag_written_at(name, tag)
        if written is None:
            return False
        age = self.clock() - written
        return 0 <= age < self.config.tags_cache_ttl

    # -- manifests --------------------------------------------------------------------

    def fetch_manifest(
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
            manifest = self.manifests.put(
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

    # -- blobs ------------------------------------------------------------------------

    def blob_length(self, name: str, digest: Digest, headers: Mapping[str, str]) -> int | None:
        """Upstream's size of a blob (``HEAD``); nothing is stored.

        :raises UpstreamMiss: upstream does not have it.
        """
        response = self.upstream.open(
            self.config.source, f"/v2/{name}/blobs/{digest}", headers, method="HEAD"
        )
        response.close()
        return content_length(response.headers)

    def adopt(self, name: str, digest: Digest, headers: Mapping[str, str]) -> bool:
        """Link a blob already stored (fetched for another repository) into ``name`` once
        upstream confirms ``name`` has it; ``False`` when its data is not here.

        :raises UpstreamMiss: upstream does not have it in ``name``.
        """
        if not self.blobs.exists(digest):
            return False
        self.blob_length(name, digest, headers)
        self.blobs.link(name, digest)
        return True

    def open_blob(self, name: str, digest: Digest, headers: Mapping[str, str]) -> StreamTee:
        """Start streaming a blob from upstream to the client and into storage.

        :raises UpstreamMiss: upstream does not have it.
        """
        source = self.config.source
        response = self.upstream.open(source, f"/v2/{name}/blobs/{digest}", headers)
        try:
            writer = self.uploads.blob_writer(digest)
        except BaseException:
            response.close()
            raise
        return StreamTee(
            self.upstream.layer_chunks(response),
            writer,
            _DigestHasher(digest),
            [str(digest)],
            content_length(response.headers),
            lambda _checksum: self.blobs.link(name, digest),
            lambda: None,
            response.close,
            f"blob {digest} of {name} from {source}",
        )


def _tag_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """The client's headers with every manifest type added to a restrictive ``Accept``, so
    that upstream answers what the tag names (an index, not one platform's manifest);
    the resource then negotiates for the client."""
    accept = next((value for key, value in headers.items() if key.lower() == "accept"), None)
    if accepted(accept) is None:
        return headers
    wanted = ", ".join([accept or "", *sorted(MANIFEST_TYPES)])
    return {**{k: v for k, v in headers.items() if k.lower() != "accept"}, "Accept": wanted}

