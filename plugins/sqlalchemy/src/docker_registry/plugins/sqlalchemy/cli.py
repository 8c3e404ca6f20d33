"""``docker-registry index rebuild``: make the search index match storage again.

The seed indexed storage only once, when the database was created (issue #516); this
command re-walks storage (v1 and v2 repositories) and adds what is missing and removes
what is gone, keeping the descriptions of repositories that stay. Progress goes to
stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from docker_registry.core.cli import add_config_options
from docker_registry.core.config import ConfigError, load_settings
from docker_registry.core.storage import Storage, create_driver

BAR_WIDTH = 30


class ProgressBar:
    """A one-line textual progress bar, redrawn in place (``\\r``) on a stream."""

    def __init__(self, label: str, stream: TextIO = sys.stderr) -> None:
        self.label = label
        self.stream = stream
        self._last = ""

    def count(self, found: int) -> None:
        """Show a running count while the total is unknown."""
        self._draw(f"{self.label}: {found} found")

    def update(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` as a bar and a percentage."""
        filled = BAR_WIDTH if total == 0 else BAR_WIDTH * done // total
        percent = 100 if total == 0 else 100 * done // total
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self._draw(f"{self.label}: [{bar}] {done}/{total} {percent:3d}%")

    def _draw(self, text: str) -> None:
        if text != self._last:
            self.stream.write("\r" + text.ljust(len(self._last)))
            self.stream.flush()
            self._last = text

    def done(self) -> None:
        """End the line."""
        if self._last:
            self.stream.write("\n")
            self.stream.flush()


def add_index_command(commands: argparse._SubParsersAction) -> None:
    """Add ``index rebuild`` to the ``docker-registry`` sub-commands."""
    index = commands.add_parser("index", help="manage the SQL search index (sqlalchemy)")
    actions = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    rebuild = actions.add_parser("rebuild", help="re-walk storage and update the search index")
    add_config_options(rebuild)
    rebuild.set_defaults(run=run_rebuild)


def run_rebuild(args: argparse.Namespace, stream: TextIO = sys.stderr) -> int:
    """Rebuild the index of the configured storage; return the exit status.

    :raises ConfigError: bad configuration, storage driver or unreachable database.
    """
    from sqlalchemy.exc import DBAPIError

    from .index import SqlIndex, database_url, one_line
    from .scan import all_repositories

    settings = load_settings(args.config, args.flavor)
    try:
        storage = Storage(create_driver(settings.storage, settings.values))
        index = SqlIndex.connect(database_url(settings))
        index.setup()
    except ConfigError as exc:
        raise exc.located(flavor=settings.flavor, file=settings.source) from None
    try:
        scanning = ProgressBar("scanning storage", stream)
        names = all_repositories(storage, scanning.count)
        scanning.done()
        writing = ProgressBar("updating index", stream)
        result = index.rebuild(names, writing.update)
        writing.update(result.added + result.removed, result.added + result.removed)
        writing.done()
    except DBAPIError as exc:
        print(f"\ndocker-registry: index rebuild failed: {one_line(exc)}", file=stream)
        return 1
    finally:
        index.close()
        storage.close()
    print(
        f"search index rebuilt: {len(names)} repositories in storage, {result.added} added, "
        f"{result.removed} removed, {result.kept} kept"
    )
    return 0
