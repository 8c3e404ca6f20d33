"""Logging set-up for the server process (the seed's format, level from settings)."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%d/%b/%Y:%H:%M:%S %z"


def configure_logging(level: str) -> None:
    """Send logs to stderr at ``level`` (a logging level name, any case)."""
    logging.basicConfig(format=LOG_FORMAT, datefmt=DATE_FORMAT, level=level.upper(), force=True)
    # NOTE: waitress logs every queue backlog at WARNING; keep them, but not its INFO chatter.
    logging.getLogger("waitress").setLevel(max(logging.WARNING, logging.getLogger().level))
