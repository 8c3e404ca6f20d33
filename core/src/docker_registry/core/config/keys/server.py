"""Values of ``docker-registry serve``: command-line options or ``REGISTRY_*`` variables.

They are not configuration-file keys (one file may be served on several ports), but they
are checked like keys: ``--port 99999`` or ``REGISTRY_THREADS=0`` is one line, exit 2.
"""

from __future__ import annotations

from ..options import Option
from ..parsers import integer, text

HOST = Option(
    "host",
    text,
    "0.0.0.0",
    env="REGISTRY_HOST",
    help="interface to bind (`--host`)",
)
PORT = Option(
    "port",
    integer,
    5000,
    min=0,
    max=65535,
    env="REGISTRY_PORT",
    help="TCP port (`--port`); `0` picks a free one",
)
THREADS = Option(
    "threads",
    integer,
    8,
    min=1,
    env="REGISTRY_THREADS",
    help="waitress threads per process (`--threads`)",
)
WORKERS = Option(
    "workers",
    integer,
    1,
    min=1,
    env="REGISTRY_WORKERS",
    help="processes sharing the port (`--workers`); one per CPU core serves small requests "
    "fastest. Each caches tags for `v2_tag_cache_ttl` (see "
    "[architecture.md](architecture.md#serving))",
)

OPTIONS: tuple[Option, ...] = (HOST, PORT, THREADS, WORKERS)
