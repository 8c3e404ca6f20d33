"""registry-core: the Falcon core of docker-registry.

Plugins import their marker from here::

    from docker_registry.core import hookimpl
"""

from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
