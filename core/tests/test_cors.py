"""``cors.*``: a real Chromium on another origin fetches from a real ``serve`` process.

The page is served by a second local HTTP server (another port is another origin); the
browser itself enforces CORS, so an allowed origin reads the answers (preflighted PUT and
custom request headers included) and a refused one gets a network error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.cors import cors_policy
from docker_registry.testing.services import free_port, http_ready, wait_until

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"

SCRIPT = """
async function run() {
  const base = %(registry)s;
  const out = {};
  for (const [name, url, init] of [
    ["v2", base + "/v2/", {headers: {"X-Probe": "1"}}],
    ["v1", base + "/v1/_ping", {}],
    ["put", base + "/v1/repositories/lib/web/tags/latest",
      {method: "PUT", headers: {"Content-Type": "application/json", "X-Probe": "1"},
       body: JSON.stringify("0".repeat(64))}],
  ]) {
    try {
      const r = await fetch(url, init);
      out[name] = {status: r.status, body: await r.text(),
                   id: r.headers.get("X-Request-Id")};
    } catch (e) {
      out[name] = {error: String(e)};
    }
  }
  document.getElementById("result").textContent = JSON.stringify(out);
}
run();
"""


def _page(registry: str) -> bytes:
    script = SCRIPT % {"registry": json.dumps(registry)}
    return (
        f"<!doctype html><html><body><pre id='result'></pre><script>{script}</script></body></html>"
    ).encode()


@pytest.fixture
def page_server() -> Iterator[tuple[int, dict[str, bytes]]]:
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], pages
    server.shutdown()
    server.server_close()


def _serve(tmp_path: Path, cors: str) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "config.yml"
    config.write_text(
        f"storage: file\nstorage_path: {tmp_path / 'data'}\nstandalone: true\n"
        f"auth_backend: open\ncors:\n{cors}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["SETTINGS_FLAVOR"] = ""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "docker_registry.core",
            "serve",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(http_ready(url + "/v1/_ping"), 30, "the registry to answer")
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    assert shutil.which(CHROMIUM) and os.path.exists(CHROMEDRIVER), (
        "install Debian's chromium and chromium-driver (.ci/apt-packages.txt)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def _fetch_from(browser: webdriver.Chrome, page_url: str) -> dict:
    browser.get(page_url)
    WebDriverWait(browser, 20).until(lambda b: b.find_element("id", "result").text.strip() != "")
    return json.loads(browser.find_element("id", "result").text)


def test_allowed_origin_reads_both_apis_and_a_preflighted_put(tmp_path, page_server, browser):
    page_port, pages = page_server
    origin = f"http://127.0.0.1:{page_port}"
    registry = _serve(
        tmp_path,
        f"  origins: [{origin}]\n  methods: [GET, HEAD, PUT]\n"
        "  headers: [Content-Type, X-Probe]\n  expose_headers: [X-Request-Id]\n  max_age: 5\n",
    )
    url = next(registry)
    try:
        pages["/page.html"] = _page(url)
        result = _fetch_from(browser, origin + "/page.html")
        assert result["v2"]["status"] == 200, result
        assert result["v2"]["id"], "exposed header readable by the page"
        assert result["v1"]["status"] == 200 and result["v1"]["body"] == "{}", result
        # a preflighted PUT reached the v1 API: 404 from the handler (no such image)
        assert "error" not in result["put"], result
        assert result["put"]["status"] in (400, 404), result
        # and the preflight itself, as the browser sent it
        request = urllib.request.Request(
            url + "/v2/",
            method="OPTIONS",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "x-probe",
            },
        )
        with urllib.request.urlopen(request) as answer:
            assert answer.headers["Access-Control-Allow-Origin"] == origin
            assert answer.headers["Access-Control-Allow-Methods"] == "GET, HEAD, PUT"
            assert answer.headers["Access-Control-Allow-Headers"] == "Content-Type, X-Probe"
            assert answer.headers["Access-Control-Max-Age"] == "5"
            assert "Origin" in answer.headers["Vary"]
    finally:
        next(registry, None)


def test_other_origin_is_refused_by_the_browser(tmp_path, page_server, browser):
    page_port, pages = page_server
    registry = _serve(tmp_path, "  origins: [http://ui.example.com]\n")
    url = next(registry)
    try:
        pages["/page.html"] = _page(url)
        result = _fetch_from(browser, f"http://127.0.0.1:{page_port}/page.html")
        for name in ("v1", "v2", "put"):
            assert "Failed to fetch" in result[name].get("error", ""), result
    finally:
        next(registry, None)


def test_method_not_listed_is_refused_at_preflight(tmp_path, page_server, browser):
    page_port, pages = page_server
    origin = f"http://127.0.0.1:{page_port}"
    registry = _serve(tmp_path, "  origins: '*'\n  methods: [GET]\n  headers: '*'\n")
    url = next(registry)
    try:
        pages["/page.html"] = _page(url)
        result = _fetch_from(browser, origin + "/page.html")
        assert result["v2"]["status"] == 200 and result["v1"]["status"] == 200, result
        assert "Failed to fetch" in result["put"].get("error", ""), result
    finally:
        next(registry, None)


def _client(**cors):
    from falcon.testing import TestClient

    from docker_registry.core.app import create_app

    return TestClient(create_app(Settings.from_mapping({"storage": "inmemory", "cors": cors})))


def test_wildcard_options_as_flask_cors_had_them():
    client = _client(origins="*", send_wildcard=True)
    answer = client.simulate_get("/v2/", headers={"Origin": "http://a.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "Vary" not in answer.headers
    echoed = _client(origins="*").simulate_get("/v2/", headers={"Origin": "http://a.example"})
    assert echoed.headers["Access-Control-Allow-Origin"] == "http://a.example"
    assert echoed.headers["Vary"] == "Origin"
    credentials = _client(origins="*", supports_credentials=True, send_wildcard=True)
    answer = credentials.simulate_get("/v1/_ping", headers={"Origin": "http://a.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "http://a.example"
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"


def test_always_send_resources_and_automatic_options():
    no_origin = _client(origins="*").simulate_get("/v2/")
    assert no_origin.headers["Access-Control-Allow-Origin"] == "*"
    quiet = _client(origins="*", always_send=False).simulate_get("/v2/")
    assert "Access-Control-Allow-Origin" not in quiet.headers
    only_v2 = _client(origins="*", resources=[r"/v2/"])
    assert (
        "Access-Control-Allow-Origin"
        in only_v2.simulate_get("/v2/", headers={"Origin": "http://a.example"}).headers
    )
    assert (
        "Access-Control-Allow-Origin"
        not in only_v2.simulate_get("/v1/_ping", headers={"Origin": "http://a.example"}).headers
    )
    preflight = {"Origin": "http://a.example", "Access-Control-Request-Method": "GET"}
    handled = _client(origins="*").simulate_options("/v2/nosuch/route/x", headers=preflight)
    assert handled.status_code == 200 and handled.headers["Access-Control-Allow-Origin"]
    manual = _client(origins="*", automatic_options=False, vary_header=False)
    answer = manual.simulate_options("/v2/nosuch/route/x", headers=preflight)
    assert answer.status_code == 404 and "Vary" not in answer.headers


@pytest.mark.parametrize(
    ("cors", "key"),
    [
        ({"origins": "ui.example.com"}, "cors.origins"),
        ({"origins": "*", "max_age": "soon"}, "cors.max_age"),
        ({"origins": "*", "resources": "(["}, "cors.resources"),
        ({"origins": "*", "send_wildcard": "maybe"}, "cors.send_wildcard"),
        ({"origins": "*", "allow_everything": True}, "cors"),
    ],
)
def test_bad_values_are_configuration_errors(cors, key):
    with pytest.raises(ConfigError) as error:
        cors_policy(Settings.from_mapping({"storage": "inmemory", "cors": cors}))
    assert error.value.key == key


def test_off_unless_origins_is_set():
    assert cors_policy(Settings.from_mapping({"cors": {"headers": ["Content-Type"]}})) is None
    assert (
        "Access-Control-Allow-Origin"
        not in _client().simulate_get("/v2/", headers={"Origin": "http://a.example"}).headers
    )
