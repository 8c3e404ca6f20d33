"""The UI's pages: one Falcon sink under the prefix, server-rendered Jinja2 templates.

::

    <prefix>/                                       repositories (search, pages)
    <prefix>/login                                  HTTP Basic sign-in (htpasswd)
    <prefix>/static/ui.css, ui.js                   the style sheet; the copy buttons
    <prefix>/v2/<name>                              tags of a v2 repository
    <prefix>/v2/<name>/manifests/<tag or digest>    a manifest, its config, layers, referrers
    <prefix>/v2/<name>/manifests/<digest>/delete    POST: delete the manifest and its tags
    <prefix>/v2/<name>/tags/<tag>/delete            POST: delete the tag
    <prefix>/v1/<namespace>/<repository>            tags of a v1 repository
    <prefix>/v1/<ns>/<repo>/images/<id>             a v1 image: json, ancestry, tags
    <prefix>/v1/<ns>/<repo>/tags/<tag>/delete       POST: delete the v1 tag
    <prefix>/v1/<ns>/<repo>/delete                  POST: delete the v1 repository

Every page decides access with :class:`.viewer.Viewer`; pages never answer 5xx for
what a visitor sends (unknown names, bad digests, broken stored content are 4xx pages
or a note on the page).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata, resources
from typing import Any
from urllib.parse import quote

import falcon
import jinja2

from docker_registry.core.access.listing import PullableSearch
from docker_registry.core.access.model import Decision, Refused
from docker_registry.core.hookspecs import Event
from docker_registry.core.inputs import parse_number
from docker_registry.core.registry import Registry
from docker_registry.core.storage import PathNotFoundError
from docker_registry.core.v1 import layout as v1_layout
from docker_registry.core.v1.errors import V1Error
from docker_registry.core.v2.digests import is_digest, is_valid_name, parse_digest
from docker_registry.core.v2.errors import V2Error
from docker_registry.core.v2.manifests import ManifestStore
from docker_registry.core.v2.referrers import ReferrerStore

from . import csrf
from .content import Content
from .legacy import Legacy
from .options import UiOptions
from .viewer import Viewer

#: Longest search query read (longer ones are cut).
MAX_QUERY = 200
#: Headers of every page: no inline script or style, no framing, no sniffing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
STATIC = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, str]


def _route(pattern: str, **methods: str) -> Route:
    return Route(re.compile(pattern, re.DOTALL), methods)


#: The first pattern matching the path (after the prefix) decides; then the method.
ROUTES = [
    _route(r"/", GET="index"),
    _route(r"/login", GET="login"),
    _route(r"/static/(?P<file>[a-z]+\.[a-z]+)", GET="static"),
    _route(r"/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)/delete", POST="v2_delete_manifest"),
    _route(r"/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)", GET="v2_manifest"),
    _route(r"/v2/(?P<name>.+)/tags/(?P<tag>[^/]+)/delete", POST="v2_delete_tag"),
    _route(r"/v2/(?P<name>.+)", GET="v2_repository"),
    _route(r"/v1/(?P<name>.+)/images/(?P<image>[^/]+)", GET="v1_image"),
    _route(r"/v1/(?P<name>.+)/tags/(?P<tag>[^/]+)/delete", POST="v1_delete_tag"),
    _route(r"/v1/(?P<name>.+)/delete", POST="v1_delete_repository"),
    _route(r"/v1/(?P<name>.+)", GET="v1_repository"),
]


class NotHere(Exception):
    """A page with nothing to show: 404 (or ``status``) with a message for people."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Pager:
    """One page of a long list."""

    number: int
    count: int
    total: int

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.count else None


def _page_number(req: falcon.Request) -> int:
    """The ``page`` parameter; anything but a positive whole number is page 1."""
    number = parse_number(req.get_param("page"))
    return number if number is not None and 0 < number < 10**9 else 1


