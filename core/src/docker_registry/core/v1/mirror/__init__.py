"""Mirroring: a pull-through cache of an upstream v1 registry (spec §6.6, issue #6).

* :mod:`.upstream` -- the ``mirroring`` config section and the HTTP client (timeouts,
  errors naming the upstream).
* :mod:`.store` -- what is written to storage (through :mod:`..layout`), the TTL cache
  of tags and image lists (layers enter storage through ``ImageStore.ingest_layer``).
* :mod:`.service` -- :class:`.service.Mirror`: which upstream to ask for which route.
* :mod:`.stores` -- decorators of the v1 stores (and of the search backend) that ask
  the mirror on a local miss; the v1 plugin hands them to the plain resources.
"""
