"""The ``docker-registry`` command: serve, config show|check, plugins, and plugin commands.

Plugins add their own sub-commands through the ``registry_commands`` hook (for example
``docker-registry index rebuild`` from registry-plugin-sqlalchemy).

Every configuration problem ends the command with status 2 and one line on stderr that
names the key, flavor and file; never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy
import yaml

from .config import ConfigError, Settings, StartupError, load_settings
from .config.errors import problem_lines

if TYPE_CHECKING:
    from .app import ServedApp
    from .config.options import Option

EXIT_CONFIG_ERROR = 2


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--config FILE`` and ``--flavor NAME`` to a (sub-)command's parser.

    Plugin commands (``registry_commands``) use it so that every command finds its
    configuration the same way; pass ``args.config, args.flavor`` to ``load_settings``.
    """
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (default: $DOCKER_REGISTRY_CONFIG, else the packaged defaults)",
    )
    parser.add_argument(
        "--flavor", metavar="NAME", help="flavor (default: $SETTINGS_FLAVOR, else dev)"
    )


def _server_value(option: Option, given: str | None) -> Any:
    """The value of a ``serve`` option: from the command line, else its environment
    variable, else its default; checked like a configuration key.

    :raises ConfigError: one line naming the flag or the variable, and what it accepts.
    """
    raw: str | None = given
    source = f"--{option.name} {given}"
    if given is None:
        raw = os.environ.get(str(option.env))
        source = f"{option.env}={raw}"
    try:
        return option.value_of(raw)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc.detail}") from None


