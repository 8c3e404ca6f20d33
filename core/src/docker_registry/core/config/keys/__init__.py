"""The declarations of the keys the core distribution reads, one module per part.

Each key is written once, here: :class:`~..settings.Settings` types the top-level ones
from these lists, the ``registry_options`` hook of the part that reads them declares
them (for ``config check`` and the docs' tables), and the code reads them through the
:class:`~..options.Option` objects.

=============  ==========================================  =========================
module         keys                                        declared by plugin
=============  ==========================================  =========================
``core``       storage, logging, limits, auth, operations  ``core`` (defaults)
``v1``         index, search, the diff queue section       ``v1``
``v2``         uploads, tags, deletes                      ``v2``
``mirroring``  the pull-through cache (both APIs)          ``mirroring`` (built in)
``server``     ``docker-registry serve``'s host, port...   (command line)
=============  ==========================================  =========================
"""

from __future__ import annotations

from ..options import Option
from . import core, mirroring, v1, v2

#: Every key the core distribution declares, in documentation order.
CORE_DISTRIBUTION_OPTIONS: tuple[Option, ...] = (
    *core.OPTIONS,
    *v1.OPTIONS,
    *v2.OPTIONS,
    *mirroring.OPTIONS,
)

__all__ = ["CORE_DISTRIBUTION_OPTIONS"]
