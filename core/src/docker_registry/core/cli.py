"""The ``docker-registry`` command: serve, config show|check, plugins, and plugin commands.

Plugins add their own sub-commands through the ``registry_commands`` hook (for example
``docker-registry index rebuild`` from registry-plugin-sqlalchemy).

Every configuration problem ends the command with status 2 and one line on stderr that
names the key, flavor and file; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy
import yaml

from .config import ConfigError, Settings, StartupError, load_settings

if TYPE_CHECKING:
    from .app import ServedApp

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


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        raise ConfigError(
            f"environment variable {name} must be an integer, not {value!r}"
        ) from None


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
    serve.add_argument("--port", type=int, help="TCP port (default: $REGISTRY_PORT, else 5000)")
    serve.add_argument(
        "--workers",
        type=int,
        help="processes sharing the port, each with its threads (default: $REGISTRY_WORKERS, "
        "else 1; the number of CPU cores serves small requests fastest)",
    )
    serve.add_argument(
        "--threads", type=int, help="threads per process (default: $REGISTRY_THREADS, else 8)"
    )

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
        print(f"docker-registry: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR


def _serve(args: argparse.Namespace) -> int:
    from .logs import configure_logging
    from .server import serve

    settings = load_settings(args.config, args.flavor)
    host = args.host or os.environ.get("REGISTRY_HOST") or "0.0.0.0"
    port = args.port if args.port is not None else _env_int("REGISTRY_PORT", 5000)
    threads = args.threads or _env_int("REGISTRY_THREADS", 8)
    configure_logging(settings.loglevel, settings.log_format)
    workers = args.workers or _env_int("REGISTRY_WORKERS", 1)

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
    from .coordination import LockTimeout
    from .logs import configure_logging
    from .ops.gc import DEFAULT_GRACE, GcOptions, ProgressDisplay, run_gc
    from .storage import StorageError

    registry = _open_registry(args)
    configure_logging(registry.settings.loglevel)
    max_age = registry.settings.get("upload_purge_age")
    options = GcOptions(
        dry_run=args.dry_run,
        delete_untagged=args.delete_untagged,
        grace=DEFAULT_GRACE if args.grace is None else args.grace,
        upload_max_age=7 * 24 * 3600.0 if max_age is None else float(max_age),
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
    from .storage.factory import load_driver_class, secret_options

    try:
        secrets = secret_options(load_driver_class(settings.storage))
    except ConfigError:
        secrets = frozenset()  # NOTE: `config check` names the problem; show what we can.
    print(f"# flavor: {settings.flavor}\n# source: {settings.source or '(packaged defaults)'}")
    masked = settings.masked(secrets)
    print(yaml.safe_dump(masked, sort_keys=True, default_flow_style=False), end="")
    return 0


def _config_check(settings: Settings, *, connect: bool = False) -> int:
    from .config_sections import check_sections
    from .plugins import create_plugin_manager
    from .storage.factory import load_driver_class, resolve_options, unknown_options

    try:
        driver_class = load_driver_class(settings.storage)
        resolve_options(driver_class, settings.values)
        check_sections(settings, create_plugin_manager())
    except ConfigError as exc:
        raise exc.located(flavor=settings.flavor, file=settings.source) from None
    source = settings.source or "packaged defaults"
    known = ", ".join(option.name for option in driver_class.options)
    for key in unknown_options(driver_class, settings.values):
        print(
            f"warning: {source}, flavor '{settings.flavor}', key '{key}': not an option of the "
            f"'{driver_class.name}' storage driver (its options: {known})",
            file=sys.stderr,
        )
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
        storage, bar, found=lambda damage: print(f"damage: {damage}", flush=True)
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
