"""A web UI for people: repositories, tags, manifests, layers, referrers, v1 images.

Mounted through ``registry_routes`` under ``ui.prefix`` (default ``/ui``) whenever the
distribution is installed, unless ``ui.enabled: false`` (:mod:`.options`). The pages
(:mod:`.pages`) are server-rendered Jinja2 templates shipped in the wheel with one style
sheet and one small script (copy buttons; every page works without it). They read
through the core's v1 and v2 services (:mod:`.content`, :mod:`.legacy`) and decide
access with the registry's own authorize step (:mod:`.viewer`); the delete forms are
protected against cross-site requests (:mod:`.csrf`).
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

import falcon

from docker_registry.core.hookspecs import hookimpl
from docker_registry.core.registry import Registry

from .keys import registry_options as registry_options  # the hook, re-exported
from .options import UiOptions

if TYPE_CHECKING:
    from .pages import UiSink

__all__ = ["UiOptions", "UiSink", "registry_routes"]


@hookimpl
def registry_routes(app: falcon.App, registry: Registry) -> None:
    """Mount the pages under ``ui.prefix`` unless ``ui.enabled`` is false."""
    options = UiOptions.from_settings(registry.settings)
    if not options.enabled:
        return
    sink = PagesOnFirstVisit(registry, options)
    registry.services["ui"] = sink
    # NOTE: every page decides access itself, with the API route it shows (.viewer);
    # the delete forms are POSTs, which the route table would refuse as unknown writes.
    registry.access.open_prefix(options.prefix + "/")
    app.add_sink(sink, prefix=re.compile(rf"{re.escape(options.prefix)}(?:/|$)"))


class PagesOnFirstVisit:
    """The UI's sink: its :class:`~.pages.UiSink` is built on the first request under the
    prefix.

    PERF: the pages bring Jinja2 and the templates (about 3 MiB); a worker that never
    renders one (most of them, behind a load balancer) never holds them.
    """

    def __init__(self, registry: Registry, options: UiOptions) -> None:
        self._registry = registry
        self._options = options
        self._pages: UiSink | None = None
        self._lock = threading.Lock()

    @property
    def pages(self) -> UiSink:
        pages = self._pages
        if pages is None:
            with self._lock:
                if self._pages is None:
                    from .pages import UiSink

                    self._pages = UiSink(self._registry, self._options)
                pages = self._pages
        return pages

    def __call__(self, req: falcon.Request, resp: falcon.Response, **params: Any) -> None:
        self.pages(req, resp, **params)


def __getattr__(name: str) -> Any:
    # NOTE: UiSink stays importable from the package without loading it at start.
    if name == "UiSink":
        from .pages import UiSink

        return UiSink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
