"""Test helpers that ship with registry-core, for first-party and third-party drivers.

- :mod:`docker_registry.testing.conformance`: the storage driver conformance suite, mixin
  classes named ``Base...`` that a driver adopts with a one-line subclass and a ``driver``
  fixture (needs pytest).
- :mod:`docker_registry.testing.services`: start real backing services (emulators, object
  stores) for fixtures, or reuse one named by an environment variable (no pytest needed).

Nothing is imported here, so that importing :mod:`docker_registry.testing.services` does not
require pytest.
"""
