"""Mirroring: a pull-through cache of an upstream v1 registry (spec §6.6, issue #6).

* :mod:`.upstream` -- the ``mirroring`` config section and the HTTP client (timeouts,
  errors naming the upstream).
* :mod:`.store` -- what is written to storage (through :mod:`..layout`), the TTL cache
  of tags and image lists, and :class:`.store.LayerTee` (stream + verify + commit).
* :mod:`.service` -- :class:`.service.Mirror`: which upstream to ask for which route.
* :mod:`.resources` -- the v1 resources that fall back to the mirror on a local 404.
"""
