"""Every hook a plugin can implement, documented by its docstring.

A plugin is a module (or object) of plain functions marked with ``@hookimpl``, listed
under the ``docker_registry.plugins`` entry-point group::

    # my_plugin.py
    from docker_registry.core import hookimpl

    @hookimpl
    def registry_event(event):
        print(event.kind, event.repository)

    # pyproject.toml
    [project.entry-points."docker_registry.plugins"]
    my-plugin = "my_plugin"

The core's own defaults (:mod:`docker_registry.core.defaults`) are registered the same
way. Hook names all start with ``registry_``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import pluggy

if TYPE_CHECKING:
    import argparse

    import falcon

    from .config.options import Option
    from .registry import Registry

PROJECT_NAME = "docker_registry"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@dataclass(frozen=True)
class SearchBackendSpec:
    """A search backend a plugin offers; config ``search_backend: <name>`` picks it.

    :param name: the configuration value selecting it (lower case).
    :param factory: ``factory(registry) -> backend``; the backend answers
        ``search(query, page, per_page)`` (see the v1 search route) and usually also
        implements ``registry_event`` to keep its index current.
    :param description: one line for ``docker-registry plugins``.

    The backend protocol (used by ``GET /v1/search?q=&n=&page=``)::

        search(query: str, page: int, per_page: int | None) -> tuple[int, list[dict]]

    returns the total number of matches and the results of page ``page`` (1-based;
    ``per_page=None`` means all), each ``{"name": "<ns>/<repo>", "description": str|None}``.
    Built in: ``storage`` (scans repository names in storage). A ``search_backend``
    value no plugin offers is imported as a module with an ``Index`` class whose
    ``results(term)`` list is used (the seed's form).
    """

    name: str
    factory: Callable[[Registry], Any]
    description: str = ""


@dataclass(frozen=True)
class AuthBackendSpec:
    """An authentication/authorization backend; config ``auth_backend: <name>`` picks it.

    :param name: the configuration value selecting it.
    :param factory: ``factory(registry) -> backend`` deciding who may read or write.
    :param description: one line for ``docker-registry plugins``.

    The backend protocol (:class:`docker_registry.core.access.authorizer.AuthBackend`; every
    method thread-safe), asked by the one authorize step for every route of both APIs
    (:mod:`docker_registry.core.access`, docs/auth.md)::

        authorize(request: AccessRequest) -> Grant | None       # None -> 401
        parent_access(request, grant, image_id) -> bool          # parents, _private gate
        image_allowed(request, grant, image_id) -> bool          # PUT json (token mode)
        # optional:
        permits(grant, repository, action) -> bool               # listings, mount sources
        refuses_early(request) -> bool                           # before the body, no I/O
        challenge: str                                           # WWW-Authenticate on 401

    ``AccessRequest`` carries ``method``, ``path``, ``headers`` (upper-case names), the
    route's ``action`` (``pull``, ``push``, ``delete``, ``catalog``), canonical ``name``
    and v1 ``namespace``/``repository`` (``None`` on image routes); ``Grant`` names the
    credentials' ``repository`` or ``account``. ``authorize`` may raise
    :class:`docker_registry.core.access.model.Refused` for 403 or 429. The privileged RSA
    signature (``privileged_key``) is checked before any backend. Built in: ``open``
    (default when ``standalone`` or ``disable_token_auth``), ``token`` (Docker index
    tokens validated at ``index_endpoint``), ``htpasswd`` (HTTP Basic, access list) and
    ``bearer`` (Docker registry tokens: JWTs, ``Bearer`` challenges). Optional backend
    members also read: ``challenge_for(request) -> str`` (a per-request challenge) and
    ``started(registry)`` (called once every route is mounted; raise ``ConfigError``).
    """

    name: str
    factory: Callable[[Registry], Any]
    description: str = ""


@dataclass(frozen=True)
class CacheBackendSpec:
    """A cache of small storage files; config ``cache_backend: <name>`` picks it.

    :param name: the configuration value selecting it.
    :param factory: ``factory(registry) -> cache``.
    :param description: one line for ``docker-registry plugins``.
    """

    name: str
    factory: Callable[[Registry], Any]
    description: str = ""


#: What happened (see :class:`Event`).
EventKind = Literal["push", "pull", "mount", "tag", "tag_delete", "delete", "repository_delete"]

#: What an emitter knows beyond the repository, tag and reference (every key optional).
#: ``kind: "blob"`` marks a v2 blob event (a manifest's otherwise); ``from`` is the source
#: repository of a mount; ``tags`` every tag a manifest push set; ``description``,
#: ``images`` and ``index`` (the image list was created or updated) come from a v1
#: repository push.
EventDetails = TypedDict(
    "EventDetails",
    {
        "kind": Literal["blob"],
        "size": int,
        "mediaType": str,
        "tags": Sequence[str],
        "from": str,
        "description": str | None,
        "images": Sequence[Any],
        "index": Literal["created", "updated"],
    },
    total=False,
)


@dataclass(frozen=True)
class Event:
    """Something happened to a repository; delivered to :func:`registry_event`.

    :param kind: ``push``, ``pull``, ``mount`` (v2: a blob mounted from another
        repository, ``details["from"]``), ``tag``, ``tag_delete``, ``delete`` or
        ``repository_delete``.
    :param repository: the full repository name (``library/ubuntu``).
    :param api: ``v1`` or ``v2``.
    :param tag: the tag concerned, if any.
    :param reference: the image id (v1) or digest (v2) concerned, if any.
    :param details: anything else the emitter knows: v2 ``kind: blob`` for blob events,
        ``size``, ``mediaType`` and, for a manifest push, every tag it set (``tags``);
        v1 ``description``, ``images``.
    """

    kind: EventKind
    repository: str
    api: Literal["v1", "v2"]
    tag: str | None = None
    reference: str | None = None
    details: EventDetails = field(default_factory=lambda: EventDetails())


@hookspec
def registry_options() -> Iterable[Option]:  # type: ignore[empty-body]
    """Declare the configuration keys your plugin reads (as pytest's ``pytest_addoption``).

    Each key is an :class:`~docker_registry.core.config.options.Option`: its type or
    parser, default, range, whether it is required or secret, one line of help. Keys of
    a section are dotted (``my_plugin.url``). The declarations are all the core needs:
    ``docker-registry config check`` validates every declared key (one line per
    problem, exit 2) and warns about keys nobody declares; ``config show`` masks the
    secret ones; ``docker-registry config docs`` writes their table into
    ``docs/configuration.md``. Read a value with ``OPTION.read(registry.settings)``:
    typed, defaulted, and a bad value raises a ``ConfigError`` naming the key. The core
    declares its own keys the same way (plugins ``core``, ``v1``, ``v2``,
    ``mirroring``); storage drivers declare theirs in their class's ``options``.

    :returns: an iterable of :class:`~docker_registry.core.config.options.Option`. A key
        declared by two plugins fails ``config check``.

    Example::

        from docker_registry.core.config.options import Option

        URL = Option("my_plugin.url", str, required=True, help="where to send events")
        TIMEOUT = Option("my_plugin.timeout", float, 5.0, min=0.1, help="seconds per call")

        @hookimpl
        def registry_options():
            return [URL, TIMEOUT]

        @hookimpl
        def registry_startup(app, registry):
            client = Client(URL.read(registry.settings), TIMEOUT.read(registry.settings))
    """


@hookspec
def registry_search_backends() -> Iterable[SearchBackendSpec]:  # type: ignore[empty-body]
    """Offer search backends.

    :returns: an iterable of :class:`SearchBackendSpec`. Names must be unique across
        all plugins; a duplicate fails start-up.

    Example::

        @hookimpl
        def registry_search_backends():
            yield SearchBackendSpec("sqlalchemy", SqlIndex.from_registry, "SQL search index")
    """


@hookspec
def registry_auth_backends() -> Iterable[AuthBackendSpec]:  # type: ignore[empty-body]
    """Offer authentication backends.

    :returns: an iterable of :class:`AuthBackendSpec` with unique names.

    Example::

        @hookimpl
        def registry_auth_backends():
            yield AuthBackendSpec("htpasswd", HtpasswdAuth.from_registry, "HTTP Basic")
    """


@hookspec
def registry_cache_backends() -> Iterable[CacheBackendSpec]:  # type: ignore[empty-body]
    """Offer caches of small storage files.

    :returns: an iterable of :class:`CacheBackendSpec` with unique names.

    Example::

        @hookimpl
        def registry_cache_backends():
            yield CacheBackendSpec("redis", RedisCache.from_registry, "Redis LRU cache")
    """


@dataclass(frozen=True)
class CoordinationBackendSpec:
    """How processes sharing one storage coordinate; ``coordination.backend: <name>``.

    :param name: the configuration value selecting it.
    :param factory: ``factory(registry) -> coordinator`` with the methods of
        :class:`~docker_registry.core.coordination.Coordinator`.
    :param description: one line for ``docker-registry plugins``.
    """

    name: str
    factory: Callable[[Registry], Any]
    description: str = ""


@hookspec
def registry_coordination_backends() -> Iterable[CoordinationBackendSpec]:  # type: ignore[empty-body]
    """Offer ways for processes sharing one storage to coordinate (locks, turns at
    periodic jobs, cache invalidation); the core offers ``local`` (one host).

    :returns: an iterable of :class:`CoordinationBackendSpec` with unique names.

    Example::

        @hookimpl
        def registry_coordination_backends():
            yield CoordinationBackendSpec("redis", RedisCoordinator.from_registry, "Redis")
    """


@hookspec
def registry_event(event: Event, registry: Registry) -> None:
    """React to a push, pull, tag or delete, after it has been committed to storage.

    Called synchronously on the request's thread: keep it quick, and do not raise for
    failures the client cannot fix (log them instead); an exception fails the request.

    :param event: what happened.
    :param registry: the running registry (settings, storage, plugins).

    Example::

        @hookimpl
        def registry_event(event, registry):
            if event.kind == "tag":
                log.info("%s:%s now points at %s", event.repository, event.tag, event.reference)
    """


@hookspec
def registry_routes(app: falcon.App, registry: Registry) -> None:
    """Add endpoints to the application (metrics, a UI, extra APIs).

    :param app: the Falcon application; call ``app.add_route`` or ``app.add_sink``.
    :param registry: the running registry, to hand to your resources.

    Example::

        @hookimpl
        def registry_routes(app, registry):
            app.add_route("/metrics", MetricsResource(registry))
    """


@hookspec
def registry_startup(app: falcon.App, registry: Registry) -> None:
    """Run once when the application has been built, before it serves requests.

    Use it to check connections or warm caches; raising aborts start-up with your
    message.

    :param app: the Falcon application.
    :param registry: the running registry.

    Example::

        @hookimpl
        def registry_startup(app, registry):
            registry.settings.get("my_plugin.url") or log.warning("my_plugin.url not set")
    """


@hookspec
def registry_commands(commands: argparse._SubParsersAction) -> None:
    """Add sub-commands to the ``docker-registry`` command line.

    Called once when the command line is parsed, with the ``add_subparsers()`` object of
    the ``docker-registry`` parser. Add your command with ``commands.add_parser(...)``
    and set its handler with ``set_defaults(run=handler)``: ``handler(args) -> int`` is
    called with the parsed arguments and returns the exit status. A
    :class:`~docker_registry.core.config.ConfigError` raised by the handler ends the
    command with status 2 and one line on stderr, like the core's own commands.
    :func:`docker_registry.core.cli.add_config_options` adds the usual ``--config`` and
    ``--flavor`` options.

    :param commands: the sub-parsers action of the ``docker-registry`` parser.

    Example::

        @hookimpl
        def registry_commands(commands):
            index = commands.add_parser("index", help="manage the search index")
            add_config_options(index)
            index.set_defaults(run=lambda args: rebuild(load_settings(args.config)))
    """


@hookspec(firstresult=True)
def registry_diff_queue(registry: Registry) -> Any:
    """Offer the queue of v1 images whose diff is to be computed (spec R7, R10).

    Called once at start-up; the first plugin returning something other than ``None``
    wins. The queue has one method, ``enqueue(image_id: str) -> None``, called when a
    checksum PUT completes an image and when ``GET /v1/images/<id>/diff`` finds no
    ``_diff``. It must not raise for an unreachable queue (log instead): the request
    succeeds anyway. A worker of the plugin's own consumes the queue and stores
    ``images/<id>/_diff`` (:func:`docker_registry.core.v1.diffs.store_diff`). The core
    depends on no queue: without one nothing is queued. ``registry-plugin-redis`` offers
    the seed's Redis list ``diff-worker`` when the ``cache`` section is set.

    :param registry: the running registry (``registry.settings.get("cache.host")``...).

    Example::

        @hookimpl
        def registry_diff_queue(registry):
            return LogQueue() if registry.settings.get("my_queue.enabled") else None
    """


@hookspec(firstresult=True)
def registry_shared_descriptors(registry: Registry) -> Any:
    """Offer a blob-descriptor cache that every process on this storage shares.

    Called once per process that serves v2 or collects garbage; the first plugin
    returning something other than ``None`` wins. The core asks it for the ``stat`` of
    blob data and repository links that this process's own memory does not hold, before
    asking the store, and tells it of every removal. It has the methods of
    :class:`docker_registry.core.storage.descriptors.SharedDescriptors`::

        lookup(path) -> (generation: str, FileInfo | None)   # both read atomically
        remember(path, info, generation) -> None   # keep under that generation only
        discard(path) -> None                      # drop the current generation's entry
        invalidate() -> None                       # a new generation, never used before
        close() -> None

    The contract that makes removals final: :meth:`invalidate` returns only once no
    later ``lookup`` can answer an entry remembered before it, and ``remember`` never
    makes an entry visible under a generation other than the one it is given (the core
    passes the generation it read *before* asking the store). Methods may raise: the
    core logs once, skips the tier for a few seconds and asks the store; a failed
    ``invalidate`` is retried before this process asks the tier again. Entries should
    expire (a removal whose ``invalidate`` never reached the tier is then bounded).
    ``registry-plugin-redis`` offers one with ``coordination: {backend: redis}``.

    :param registry: the running registry (settings, storage, coordinator).

    Example::

        @hookimpl
        def registry_shared_descriptors(registry):
            if registry.settings.get("my_cache.url"):
                return MySharedDescriptors(registry.settings.get("my_cache.url"))
            return None
    """
