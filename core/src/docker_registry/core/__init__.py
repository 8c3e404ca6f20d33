"""registry-core: the Falcon core of docker-registry.

Plugins import their marker from here::

    from docker_registry.core import hookimpl
"""

from .hookspecs import hookimpl
from .versions import CORE_DISTRIBUTION, distribution_version

#: registry-core's version, read from its installed metadata (pyproject.toml is the source).
__version__ = distribution_version(CORE_DISTRIBUTION)

__all__ = ["__version__", "hookimpl"]
