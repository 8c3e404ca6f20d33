"""Which OS paths a storage path of the file driver may reach: none through a symlink
that leads out of the root or into the staging directory."""

from __future__ import annotations

import os

#: Directories remembered as free of escaping symlinks (cleared when full).
_CACHE_SIZE = 65536


class Confinement:
    """Checks OS paths under ``root``, remembering directories found (or made) confined.

    PERF: ``realpath`` costs an lstat per component of the whole OS path (a third of a
    manifest GET's time). A path in a known directory costs one lstat of its last
    component. A directory swapped for a symlink behind the registry's back is not
    noticed until the cache is cleared; whoever can do that can rewrite the files too.

    :param root: the real (resolved) storage root.
    :param staging_dir: the reserved directory below it.
    """

    def __init__(self, root: str, staging_dir: str) -> None:
        self.root = root
        self.staging_dir = staging_dir
        self._directories: set[str] = set()

    def allows(self, local: str) -> bool:
        """True unless a symlink in ``local`` leads out of the root (or into staging)."""
        directory = os.path.dirname(local)
        known = directory in self._directories or (
            # PERF: a directory not created yet (a new blob's) in a known one holds no link
            os.path.dirname(directory) in self._directories and not os.path.lexists(directory)
        )
        if not known:
            real = os.path.realpath(directory)
            if not self.contains(real):
                return False
            if os.path.isdir(real):  # NOTE: a missing directory may yet be created as a link
                self.remember(directory)
        return not os.path.islink(local) or self.contains(os.path.realpath(local))

    def remember(self, directory: str) -> None:
        """Note a real directory below the root (found so, or created by the driver)."""
        if len(self._directories) >= _CACHE_SIZE:
            self._directories.clear()
        self._directories.add(directory)

    def contains(self, real: str) -> bool:
        """True when the resolved ``real`` path is the root or below it, not in staging."""
        return _is_within(real, self.root) and not _is_within(real, self.staging_dir)


def _is_within(real: str, directory: str) -> bool:
    return os.path.commonpath([real, directory]) == directory