def _slice(items: list[Any], number: int, size: int) -> tuple[list[Any], Pager]:
    count = max(1, -(-len(items) // size))
    number = min(number, count)
    start = (number - 1) * size
    return items[start : start + size], Pager(number, count, len(items))


def human_size(value: int | None) -> str:
    if value is None:
        return "unknown"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{value} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover - the loop always returns


def when(value: float | None) -> str:
    if value is None:
        return "unknown"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(value))


def short_digest(value: str | None) -> str:
    if not value:
        return ""
    algorithm, _, encoded = value.partition(":")
    return f"{algorithm}:{encoded[:12]}" if encoded else value[:19]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("docker_registry.plugins.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        size=human_size,
        when=when,
        short=short_digest,
        part=lambda value: quote(str(value), safe=""),
        name=lambda value: quote(str(value), safe="/"),
    )
    return env


class UiSink:
    """Every page under the prefix (see the module docstring).

    :param registry: the running registry (services, settings, the authorize step).
    :param options: the ``ui`` section.
    """

    def __init__(self, registry: Registry, options: UiOptions) -> None:
        self.registry = registry
        self.options = options
        self.prefix = options.prefix
        self.templates = _environment()
        self.files = {
            name: (resources.files(__package__) / "static" / name).read_bytes() for name in STATIC
        }
        try:
            self.version = metadata.version("registry-plugin-ui")
        except metadata.PackageNotFoundError:
            self.version = ""
        self._content: Content | None = None
        self._legacy: Legacy | None = None

    # -- services (built on first use: the API plugins register them in any order) --------

    @property
    def content(self) -> Content:
        if self._content is None:
            v2 = self.registry.services["v2"]
            manifests = ManifestStore(self.registry.storage, v2.blobs, None, tags_ttl=0)
            self._content = Content(
                manifests, v2.blobs, ReferrerStore(self.registry.storage, manifests)
            )
        return self._content

    @property
    def legacy(self) -> Legacy:
        if self._legacy is None:
            v1 = self.registry.services["v1"]
            self._legacy = Legacy(v1.tags, v1.images)
        return self._legacy

    def deletes_on(self) -> bool:
        """Deletes are enabled and the registry is not read-only (now)."""
        switch = self.registry.services.get("readonly")
        return self.registry.settings.delete_enabled and not getattr(switch, "enabled", False)

    # -- dispatch -----------------------------------------------------------------------

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        resp.set_headers(SECURITY_HEADERS)
        path = req.path[len(self.prefix) :]
        if path == "":
            _redirect(resp, self.prefix + "/", falcon.HTTP_301)
            return
        viewer = Viewer(self.registry.access, req)
        method = "GET" if req.method == "HEAD" else req.method
        for route in ROUTES:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            action = route.methods.get(method)
            if action is None:
                resp.set_header("Allow", ", ".join(sorted(route.methods)))
                self._error(req, resp, viewer, 405, "This page does not take that method.")
                return
            handler: Callable[..., None] = getattr(self, action)
            self._run(handler, req, resp, viewer, match.groupdict())
            return
        self._error(req, resp, viewer, 404, "There is no such page.")

    def _run(
        self,
        handler: Callable[..., None],
        req: falcon.Request,
        resp: falcon.Response,
        viewer: Viewer,
        params: dict[str, str],
    ) -> None:
        try:
            handler(req, resp, viewer, **params)
        except Refused as refused:
            self._refused(req, resp, viewer, refused)
        except NotHere as missing:
            self._error(req, resp, viewer, missing.status, missing.message)
        except V2Error as exc:
            status = int(str(exc.status).split(" ", 1)[0])
            self._error(req, resp, viewer, status, exc.description or "Not found.")
        except V1Error as exc:
            self._error(req, resp, viewer, exc.status, exc.message)
        except csrf.Forged as forged:
            self._error(req, resp, viewer, 403, f"The form was refused: {forged}.")
        except falcon.HTTPError as exc:
            # NOTE: a backend's own error (the SQL index down: 503) as a page for people.
            status = int(str(exc.status).split(" ", 1)[0])
            if exc.headers:
                resp.set_headers(exc.headers)
            self._error(req, resp, viewer, status, exc.description or exc.title or "Error.")

    # -- rendering ----------------------------------------------------------------------

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        template: str,
        decision: Decision | None,
        status: int = 200,
        **context: Any,
    ) -> None:
        viewer = Viewer(self.registry.access, req)
        account = decision.grant.account if decision is not None else None
        resp.status = falcon.code_to_http_status(status)
        resp.content_type = "text/html; charset=utf-8"
        resp.set_header("Cache-Control", "no-store")
        resp.text = self.templates.get_template(template).render(
            prefix=self.prefix,
            account=account,
            sign_in=account is None and viewer.basic_challenge() is not None,
            host=req.netloc,
            version=self.version,
            query=context.pop("query", ""),
            plain_http=req.scheme == "http",
            **context,
        )

    def _error(
        self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, status: int, text: str
    ) -> None:
        self.render(req, resp, "error.html", None, status, title=_TITLES.get(status), message=text)

    def _refused(
        self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, refused: Refused
    ) -> None:
        for name, value in refused.headers.items():
            if name.lower() != "www-authenticate":
                resp.set_header(name, value)
        challenge = viewer.basic_challenge()
        if refused.status == 401 and challenge is not None:
            resp.set_header("WWW-Authenticate", challenge)
        if refused.status == 401:
            message = (
                "Sign in to see this page."
                if challenge is not None
                else "This registry signs clients in with tokens, which the web UI cannot "
                "obtain: it shows only what needs no sign-in."
            )
        else:
            message = refused.message
        self._error(req, resp, viewer, refused.status, message)

    def _csrf(self, req: falcon.Request, resp: falcon.Response, offered: bool) -> str:
        return csrf.token(req, resp, self.prefix + "/") if offered else ""

    # -- pages --------------------------------------------------------------------------

    def static(self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, file: str):
        if file not in STATIC:
            raise NotHere("There is no such file.")
        resp.content_type = STATIC[file]
        resp.set_header("Cache-Control", "public, max-age=3600")
        resp.data = self.files[file]

    def login(self, req: falcon.Request, resp: falcon.Response, viewer: Viewer) -> None:
        viewer.sign_in()
        _redirect(resp, self.prefix + "/", falcon.HTTP_303)

    def index(self, req: falcon.Request, resp: falcon.Response, viewer: Viewer) -> None:
        decision = viewer.listing()
        query = (req.get_param("q") or "")[:MAX_QUERY]
        number = _page_number(req)
        size = self.options.page_size
        backend = getattr(self.registry.services.get("v1"), "search", None)
        if backend is not None and not decision.all_access:
            backend = PullableSearch(backend, decision)
        total, results = backend.search(query, number, size) if backend is not None else (0, [])
        count = max(1, -(-total // size))
        if number > count:
            number = count
            total, results = backend.search(query, number, size) if backend else (0, [])
        rows = []
        for item in results:
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                continue
            description = item.get("description")
            rows.append(
                {
                    "name": name,
                    "description": description if isinstance(description, str) else None,
                    "v2": is_valid_name(name) and self.content.exists(name),
                    "v1": self.legacy.exists(name),
                }
            )
        self.render(
            req,
            resp,
            "index.html",
            decision,
            rows=rows,
            query=query,
            pager=Pager(number, count, total),
        )

    # -- v2 -----------------------------------------------------------------------------

    def _v2_name(self, name: str) -> str:
        if not is_valid_name(name):
            raise NotHere("That is not a v2 repository name.")
        return name

    def v2_repository(
        self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, name: str
    ) -> None:
        name = self._v2_name(name)
        decision = viewer.v2_pull(name)
        tags = self.content.tags(name)
        if not tags and not self.content.exists(name):
            raise NotHere(f"There is no v2 repository {name}.")
        shown, pager = _slice(tags, _page_number(req), self.options.page_size)
        rows = [self.content.tag_row(name, tag) for tag in shown]
        deletable = self.deletes_on() and Viewer.may_delete_v2(decision, name)
        example = "latest" if "latest" in tags else (tags[0] if tags else None)
        self.render(
            req,
            resp,
            "v2_repository.html",
            decision,
            name=name,
            rows=rows,
            pager=pager,
            deletable=deletable,
            csrf=self._csrf(req, resp, deletable),
            pulls=_commands(req.netloc, name, f":{example}", "image", req.scheme)
            if example
            else [],
        )

    def v2_manifest(
        self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, name: str, reference: str
    ) -> None:
        name = self._v2_name(name)
        decision = viewer.v2_pull(name, reference)
        if is_digest(reference):
            parse_digest(reference)
        page = self.content.manifest(name, reference)
        deletable = self.deletes_on() and Viewer.may_delete_v2(decision, name)
        self.render(
            req,
            resp,
            "manifest.html",
            decision,
            name=name,
            page=page,
            deletable=deletable,
            csrf=self._csrf(req, resp, deletable),
            pulls=_commands(req.netloc, name, f"@{page.digest}", page.kind, req.scheme),
        )

    def _v2_delete(
        self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, name: str, ref: str
    ) -> None:
        name = self._v2_name(name)
        csrf.check(req, csrf.read_form(req))
        decision = viewer.v2_delete(name, ref)
        if not self.deletes_on():
            raise NotHere("Deletes are disabled on this registry (or it is read-only).", 405)
        manifests = self.registry.services["v2"].manifests
        if is_digest(ref):
            digest = manifests.delete(name, ref)
            self.registry.emit(Event("delete", name, "v2", reference=str(digest)))
            what = f"manifest {ref} and the tags that pointed at it"
        else:
            if ref not in self.content.tags(name):
                raise NotHere(f"There is no tag {ref} in {name}.")
            try:
                digest = manifests.delete(name, ref)
            except PathNotFoundError:
                # NOTE: another delete of the same tag won the race.
                raise NotHere(f"There is no tag {ref} in {name}.") from None
            self.registry.emit(Event("tag_delete", name, "v2", tag=ref, reference=str(digest)))
            what = f"tag {ref}"
        back = f"{self.prefix}/v2/{quote(name, safe='/')}"
        self.render(req, resp, "done.html", decision, name=name, what=what, back=back)

    def v2_delete_manifest(
        self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, name: str, reference: str
    ) -> None:
        parse_digest(reference)
        self._v2_delete(req, resp, viewer, name, reference)

    def v2_delete_tag(
        self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, name: str, tag: str
    ) -> None:
        if is_digest(tag):
            raise NotHere("That is not a tag.", 400)
        self._v2_delete(req, resp, viewer, name, tag)

    # -- v1 -----------------------------------------------------------------------------

    def _v1_name(self, name: str) -> str:
        if self.legacy.split(name) is None:
            raise NotHere("That is not a v1 repository name (<namespace>/<repository>).")
        return name

    def v1_repository(
        self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, name: str
    ) -> None:
        name = self._v1_name(name)
        decision = viewer.v1_pull(name)
        tags = self.legacy.tags(name)
        shown, pager = _slice(tags, _page_number(req), self.options.page_size)
        deletable = self.deletes_on() and Viewer.may_delete_v1(decision, name)
        example = next((t.tag for t in tags if t.tag == "latest"), tags[0].tag if tags else None)
        self.render(
            req,
            resp,
            "v1_repository.html",
            decision,
            name=name,
            rows=self.legacy.describe(shown),
            pager=pager,
            deletable=deletable,
            csrf=self._csrf(req, resp, deletable),
            pulls=_commands(req.netloc, name, f":{example}", "image", req.scheme)[:1]
            if example and is_valid_name(name)
            else [],
        )

    def v1_image(
        self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, name: str, image: str
    ) -> None:
        name = self._v1_name(name)
        decision = viewer.v1_pull(name)
        found = self.legacy.image(name, image)
        self.render(req, resp, "v1_image.html", decision, name=name, image=found)

    def v1_delete_tag(
        self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, name: str, tag: str
    ) -> None:
        name = self._v1_name(name)
        csrf.check(req, csrf.read_form(req))
        decision = viewer.v1_delete_tag(name, tag)
        if not self.deletes_on():
            raise NotHere("Deletes are disabled on this registry (or it is read-only).", 405)
        namespace, quoted = v1_layout.parse_repository_name(name)
        image_id = self.legacy.tag_store.delete_tag(namespace, quoted, tag)
        self.registry.emit(Event("tag_delete", name, "v1", tag=tag, reference=image_id))
        back = f"{self.prefix}/v1/{quote(name, safe='/')}"
        self.render(req, resp, "done.html", decision, name=name, what=f"tag {tag}", back=back)

    def v1_delete_repository(
        self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, name: str
    ) -> None:
        name = self._v1_name(name)
        csrf.check(req, csrf.read_form(req))
        decision = viewer.v1_delete_repository(name)
        if not self.deletes_on():
            raise NotHere("Deletes are disabled on this registry (or it is read-only).", 405)
        namespace, quoted = v1_layout.parse_repository_name(name)
        for tag, image_id in self.legacy.tag_store.delete_repository(namespace, quoted):
            self.registry.emit(Event("tag_delete", name, "v1", tag=tag, reference=image_id))
        self.registry.emit(Event("repository_delete", name, "v1"))
        back = f"{self.prefix}/"
        self.render(
            req, resp, "done.html", decision, name=name, what=f"repository {name}", back=back
        )


def _redirect(resp: falcon.Response, location: str, status: str) -> None:
    resp.status = status
    resp.location = location
    resp.set_header("Cache-Control", "no-store")
    resp.content_type = "text/plain; charset=utf-8"
    resp.text = f"See {location}\n"


_TITLES = {
    400: "Bad request",
    401: "Sign in required",
    403: "Not allowed",
    404: "Not found",
    405: "Not possible here",
    429: "Too many attempts",
}


def _commands(host: str, name: str, reference: str, kind: str, scheme: str) -> list[tuple]:
    """``(tool, command)`` pairs that pull ``name`` + ``reference`` (``:tag``/``@digest``)."""
    plain = scheme == "http"
    target = f"{host}/{name}{reference}"
    local = name.rsplit("/", 1)[-1]
    podman = "podman pull " + ("--tls-verify=false " if plain else "") + target
    skopeo = (
        "skopeo copy "
        + ("--src-tls-verify=false " if plain else "")
        + f"docker://{target} oci:{local}"
    )
    oras_flag = "--plain-http " if plain else ""
    if kind == "artifact":
        return [
            ("oras", f"oras pull {oras_flag}{target}"),
            ("oras", f"oras manifest fetch {oras_flag}{target}"),
            ("skopeo", "skopeo inspect --raw " + ("--tls-verify=false " if plain else "")
             + f"docker://{target}"),
        ]  # fmt: skip
    return [
        ("podman", podman),
        ("skopeo", skopeo),
        ("oras", f"oras manifest fetch {oras_flag}{target}"),
    ]
