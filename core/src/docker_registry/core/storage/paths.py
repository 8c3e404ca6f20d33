"""The grammar of storage paths, shared by the core and every driver.

A storage path is absolute and slash-separated: ``/`` is the root, and
``/docker/registry/v2/blobs/sha256/ab/abcd.../data`` a file. Components are non-empty,
never ``.`` or ``..``, and contain no NUL, backslash or control character. Anything
else raises :class:`InvalidPathError` before a driver sees it, so no driver can be
tricked into leaving its root.
"""

from __future__ import annotations

from .errors import InvalidPathError

ROOT = "/"

_FORBIDDEN_CHARS = frozenset(chr(code) for code in range(32)) | {"\\", "\x7f"}


def validate_path(path: object, *, allow_root: bool = False) -> str:
    """Return ``path`` unchanged when it is a valid storage path, else raise.

    :param path: the candidate path.
    :param allow_root: accept ``/`` itself (``list``, ``walk`` and ``stat`` of the root).
    :raises InvalidPathError: with the reason the path was refused.
    """
    if not isinstance(path, str):
        raise InvalidPathError(f"path must be a string, not {type(path).__name__}")
    if path == ROOT:
        if allow_root:
            return path
        raise InvalidPathError("the root is not a valid path for this operation", path=path)
    if not path.startswith("/"):
        raise InvalidPathError("path must be absolute (start with '/')", path=repr(path))
    if path.endswith("/"):
        raise InvalidPathError("path must not end with '/'", path=repr(path))
    if any(char in _FORBIDDEN_CHARS for char in path):
        raise InvalidPathError(
            "path contains a NUL, control character or backslash", path=repr(path)
        )
    for component in path[1:].split("/"):
        if component in ("", ".", ".."):
            raise InvalidPathError("path has an empty, '.' or '..' component", path=repr(path))
    return path


def join(*parts: str) -> str:
    """Join path components into an absolute storage path (no validation)."""
    inner = "/".join(part.strip("/") for part in parts if part.strip("/"))
    return "/" + inner


def parent(path: str) -> str:
    """The parent directory of ``path`` (``/`` for top-level entries)."""
    head = path.rsplit("/", 1)[0]
    return head or ROOT


def is_under(path: str, directory: str) -> bool:
    """True when ``path`` is ``directory`` itself or inside it."""
    if directory == ROOT:
        return True
    return path == directory or path.startswith(directory + "/")
