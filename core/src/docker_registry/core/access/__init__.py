"""Access control for both APIs: one model, one route table, one decision per request.

A request becomes ``(identity, repository, action)`` (:mod:`.routes`, the one table of
every v1 and v2 route); :class:`.control.AccessControl` asks the configured backend
(``auth_backend``) before any resource runs, and before the body is spooled
(:mod:`.edge`); :mod:`.middleware` answers refusals in each API's error envelope and hands
the :class:`.model.Decision` to resources, which filter listings with it
(:mod:`.listing`). Backends: ``open``, ``token`` (:mod:`docker_registry.core.v1.auth`)
and ``htpasswd`` (:mod:`.htpasswd`). See docs/auth.md.
"""
