"""The ``file`` driver: the registry's files in a local directory (the embedded default).

Storage paths map one to one onto files under ``storage_path``, so a 0.9.1 registry's
directory (or a Go registry's ``rootdirectory``) is served as it lies::

    <storage_path>/
    ├── .registry-staging/         temporary files of writes in progress (see below)
    │   ├── <uuid hex>.tmp
    │   └── <uuid hex>.body        request bodies the server received, to be adopted
    ├── images/<id>/{json,layer,ancestry,_checksum}       v1, the seed's layout
    ├── repositories/<namespace>/<repository>/tag_<tag>
    └── docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data v2, distribution's layout

Every write (``put_content``, a writer's ``commit``) is staged in a temporary file in
``.registry-staging`` on the same filesystem, flushed and fsynced, renamed onto its target
with :func:`os.replace` and made durable by fsyncing the target's directory: readers see
the old or the new file, never a mix, and a crash leaves at worst a stray temporary file
in the staging directory. The staging directory is also the driver's
:attr:`spool_directory`, so the server's spool sweep (:mod:`docker_registry.core.
spool_sweep`, ``spool_sweep_age``) removes those strays at start-up and periodically (a
live write keeps its file's mtime fresh). The staging directory is reserved: it
never appears in ``list``/``walk`` of the root, and a storage path that starts with it is
refused.

Every path is confined under the root: besides :func:`~docker_registry.core.storage.paths.
validate_path` (``..``, NUL...), the real path is resolved and must stay under the real
root, so a symlink pointing outside is refused with :class:`InvalidPathError`.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO

from docker_registry.core.storage import (
    Capability,
    DriverOption,
    FileInfo,
    InvalidOffsetError,
    InvalidPathError,
    PathNotFoundError,
    StorageDriver,
    StorageError,
    StorageFullError,
    validate_path,
)
from docker_registry.core.storage.paths import ROOT

from .confinement import Confinement
from .fsio import _MISSING, _NO_SPACE, _O_CLOEXEC, _copy, _discard, _write_all
from .writer import FileDriverWriter

log = logging.getLogger(__name__)

#: The reserved directory under the root that holds temporary files of writes in progress.
STAGING_DIR = ".registry-staging"

#: ``fsync`` of a directory is refused by some filesystems; nothing more can be done there.
_FSYNC_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
#: Renames tried while concurrent deletes keep removing the target's directory.
_REPLACE_ATTEMPTS = 3


class FileDriver(StorageDriver):
    """Stores each storage path as a file under ``storage_path``; directories are real.

    :param storage_path: the root directory, created if missing (``./tmp/registry`` by
        default, like the seed's ``local`` flavor).
    :raises StorageError: the root cannot be created or is not a directory.
    """

    name = "file"
    options = (
        DriverOption(
            "storage_path",
            str,
            default="./tmp/registry",
            help="directory that holds the registry's files (created if missing)",
        ),
    )
    capabilities = frozenset({Capability.LOCAL_FILES, Capability.SNAPSHOT_READS})

    def __init__(self, *, storage_path: str) -> None:
        self.storage_path = storage_path
        absolute = os.path.abspath(storage_path)
        try:
            os.makedirs(absolute, exist_ok=True)
        except OSError as exc:
            failure = self._failure(exc, "__init__", ROOT, "create the storage root")
            failure.detail += "; create it, or set storage_path to a folder the registry can write"
            raise failure from exc
        # NOTE: confinement compares real paths, so the root itself is resolved once here.
        self.root = os.path.realpath(absolute)
        self.staging_dir = os.path.join(self.root, STAGING_DIR)
        self.spool_directory = self.staging_dir
        self._confinement = Confinement(self.root, self.staging_dir)
        # NOTE: checked now (nothing is created: reading an existing tree writes nothing),
        # so that a root the registry cannot write stops start-up with one line instead of
        # failing the first push.
        writable = self.staging_dir if os.path.isdir(self.staging_dir) else self.root
        if not os.access(writable, os.W_OK | os.X_OK):
            raise StorageError(
                f"the storage root {writable} is not writable by the registry's user "
                f"(uid {os.geteuid()}): make it writable, or set storage_path to a folder "
                "it can write",
                driver=self.name,
                operation="__init__",
                path=ROOT,
            )

    def __repr__(self) -> str:
        return f"FileDriver(storage_path={self.storage_path!r})"

    # -- whole-object access ---------------------------------------------------------

    def get_content(self, path: str) -> bytes:
        local = self._local(path, "get_content")
        try:
            with open(local, "rb") as stream:
                return stream.read()
        except OSError as exc:
            raise self._read_error(exc, "get_content", path, "read") from None

    def put_content(self, path: str, data: bytes) -> None:
        self._put(path, data, "put_content", 0o666)

    def put_private(self, path: str, data: bytes) -> None:
        """Like :meth:`put_content`, with mode 0600: only the registry's account reads it."""
        self._put(path, data, "put_private", 0o600)

    def _put(self, path: str, data: bytes, operation: str, mode: int) -> None:
        local = self._local(path, operation)
        descriptor, temp = self._stage(operation, path, mode)
        try:
            _write_all(descriptor, memoryview(data).cast("B"))
        except BaseException as exc:
            os.close(descriptor)
            _discard(temp)
            if isinstance(exc, OSError):
                raise self._failure(exc, operation, path, f"write {temp}") from exc
            raise
        self._publish(descriptor, temp, local, operation, path)

    # -- streams -----------------------------------------------------------------------

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        """Open the file for reading; a real OS file object (``fileno()``, sendfile)."""
        if offset < 0:
            raise InvalidOffsetError(
                f"negative offset {offset}", driver=self.name, operation="reader", path=path
            )
        local = self._local(path, "reader")
        try:
            stream = open(local, "rb")  # noqa: SIM115 - the caller owns and closes it
        except OSError as exc:
            raise self._read_error(exc, "reader", path, "open") from None
        if offset:
            # NOTE: seeking past the end is allowed and gives an empty stream, as specified.
            stream.seek(offset)
        return stream

    def writer(self, path: str, append: bool = False) -> FileDriverWriter:
        local = self._local(path, "writer")
        return FileDriverWriter(self, path, local, append=append)

    def adopt_file(self, local_path: str, path: str, *, durable: bool = True) -> None:
        """fsync ``local_path`` and rename it onto ``path`` when both share a filesystem
        (no copy: a body spooled into the staging directory is written once).

        PERF: ``durable=False`` (an upload's chunk) skips the fsyncs: the chunk reaches
        the disk once, as part of the blob that :meth:`move` or :meth:`concatenate`
        makes durable, and a chunk removed soon after never reaches it at all.
        """
        local = self._local(path, "adopt_file")
        try:
            same_filesystem = os.stat(local_path).st_dev == os.stat(self.root).st_dev
        except OSError as exc:
            raise self._failure(exc, "adopt_file", path, f"stat {local_path}") from exc
        if not same_filesystem:
            super().adopt_file(local_path, path, durable=durable)
            return
        if not durable:
            self._rename_into_place(local_path, local, "adopt_file", path)
            return
        try:
            descriptor = os.open(local_path, os.O_RDONLY | _O_CLOEXEC)
        except OSError as exc:
            raise self._failure(exc, "adopt_file", path, f"open {local_path}") from exc
        self._publish(descriptor, local_path, local, "adopt_file", path)

    def _rename_into_place(self, temp: str, local: str, operation: str, path: str) -> None:
        """Rename ``temp`` onto ``local`` (parents made), without making it durable."""
        action = "create its directory"
        try:
            self._make_parents(os.path.dirname(local))
            action = "publish"
            self._replace(temp, local)
        except BaseException as exc:
            _discard(temp)
            if isinstance(exc, OSError):
                raise self._write_error(exc, operation, path, action) from exc
            raise

    def concatenate(self, sources: Sequence[str], destination: str) -> None:
        """Copy the sources into one staged file in the kernel (``copy_file_range``: a
        reflink where the filesystem has them), then publish it like a commit."""
        local = self._local(destination, "concatenate")
        locals_ = [(source, self._local(source, "concatenate")) for source in sources]
        descriptor, temp = self._stage("concatenate", destination)
        try:
            for source, source_local in locals_:
                try:
                    source_descriptor = os.open(source_local, os.O_RDONLY | _O_CLOEXEC)
                    try:
                        _copy(source_descriptor, descriptor)
                    finally:
                        os.close(source_descriptor)
                except OSError as exc:
                    if exc.errno in _NO_SPACE:
                        raise self._failure(
                            exc, "concatenate", destination, f"copy {source} into {temp}"
                        ) from None
                    raise self._read_error(exc, "concatenate", source, "copy") from None
        except BaseException:
            os.close(descriptor)
            _discard(temp)
            raise
        self._publish(descriptor, temp, local, "concatenate", destination)

    # -- metadata and namespace ------------------------------------------------------

    def stat(self, path: str) -> FileInfo:
        local = self._local(path, "stat", allow_root=True)
        try:
            info = os.stat(local)
        except OSError as exc:
            raise self._read_error(exc, "stat", path, "stat") from None
        is_dir = stat.S_ISDIR(info.st_mode)
        return FileInfo(path, 0 if is_dir else info.st_size, info.st_mtime, is_dir)

    def list(self, path: str) -> list[str]:
        local = self._local(path, "list", allow_root=True)
        try:
            with os.scandir(local) as entries:
                names = [entry.name for entry in entries]
        except OSError as exc:
            raise self._read_error(exc, "list", path, "list") from None
        prefix = _prefix(path)
        return sorted(prefix + name for name in names if not _is_staging(path, name))

    def walk(self, path: str) -> Iterator[FileInfo]:
        """Yield every regular file below ``path``; symlinked directories are not entered."""
        # NOTE: a generator, so that a missing directory raises on the first next(), as
        # the contract says (object stores cannot know before their first listing).
        local = self._local(path, "walk", allow_root=True)
        if not os.path.isdir(local):
            raise PathNotFoundError(
                "not a directory", driver=self.name, operation="walk", path=path
            )
        yield from self._walk(path, local)

    def _walk(self, path: str, local: str) -> Iterator[FileInfo]:
        pending = [(path, local)]
        while pending:
            directory, local_directory = pending.pop()
            try:
                with os.scandir(local_directory) as iterator:
                    entries = list(iterator)
            except FileNotFoundError:
                continue  # removed while we were walking
            except OSError as exc:
                raise self._failure(exc, "walk", directory, "list") from exc
            prefix = _prefix(directory)
            for entry in entries:
                if _is_staging(directory, entry.name):
                    continue
                child = prefix + entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((child, entry.path))
                        continue
                    real = os.path.realpath(entry.path) if entry.is_symlink() else None
                    if real is not None and not self._confinement.contains(real):
                        continue
                    info = os.stat(entry.path)
                except FileNotFoundError:
                    continue  # removed while we were walking, or a dangling symlink
                except OSError as exc:
                    raise self._failure(exc, "walk", child, "stat") from exc
                if stat.S_ISREG(info.st_mode):
                    yield FileInfo(child, info.st_size, info.st_mtime, False)

    def move(self, source: str, destination: str) -> None:
        source_local = self._local(source, "move")
        destination_local = self._local(destination, "move")
        if not os.path.isfile(source_local):
            raise PathNotFoundError(
                "no file at the source", driver=self.name, operation="move", path=source
            )
        destination_directory = os.path.dirname(destination_local)
        try:
            changed = self._make_parents(destination_directory)
            # NOTE: the source may have been adopted without an fsync (an upload's chunk);
            # for one that was, this fsync finds nothing left to write.
            _fsync_file(source_local)
            os.replace(source_local, destination_local)
        except FileNotFoundError as exc:
            if not os.path.lexists(source_local):
                raise PathNotFoundError(
                    "the source vanished", driver=self.name, operation="move", path=source
                ) from None
            raise self._write_error(exc, "move", source, f"move to {destination}") from exc
        except OSError as exc:
            raise self._write_error(exc, "move", source, f"move to {destination}") from exc
        self._sync_directories([destination_directory, *changed], "move", destination)
        self._sync_directory(os.path.dirname(source_local), "move", source)

    def delete(self, path: str) -> None:
        local = self._local(path, "delete")
        try:
            mode = os.lstat(local).st_mode
        except OSError as exc:
            raise self._read_error(exc, "delete", path, "stat") from None
        try:
            if stat.S_ISDIR(mode):
                shutil.rmtree(local)
            else:
                os.unlink(local)
        except FileNotFoundError:
            raise PathNotFoundError(
                "deleted concurrently", driver=self.name, operation="delete", path=path
            ) from None
        except OSError as exc:
            raise self._failure(exc, "delete", path, "delete") from exc
        self._sync_directory(os.path.dirname(local), "delete", path)

    # -- paths ---------------------------------------------------------------------------

    def _local(self, path: str, operation: str, *, allow_root: bool = False) -> str:
        """Map a storage path to its OS path under the root, or refuse it.

        :raises InvalidPathError: invalid per ``validate_path``, the reserved staging
            name, or a path that resolves (through symlinks) outside the root.
        """
        try:
            validate_path(path, allow_root=allow_root)
        except InvalidPathError as exc:
            raise exc.with_context(driver=self.name, operation=operation) from None
        if path == ROOT:
            return self.root
        parts = path[1:].split("/")
        # NOTE: casefold, so that case-insensitive filesystems cannot reach it either.
        if parts[0].casefold() == STAGING_DIR:
            raise InvalidPathError(
                f"'/{STAGING_DIR}' is reserved for the file driver's temporary files",
                driver=self.name,
                operation=operation,
                path=path,
            )
        local = os.path.join(self.root, *parts)
        if not self._confinement.allows(local):
            raise InvalidPathError(
                "the path leads outside the storage root (through a symlink)",
                driver=self.name,
                operation=operation,
                path=path,
            )
        return local

    # -- staged, durable writes -------------------------------------------------------

    def _stage(self, operation: str, path: str, mode: int = 0o666) -> tuple[int, str]:
        """Create an empty temporary file in the staging directory; return (fd, OS path).

        ``mode`` 0o666 minus the umask is what any file the seed wrote had (mkstemp would
        publish 0o600 files that a web server or backup user cannot read).
        """
        temp = os.path.join(self.staging_dir, f"{uuid.uuid4().hex}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC
        try:
            try:
                return os.open(temp, flags, mode), temp
            except FileNotFoundError:
                os.makedirs(self.staging_dir, exist_ok=True)
                return os.open(temp, flags, mode), temp
        except OSError as exc:
            raise self._failure(exc, operation, path, "create a temporary file") from exc

    def _publish(self, descriptor: int, temp: str, local: str, operation: str, path: str) -> None:
        """Make the written ``temp`` durable and rename it onto ``local``.

        PERF: missing parents are created *before* the file's fsync: on journaling
        filesystems (ext4, xfs) that fsync commits them too, and the directory fsyncs
        that follow the rename find little left to do (a small blob went from six journal
        commits to two). Every changed directory is still fsynced, as POSIX requires.
        ``descriptor`` is closed; ``temp`` is removed when anything fails.
        """
        directory = os.path.dirname(local)
        action = "create its directory"
        try:
            try:
                changed = self._make_parents(directory)
                action = "fsync"
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            action = "publish"
            changed += self._replace(temp, local)
        except BaseException as exc:
            _discard(temp)
            if isinstance(exc, OSError):
                raise self._write_error(exc, operation, path, action) from exc
            raise
        self._sync_directories([directory, *changed], operation, path)

    def _replace(self, source: str, local: str) -> tuple[str, ...]:
        """``os.replace(source, local)``, creating ``local``'s directory again if a
        concurrent delete removed it meanwhile (an upload's chunk racing the upload's
        end); return the directories created."""
        created: tuple[str, ...] = ()
        for _ in range(_REPLACE_ATTEMPTS - 1):
            try:
                os.replace(source, local)
                return created
            except FileNotFoundError:
                if not os.path.lexists(source):
                    raise
                created += self._make_parents(os.path.dirname(local))
        os.replace(source, local)
        return created

    def _make_parents(self, directory: str) -> tuple[str, ...]:
        """Create ``directory`` and its missing ancestors; return the directories whose
        entries changed (to fsync once what is in them is durable).

        :raises NotADirectoryError: an ancestor is a file.
        """
        missing = []
        current = directory
        while not os.path.isdir(current):
            missing.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        changed = []
        for new in reversed(missing):
            try:
                os.mkdir(new)
            except FileExistsError:
                if os.path.isdir(new):
                    continue  # a concurrent writer created it
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), new) from None
            changed.append(os.path.dirname(new))
            self._confinement.remember(new)
        return tuple(changed)

    def _sync_directories(self, directories: Iterable[str], operation: str, path: str) -> None:
        for directory in dict.fromkeys(directories):
            self._sync_directory(directory, operation, path)

    def _sync_directory(self, directory: str, operation: str, path: str) -> None:
        """fsync a directory so that a rename or new entry in it survives a crash."""
        try:
            descriptor = os.open(directory, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        except FileNotFoundError:
            return  # removed concurrently: nothing left to make durable
        except OSError as exc:
            raise self._failure(exc, operation, path, "open the directory to fsync") from exc
        try:
            os.fsync(descriptor)
        except OSError as exc:
            if exc.errno not in _FSYNC_UNSUPPORTED:
                raise self._failure(exc, operation, path, "fsync the directory") from exc
        finally:
            os.close(descriptor)

    # -- errors ------------------------------------------------------------------------

    def _failure(self, exc: OSError, operation: str, path: str | None, action: str) -> StorageError:
        """A :class:`StorageError` saying what failed, on which OS path, and why."""
        files = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name)
        code = errno.errorcode.get(exc.errno or 0, "")
        reason = exc.strerror or str(exc)
        detail = f"cannot {action}" + (f" {files}" if files else "") + f": {reason}"
        detail += f" [{code}]" if code else ""
        if exc.errno in _NO_SPACE:
            # NOTE: typed, so that the client gets a 507 saying what to free, and so that
            # every caller removes what it had written (the write is retried later).
            return StorageFullError(
                f"{detail}; the filesystem holding {self.root} is full (or the quota on it "
                "is used up): free space there or grow it, then push again",
                driver=self.name,
                operation=operation,
                path=path,
            )
        return StorageError(detail, driver=self.name, operation=operation, path=path)

    def _read_error(self, exc: OSError, operation: str, path: str, action: str) -> StorageError:
        if exc.errno in _MISSING:
            return PathNotFoundError(driver=self.name, operation=operation, path=path)
        return self._failure(exc, operation, path, action)

    def _write_error(self, exc: OSError, operation: str, path: str, action: str) -> StorageError:
        if exc.errno == errno.EISDIR:
            return StorageError(
                "a directory is at this path", driver=self.name, operation=operation, path=path
            )
        if exc.errno in (errno.ENOTDIR, errno.EEXIST):
            return StorageError(
                f"a parent of the path is a file, not a directory ({exc.filename})",
                driver=self.name,
                operation=operation,
                path=path,
            )
        return self._failure(exc, operation, path, action)


def _fsync_file(local: str) -> None:
    descriptor = os.open(local, os.O_RDONLY | _O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _prefix(directory: str) -> str:
    return "/" if directory == ROOT else directory + "/"


def _is_staging(directory: str, name: str) -> bool:
    return directory == ROOT and name.casefold() == STAGING_DIR
