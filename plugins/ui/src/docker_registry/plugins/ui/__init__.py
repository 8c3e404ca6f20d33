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

import falcon

from docker_registry.core.hookspecs import hookimpl
from docker_registry.core.registry import Registry

from .keys import registry_options as registry_options  # the hook, re-exported
from .options import UiOptions
from .pages import UiSink

__all__ = ["UiOptions", "UiSink", "registry_routes"]


@hookimpl
def registry_routes(app: falcon.App, registry: Registry) -> None:
    """Mount the pages under ``ui.prefix`` unless ``ui.enabled`` is false."""
    options = UiOptions.from_settings(registry.settings)
    if not options.enabled:
        return
    sink = UiSink(registry, options)
    registry.services["ui"] = sink
    # NOTE: every page decides access itself, with the API route it shows (.viewer);
    # the delete forms are POSTs, which the route table would refuse as unknown writes.
    registry.access.open_prefix(options.prefix + "/")
    app.add_sink(sink, prefix=re.compile(rf"{re.escape(options.prefix)}(?:/|$)"))