class _VersionAction(argparse.Action):
    """``--version``: the report is built only when asked for (it reads package metadata)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from .versions import version_report

        print(version_report())
        parser.exit()


def build_parser(plugins: pluggy.PluginManager | None = None) -> argparse.ArgumentParser:
    """The ``docker-registry`` parser, with the commands of ``plugins`` if given."""
    parser = argparse.ArgumentParser(
        prog="docker-registry", description="Docker Registry v1 and OCI Distribution v2 server."
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="show the versions of the core and of every installed driver and plugin",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the registry on waitress")
    add_config_options(serve)
    serve.add_argument("--host", help="interface to bind (default: $REGISTRY_HOST, else 0.0.0.0)")
    # NOTE: numbers are read as text and checked by the declarations of config/keys/server.py,
    # so that a bad one is one line naming the flag, as a bad configuration key is.
    serve.add_argument("--port", help="TCP port, 0 to 65535 (default: $REGISTRY_PORT, else 5000)")
    serve.add_argument(
        "--workers",
        help="processes sharing the port, each with its threads (default: $REGISTRY_WORKERS, "
        "else 1; the number of CPU cores serves small requests fastest)",
    )
    serve.add_argument("--threads", help="threads per process (default: $REGISTRY_THREADS, else 8)")

    config = commands.add_parser("config", help="show or check the effective configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    add_config_options(config_commands.add_parser("show", help="print it, secrets masked"))
    check = config_commands.add_parser("check", help="validate it; exit 0 or 2")
    add_config_options(check)
    check.add_argument(
        "--connect",
        action="store_true",
        help="also start the storage driver and probe the backend: write, read back, list "
        "and delete an object under /_registry_probe",
    )

    docs = config_commands.add_parser(
        "docs", help="write or check the key tables of docs/configuration.md"
    )
    docs_action = docs.add_mutually_exclusive_group(required=True)
    docs_action.add_argument(
        "--write", metavar="FILE", help="rewrite the tables between <!-- options: NAME --> markers"
    )
    docs_action.add_argument(
        "--check", metavar="FILE", help="exit 1 when a table differs from the declarations"
    )

    gc = commands.add_parser(
        "gc",
        help="delete blobs, links, upload sessions and v1 images nothing references "
        "(safe while the registry serves)",
    )
    add_config_options(gc)
    gc.add_argument(
        "--dry-run", action="store_true", help="print what would be removed; change nothing"
    )
    gc.add_argument(
        "--delete-untagged",
        action="store_true",
        help="also delete manifests no tag reaches (and the blobs only they use)",
    )
    gc.add_argument(
        "--grace",
        type=_duration,
        default=None,
        metavar="DURATION",
        help="keep anything written less than this long ago: seconds, or 90s, 30m, 1h, 2d "
        "(default 1h)",
    )
    gc.add_argument(
        "--jobs",
        type=int,
        default=8,
        metavar="N",
        help="storage changes made at once (default 8; each waits on fsync or a round trip)",
    )
    gc.add_argument(
        "--wait",
        type=_duration,
        default=0.0,
        metavar="DURATION",
        help="how long to wait for a collection already running elsewhere (default: fail at once)",
    )
    du = commands.add_parser(
        "du", help="bytes per repository; shared blobs counted once in the total"
    )
    add_config_options(du)
    du.add_argument("repository", nargs="?", help="only this repository (default: all)")

    commands.add_parser("plugins", help="list installed storage drivers and plugins")
    verify = commands.add_parser(
        "verify",
        help="walk the whole storage read-only and report damage (exit 1 when any is found)",
        description="Hash every blob, check every v2 repository's links, manifests and tags and "
        "every v1 image and tag. Read-only: safe while the registry serves. Exit status: 0 "
        "sound, 1 damage found (one line each on stdout), 2 configuration or storage error.",
    )
    add_config_options(verify)
    verify.add_argument(
        "--jobs",
        type=int,
        default=4,
        metavar="N",
        help="blobs read and hashed at once (default 4; object stores gain most)",
    )
    verify.set_defaults(run=_verify)
    if plugins is not None:
        plugins.hook.registry_commands(commands=commands)
    return parser


def _plugin_manager() -> pluggy.PluginManager | None:
    """The installed plugins, for their commands; ``None`` when one fails to import.

    NOTE: a broken plugin must not take ``config check`` or ``plugins`` down with it:
    those commands report it themselves.
    """
    from .plugins import create_plugin_manager

    try:
        return create_plugin_manager()
    except ConfigError:
        return None


def main(argv: Sequence[str] | None = None, plugins: pluggy.PluginManager | None = None) -> int:
    """Run the command line; return the process exit status.

    :param argv: the arguments (default: ``sys.argv[1:]``).
    :param plugins: the plugin manager whose ``registry_commands`` add sub-commands
        (default: the installed plugins).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    # NOTE: the built-in commands need no plugin loaded here; `serve --workers` forks from
    # this process, and every module imported now would count in each worker's RSS.
    if arguments[:1] in (["serve"], ["config"]):
        parser = build_parser(None)
    else:
        parser = build_parser(plugins or _plugin_manager())
    args = parser.parse_args(arguments)
    try:
        run = getattr(args, "run", None)
        if run is not None:
            return int(run(args))
        if args.command == "serve":
            return _serve(args)
        if args.command == "config" and args.config_command == "docs":
            return _config_docs(args.write or args.check, write=bool(args.write))
        if args.command == "config":
            settings = load_settings(args.config, args.flavor)
            if args.config_command == "show":
                return _config_show(settings)
            return _config_check(settings, connect=args.connect)
        if args.command == "gc":
            return _gc(args)
        if args.command == "du":
            return _du(args)
        return _plugins()
    except StartupError as exc:
        print(f"docker-registry: start-up error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except ConfigError as exc:
        for line in problem_lines(exc):
            print(f"docker-registry: configuration error: {line}", file=sys.stderr)
        return EXIT_CONFIG_ERROR


def _serve(args: argparse.Namespace) -> int:
    from .config.keys import server
    from .logs import configure_logging
    from .server import serve

    host = _server_value(server.HOST, args.host)
    port = _server_value(server.PORT, args.port)
    threads = _server_value(server.THREADS, args.threads)
    workers = _server_value(server.WORKERS, args.workers)
    settings = load_settings(args.config, args.flavor)
    configure_logging(settings.loglevel, settings.log_format)

    def make_app() -> ServedApp:
        # NOTE: imported in each worker, after the fork (see server.py).
        from .app import create_served_app
        from .startup import build_storage, startup_error
        from .storage import StorageError

        storage = build_storage(settings)
        try:
            return create_served_app(settings, storage)
        except ConfigError as exc:
            raise exc.located(flavor=settings.flavor, file=settings.source) from None
        except StorageError as exc:
            # NOTE: start-up writes to storage (the upload-signing key): a backend that
            # refuses is a start-up failure, told in one line.
            raise startup_error(settings, storage.driver, exc) from None

    try:
        serve(make_app, settings, host=host, port=port, threads=threads, workers=workers)
    except OSError as exc:
        print(f"docker-registry: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _duration(text: str) -> float:
    """Seconds of ``90``, ``90s``, ``30m``, ``1h`` or ``2d`` (an argparse type)."""
    value = text.strip().lower()
    factor = _UNITS.get(value[-1:])
    number = value[:-1] if factor is not None else value
    try:
        seconds = float(number) * (factor or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use seconds or a number with s, m, h or d (1h)"
        ) from None
    if not seconds >= 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: a duration must be 0 or more")
    return seconds


def _open_registry(args: argparse.Namespace):
    """The registry of the configuration (storage and coordination), without the app."""
    from .coordination import create_coordinator
    from .plugins import create_plugin_manager
    from .registry import Registry
    from .startup import build_storage

    settings = load_settings(args.config, args.flavor)
    storage = build_storage(settings)
    registry = Registry(settings=settings, storage=storage, plugins=create_plugin_manager())
    registry.coordinator = create_coordinator(registry)
    return registry


def _gc(args: argparse.Namespace) -> int:
    from .config.keys.v2 import UPLOAD_PURGE_AGE
    from .coordination import LockTimeout
    from .logs import configure_logging
    from .ops.gc import DEFAULT_GRACE, GcOptions, ProgressDisplay, run_gc
    from .storage import StorageError
    from .v2.descriptors import use_descriptor_cache

    registry = _open_registry(args)
    configure_logging(registry.settings.loglevel, registry.settings.log_format)
    # NOTE: the serving processes cache blob sizes and links; the quarantine and the
    # sweep must reach them (this process caches nothing itself).
    use_descriptor_cache(registry, 0, ask_shared=False)
    # NOTE: upload_purge_age 0 keeps unfinished uploads forever: gc keeps them too.
    max_age = UPLOAD_PURGE_AGE.read(registry.settings) or math.inf
    options = GcOptions(
        dry_run=args.dry_run,
        delete_untagged=args.delete_untagged,
        grace=DEFAULT_GRACE if args.grace is None else args.grace,
        upload_max_age=max_age,
        jobs=max(1, args.jobs),
    )
    display = ProgressDisplay()
    try:
        report = run_gc(registry, options, display, wait=args.wait)
    except LockTimeout:
        print(
            "docker-registry: gc: another garbage collection is running on this storage "
            "(lock 'gc' is taken); try again when it ends, or pass --wait",
            file=sys.stderr,
        )
        return 1
    except StorageError as exc:
        print(
            f"docker-registry: gc stopped, storage '{registry.storage.name}' failed: {exc}; "
            "nothing is lost: blobs left in quarantine go back at the next run",
            file=sys.stderr,
        )
        return 1
    finally:
        display.close()
        registry.coordinator.close()
        registry.storage.close()
    for line in report.lines:
        print(line)
    print(report.summary())
    return 0


def _du(args: argparse.Namespace) -> int:
    from .ops.du import disk_usage, format_usage

    registry = _open_registry(args)
    try:
        usage = disk_usage(registry.storage, args.repository)
    finally:
        registry.coordinator.close()
        registry.storage.close()
    if args.repository and not usage.repositories:
        print(f"docker-registry: du: no repository named {args.repository!r}", file=sys.stderr)
        return 1
    print(format_usage(usage))
    return 0


def _config_show(settings: Settings) -> int:
    from .config_options import plugin_options, secret_names
    from .plugins import create_plugin_manager
    from .storage.factory import load_driver_class, secret_options

    try:
        secrets = secret_options(load_driver_class(settings.storage))
    except ConfigError:
        secrets = frozenset()  # NOTE: `config check` names the problem; show what we can.
    # NOTE: a broken plugin is named by `config check`; key names still mask by rule.
    with contextlib.suppress(ConfigError):
        secrets |= secret_names(plugin_options(create_plugin_manager()))
    print(f"# flavor: {settings.flavor}\n# source: {settings.source or '(packaged defaults)'}")
    masked = settings.masked(secrets)
    print(yaml.safe_dump(masked, sort_keys=True, default_flow_style=False), end="")
    return 0


def _config_check(settings: Settings, *, connect: bool = False) -> int:
    """Validate every declared key; one line per problem on stderr, exit 2 if any."""
    from .config_options import invalid_values, plugin_options, unknown_key_warnings
    from .config_sections import section_problems
    from .plugins import create_plugin_manager
    from .storage.factory import load_driver_class, resolve_options

    source = settings.source or "packaged defaults"
    where = f"{source}, flavor '{settings.flavor}'"
    try:
        plugins = create_plugin_manager()
        declared = plugin_options(plugins)
    except ConfigError as exc:
        raise exc.located(flavor=settings.flavor, file=settings.source) from None
    problems = invalid_values(settings, declared)
    driver_class = None
    try:
        driver_class = load_driver_class(settings.storage)
        resolve_options(driver_class, settings.values)
    except ConfigError as exc:
        problems.append(exc)
    problems += section_problems(settings, plugins)
    warnings = unknown_key_warnings(settings, declared, driver_class)
    for key in sorted(warnings):
        print(f"warning: {where}, key '{key}': {warnings[key]}", file=sys.stderr)
    # NOTE: a section's own parser may find what its declarations already found.
    lines = dict.fromkeys(
        str(problem.located(flavor=settings.flavor, file=settings.source)) for problem in problems
    )
    for line in lines:
        print(f"docker-registry: configuration error: {line}", file=sys.stderr)
    if problems or driver_class is None:
        return EXIT_CONFIG_ERROR
    if connect:
        return _connect(settings, source)
    print(
        f"configuration OK: flavor '{settings.flavor}' from {source}, storage '{driver_class.name}'"
    )
    return 0


def _connect(settings: Settings, source: str) -> int:
    """``config check --connect``: start the driver, probe the backend, one line a problem."""
    from .startup import build_storage, probe

    storage = build_storage(settings, hint=False)
    try:
        problems = probe(storage)
    finally:
        storage.driver.close()
    for problem in problems:
        print(
            f"docker-registry: storage check failed: {source}, flavor '{settings.flavor}', "
            f"storage '{storage.name}': {problem}",
            file=sys.stderr,
        )
    if problems:
        return EXIT_CONFIG_ERROR
    print(
        f"configuration OK: flavor '{settings.flavor}' from {source}, storage '{storage.name}': "
        "connected, probe object written, read back, listed and deleted"
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    from .ops.progress import progress
    from .ops.verify import StorageVerifier
    from .startup import build_storage
    from .storage import StorageError

    settings = load_settings(args.config, args.flavor)
    storage = build_storage(settings)
    bar = progress("verify", "items")
    verifier = StorageVerifier(
        storage,
        bar,
        found=lambda damage: print(f"damage: {damage}", flush=True),
        jobs=max(1, args.jobs),
    )
    try:
        report = verifier.run()
    except StorageError as exc:
        bar.close()
        print(
            f"docker-registry: verify stopped, storage '{storage.name}' failed: {exc}",
            file=sys.stderr,
        )
        return EXIT_CONFIG_ERROR
    finally:
        storage.driver.close()
    bar.close()
    print(f"verified {report.summary()}")
    return 1 if report.damage else 0


def _config_docs(path: str, *, write: bool) -> int:
    """``config docs``: the key tables of ``path`` from every installed declaration."""
    from pathlib import Path

    from .config.keys import server
    from .config_docs import SERVER, write_tables
    from .config_options import DeclaredOption, installed_driver_options, plugin_options
    from .plugins import create_plugin_manager

    declared = [
        *plugin_options(create_plugin_manager()),
        *installed_driver_options(),
        *(DeclaredOption(option, SERVER) for option in server.OPTIONS),
    ]
    try:
        document = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    updated, problems = write_tables(document, declared)
    for problem in problems:
        print(f"docker-registry: {path}: {problem}", file=sys.stderr)
    if write:
        if updated != document:
            Path(path).write_text(updated, encoding="utf-8")
        print(f"{path}: key tables written from the declarations")
        return 1 if problems else 0
    if updated != document:
        print(
            f"docker-registry: {path}: the key tables differ from the declarations; run "
            f"'docker-registry config docs --write {path}'",
            file=sys.stderr,
        )
        return 1
    return 1 if problems else 0


def _plugins() -> int:
    from .plugins import create_plugin_manager, describe_plugins
    from .storage.factory import IMPORT_FAILURE_MARK, import_problem, installed_drivers

    print("storage drivers (docker_registry.drivers):")
    for driver in sorted(installed_drivers().values(), key=lambda item: item.name):
        # NOTE: each driver is imported here, so that one whose dependencies are missing is
        # marked (and the marker is what .ci/packaging/smoke.py looks for), not hidden.
        problem = import_problem(driver)
        mark = f"  [{IMPORT_FAILURE_MARK}: {problem}]" if problem else ""
        print(f"  {driver.name:<12} {driver.distribution} {driver.version}{mark}")
    print("plugins (docker_registry.plugins):")
    for plugin in describe_plugins(create_plugin_manager()):
        hooks = ", ".join(plugin.hooks) or "no hooks"
        print(f"  {plugin.name:<12} {plugin.distribution} {plugin.version}  [{hooks}]")
    return 0
