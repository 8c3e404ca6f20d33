"""Manifest and blob resources of proxy mode: the local answer first, upstream on a miss.

Everything else (pushes, deletes, uploads, tag lists, catalog, referrers) is the plain
resource: proxy mode only adds reads. See :mod:`..proxy` for what is fetched and kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import falcon

from ...mirroring import LAYER_CHUNK, StreamRejected, UpstreamMiss
from ...registry import Registry
from ..blobs import BlobStore
from ..digests import Digest, check_tag, is_digest, parse_digest
from ..errors import BadGateway, BlobUnknown, GatewayTimeout, ManifestUnknown
from ..manifests import ManifestStore
from ..negotiation import negotiate
from ..proxy import Proxy
from ..referrers import ReferrerStore
from .blobs import BlobResource
from .manifests import ManifestResource

log = logging.getLogger(__name__)

#: Blobs up to this size (configs, small layers) are verified before the answer starts.
SMALL_BLOB = LAYER_CHUNK


class ProxiedManifestResource(ManifestResource):
    """Manifests by digest: local, else upstream. By tag: local while younger than
    ``tags_cache_ttl``, else upstream (re-stored), else the local copy when upstream
    fails or no longer has the tag."""

    def __init__(
        self,
        registry: Registry,
        manifests: ManifestStore,
        referrers: ReferrerStore,
        proxy: Proxy,
    ) -> None:
        super().__init__(registry, manifests, referrers)
        self.proxy = proxy

    def _negotiated(self, req: falcon.Request, name: str, arg: str) -> tuple[bytes, str, Digest]:
        if is_digest(arg):
            parse_digest(arg)
            try:
                return super()._negotiated(req, name, arg)
            except ManifestUnknown as exc:
                error = exc
            try:
                return self.proxy.fetch_manifest(name, arg, req.headers)
            except UpstreamMiss:
                raise error from None
        check_tag(arg)
        local: tuple[bytes, str, Digest] | None = None
        try:
            local = super()._negotiated(req, name, arg)
        except ManifestUnknown as exc:
            error = exc
        if local is not None and self.proxy.tag_fresh(name, arg):
            return local
        try:
            fetched = self.proxy.fetch_manifest(name, arg, req.headers)
        except UpstreamMiss:
            if local is None:
                raise error from None
            return local
        except (BadGateway, GatewayTimeout) as exc:
            if local is None:
                raise
            log.warning("proxy: %s; answering the local copy of %s:%s", exc.description, name, arg)
            return local
        return negotiate(req.get_header("Accept"), *fetched, lambda ref: self._any(req, name, ref))

    def _any(self, req: falcon.Request, name: str, digest: str) -> tuple[bytes, str, Digest]:
        """A manifest by digest: local, else upstream (an index's platform entry)."""
        try:
            return self.manifests.get(name, digest)
        except ManifestUnknown:
            pass
        try:
            return self.proxy.fetch_manifest(name, digest, req.headers)
        except UpstreamMiss:
            raise ManifestUnknown(f"manifest {digest} is unknown to {name}") from None


class ProxiedBlobResource(BlobResource):
    """Blobs: local, else streamed from upstream while stored (``GET``; up to
    :data:`SMALL_BLOB` bytes verified before answering) or sized upstream (``HEAD``).
    A ``Range`` on a miss is answered ``200`` with the whole blob (RFC 9110 allows it):
    the cache needs every byte."""

    def __init__(self, registry: Registry, blobs: BlobStore, proxy: Proxy) -> None:
        super().__init__(registry, blobs)
        self.proxy = proxy

    def _serve_local(
        self,
        serve: Callable[..., None],
        req: falcon.Request,
        resp: falcon.Response,
        name: str,
        arg: str,
    ) -> BlobUnknown | None:
        """Answer with ``serve`` from local storage, adopting the blob first when the
        upstream has it in another local repository; return the local miss otherwise.

        :raises BlobUnknown: neither local nor upstream has it.
        """
        try:
            serve(req, resp, name, arg)
            return None
        except BlobUnknown as exc:
            error = exc
        try:
            if self.proxy.adopt(name, parse_digest(arg), req.headers):
                serve(req, resp, name, arg)
                return None
        except UpstreamMiss:
            raise error from None
        return error

    def on_head(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        error = self._serve_local(super().on_head, req, resp, name, arg)
        if error is None:
            return
        try:
            length = self.proxy.blob_length(name, parse_digest(arg), req.headers)
        except UpstreamMiss:
            raise error from None
        if length is not None:
            resp.content_length = length
        resp.content_type = "application/octet-stream"
        resp.set_header("Docker-Content-Digest", arg)

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        error = self._serve_local(super().on_get, req, resp, name, arg)
        if error is None:
            return
        try:
            tee = self.proxy.open_blob(name, parse_digest(arg), req.headers)
        except UpstreamMiss:
            raise error from None
        resp.status = falcon.HTTP_200
        if tee.length is not None and tee.length <= SMALL_BLOB:
            # NOTE: checked before answering, so that a bad one is a clean 502.
            try:
                resp.data = b"".join(tee)
            except StreamRejected as exc:
                raise BadGateway(
                    f"Mirror upstream sent content that does not verify: {exc}"
                ) from None
            finally:
                tee.close()
        else:
            resp.stream = tee
        if tee.length is not None:
            resp.content_length = tee.length
        resp.content_type = "application/octet-stream"
        resp.set_header("Docker-Content-Digest", arg)
        resp.set_header("Accept-Ranges", "bytes")
