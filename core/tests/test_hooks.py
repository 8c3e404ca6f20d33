"""One test per hook of ``hookspecs.py``: a plugin implementing it changes the registry.

Each builds the application with ``create_app(..., extra_plugins=[...])`` on the
inmemory driver and drives it through ``falcon.testing``; no monkeypatching.
"""

from __future__ import annotations

import argparse
from typing import Any

import falcon
import falcon.testing
import pytest

from docker_registry.core import cli
from docker_registry.core.app import create_app
from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.config.options import Option
from docker_registry.core.hookspecs import (
    AuthBackendSpec,
    CacheBackendSpec,
    Event,
    SearchBackendSpec,
    hookimpl,
)
from docker_registry.core.plugins import create_plugin_manager
from docker_registry.core.registry import Registry
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver


def make_client(plugins: list[Any], **values: Any) -> falcon.testing.TestClient:
    settings = Settings.from_mapping(values)
    app = create_app(settings, storage=Storage(InMemoryDriver()), extra_plugins=plugins)
    return falcon.testing.TestClient(app)


class FixedSearch:
    """A search backend answering the same two repositories to every query."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def search(self, query: str, page: int, per_page: int | None) -> tuple[int, list[dict]]:
        results = [{"description": "d", "name": "x/one"}, {"description": None, "name": "x/two"}]
        return 2, results[:per_page] if per_page else results


class SearchPlugin:
    @hookimpl
    def registry_search_backends(self):
        yield SearchBackendSpec("fixed", FixedSearch, "always the same answer")


def test_hook_registry_search_backends() -> None:
    client = make_client([SearchPlugin()], search_backend="fixed")
    body = client.simulate_get("/v1/search", params={"q": "anything", "n": "1"}).json
    assert body["num_results"] == 2
    assert body["results"] == [{"description": "d", "name": "x/one"}]
    with pytest.raises(ConfigError, match="two plugins offer a search backend named 'fixed'"):
        make_client([SearchPlugin(), SearchPlugin()], search_backend="fixed")


class DenyEverything:
    def __init__(self, registry: Registry) -> None:
        pass

    def authorize(self, request: Any) -> None:
        return None

    def parent_access(self, request: Any, grant: Any, image_id: str) -> bool:
        return False

    def image_allowed(self, request: Any, grant: Any, image_id: str) -> bool:
        return False


class AuthPlugin:
    @hookimpl
    def registry_auth_backends(self):
        yield AuthBackendSpec("deny", DenyEverything, "nobody gets in")


def test_hook_registry_auth_backends() -> None:
    open_client = make_client([AuthPlugin()])
    assert open_client.simulate_get("/v1/repositories/ns/repo/tags").status_code == 404
    client = make_client([AuthPlugin()], auth_backend="deny")
    assert client.simulate_get("/v1/repositories/ns/repo/tags").status_code == 401


class DictCache:
    """A cache in a dict, counting hits."""

    def __init__(self, registry: Registry) -> None:
        self.values: dict[str, bytes] = {}
        self.hits = 0
        registry.services["dict-cache"] = self

    def get(self, path: str) -> bytes | None:
        value = self.values.get(path)
        self.hits += value is not None
        return value

    def set(self, path: str, content: bytes) -> None:
        self.values[path] = content

    def delete(self, path: str) -> None:
        self.values.pop(path, None)

    def delete_prefix(self, directory: str) -> None:
        for path in [p for p in self.values if p.startswith(directory.rstrip("/") + "/")]:
            del self.values[path]


class CachePlugin:
    registry: Registry | None = None

    @hookimpl
    def registry_cache_backends(self):
        yield CacheBackendSpec("dict", DictCache, "a dict")

    @hookimpl
    def registry_startup(self, app: falcon.App, registry: Registry) -> None:
        self.registry = registry


def test_hook_registry_cache_backends() -> None:
    plugin = CachePlugin()
    make_client([plugin], cache_backend="dict")
    assert plugin.registry is not None
    storage = plugin.registry.storage
    cache = plugin.registry.services["dict-cache"]
    cache.hits = 0  # start-up reads (the v2 upload secret) are not counted
    storage.put_content("/repositories/ns/repo/tag_latest", b"id")
    assert storage.get_content("/repositories/ns/repo/tag_latest") == b"id"
    assert cache.hits == 1
    storage.delete("/repositories/ns/repo")
    assert not [path for path in cache.values if path.startswith("/repositories/")]
    with pytest.raises(ConfigError, match="no cache backend named 'nope'"):
        make_client([], cache_backend="nope")


class EventRecorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def registry_event(self, event: Event, registry: Registry) -> None:
        self.events.append(event)


def test_hook_registry_event() -> None:
    recorder = EventRecorder()
    client = make_client([recorder])
    assert client.simulate_put("/v1/repositories/team/web/", body="[]").status_code == 200
    assert [(e.kind, e.repository, e.api) for e in recorder.events] == [("push", "team/web", "v1")]
    assert recorder.events[0].details["description"] == ""


class RoutesPlugin:
    @hookimpl
    def registry_routes(self, app: falcon.App, registry: Registry) -> None:
        app.add_route("/hello", HelloResource(registry))


class HelloResource:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"storage": self.registry.storage.name}


def test_hook_registry_routes() -> None:
    client = make_client([RoutesPlugin()])
    assert client.simulate_get("/hello").json == {"storage": "inmemory"}
    assert make_client([]).simulate_get("/hello").status_code == 404


class StartupPlugin:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.seen: list[tuple[falcon.App, Registry]] = []

    @hookimpl
    def registry_startup(self, app: falcon.App, registry: Registry) -> None:
        if self.fail:
            raise ConfigError("my_plugin.url is not set", key="my_plugin.url")
        self.seen.append((app, registry))


def test_hook_registry_startup() -> None:
    plugin = StartupPlugin()
    client = make_client([plugin])
    assert len(plugin.seen) == 1
    assert plugin.seen[0][0] is client.app
    with pytest.raises(ConfigError, match=r"my_plugin\.url is not set"):
        make_client([StartupPlugin(fail=True)])


class CommandPlugin:
    @hookimpl
    def registry_commands(self, commands: argparse._SubParsersAction) -> None:
        hello = commands.add_parser("hello", help="say hello")
        hello.add_argument("--fail", action="store_true")
        cli.add_config_options(hello)
        hello.set_defaults(run=self.run)

    def run(self, args: argparse.Namespace) -> int:
        if args.fail:
            raise ConfigError("hello cannot work", key="hello")
        print(f"hello, flavor {args.flavor}")
        return 7


def test_hook_registry_commands(capsys: pytest.CaptureFixture[str]) -> None:
    plugins = create_plugin_manager([CommandPlugin()])
    assert cli.main(["hello", "--flavor", "prod"], plugins=plugins) == 7
    assert capsys.readouterr().out == "hello, flavor prod\n"
    assert cli.main(["hello", "--fail"], plugins=plugins) == 2
    assert capsys.readouterr().err == (
        "docker-registry: configuration error: key 'hello': hello cannot work\n"
    )
    assert "hello" in cli.build_parser(plugins).format_help()
    assert "hello" not in cli.build_parser().format_help()


class RecordingQueue:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def enqueue(self, image_id: str) -> None:
        self.ids.append(image_id)


class DiffQueuePlugin:
    def __init__(self) -> None:
        self.queue = RecordingQueue()

    @hookimpl
    def registry_diff_queue(self, registry: Registry) -> RecordingQueue:
        return self.queue


def _push_v1_image(client: falcon.testing.TestClient, image_id: str) -> None:
    import hashlib
    import json

    body = json.dumps({"id": image_id}).encode()
    client.simulate_put(f"/v1/images/{image_id}/json", body=body)
    client.simulate_put(f"/v1/images/{image_id}/layer", body=b"layer")
    checksum = "sha256:" + hashlib.sha256(body + b"\n" + b"layer").hexdigest()
    done = client.simulate_put(
        f"/v1/images/{image_id}/checksum", headers={"X-Docker-Checksum-Payload": checksum}
    )
    assert done.status_code == 200, done.text


def test_hook_registry_diff_queue(caplog: pytest.LogCaptureFixture) -> None:
    image_id = "a" * 64
    plugin = DiffQueuePlugin()
    client = make_client([plugin], cache={"host": "redis.example"})
    _push_v1_image(client, image_id)
    assert plugin.queue.ids == [image_id]  # checksum PUT completed the image
    assert client.simulate_get(f"/v1/images/{image_id}/diff").content == b""
    assert plugin.queue.ids == [image_id, image_id]  # GET diff without _diff
    # without cache.host diffs are off: nothing is asked of the plugin, GET diff is 400
    plugin = DiffQueuePlugin()
    client = make_client([plugin], cache={"host": None})
    _push_v1_image(client, image_id)
    assert plugin.queue.ids == []
    assert client.simulate_get(f"/v1/images/{image_id}/diff").status_code == 400
    # cache.host set but no plugin offers a queue (registry-plugin-redis may be installed)
    manager = create_plugin_manager()
    for implementation in manager.hook.registry_diff_queue.get_hookimpls():
        manager.unregister(implementation.plugin)
    settings = Settings.from_mapping({"cache": {"host": "redis.example"}})
    with caplog.at_level("WARNING"):
        create_app(settings, storage=Storage(InMemoryDriver()), plugins=manager)
    assert "no installed plugin queues v1 diffs" in caplog.text


class WebhookOptions:
    """A plugin declaring a section of two keys, one required, one ranged."""

    URL = Option("webhook.url", str, required=True, help="where events are posted")
    TIMEOUT = Option("webhook.timeout", float, 5.0, min=0.1, help="seconds per post")

    @hookimpl
    def registry_options(self):
        return [self.URL, self.TIMEOUT]


def test_hook_registry_options() -> None:
    from docker_registry.core.config_options import (
        invalid_values,
        plugin_options,
        unknown_key_warning,
        unknown_keys,
    )

    plugin = WebhookOptions()
    declared = plugin_options(create_plugin_manager([plugin]))
    owners = {item.option.name: item.owner for item in declared}
    assert owners["upload_purge_age"] == "v2"
    assert owners["mirroring.timeout"] == "mirroring"
    assert owners["storage"] == "core"
    assert owners["webhook.url"] not in ("core", "v1", "v2")

    good = Settings.from_mapping({"webhook": {"url": "http://hooks", "timeout": 2.5}})
    assert invalid_values(good, declared) == []
    assert plugin.TIMEOUT.read(good) == 2.5
    assert plugin.TIMEOUT.read(Settings.from_mapping({"webhook": {"url": "u"}})) == 5.0

    bad = Settings.from_mapping({"webhook": {"timeout": 0, "tiemout": 1}})
    problems = {error.key: str(error) for error in invalid_values(bad, declared)}
    assert set(problems) == {"webhook.url", "webhook.timeout"}
    assert "required (where events are posted)" in problems["webhook.url"]
    assert "at least 0.1" in problems["webhook.timeout"]
    known = set(owners)
    assert unknown_keys(bad, known) == ["webhook.tiemout"]
    assert "did you mean 'webhook.timeout'" in unknown_key_warning("webhook.tiemout", known)

    # NOTE: the same key declared by two plugins is refused, naming both.
    with pytest.raises(ConfigError, match="declared by two plugins"):
        plugin_options(create_plugin_manager([plugin, WebhookOptions()]))
