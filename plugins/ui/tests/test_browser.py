"""The UI in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by selenium) against a served registry that real clients
filled: an OCI image copied by skopeo from an OCI layout, a multi-platform index pushed
over the v2 API, an artifact with a subject pushed by the oras SDK, and a v1 image pushed
by the repository's own v1 client (``tests/v1client.py``).

Each page is checked for what a person reads there, and a screenshot of it is saved in
``$REGISTRY_UI_SCREENSHOTS`` (default: ``screenshots/`` in the test's tmp folder).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
import requests
import yaml
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from uisupport import (
    OCI_MANIFEST,
    Answer,
    Pusher,
    digest,
    image_config,
    layer_tar,
    manifest,
)

from docker_registry.testing.services import ServiceProcess, free_port, http_ready

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[3]
# NOTE: the v1 client lives with the repository's black-box tests; no installable
# client pushes over v1 any more.
sys.path.insert(0, str(ROOT / "tests"))

from v1client import Image, V1Client  # noqa: E402

V1_BASE = "1a" * 32
V1_TOP = "2b" * 32
SBOM_TYPE = "application/vnd.example.sbom.v1+json"

pytestmark = pytest.mark.slow


@dataclass
class Served:
    url: str
    host: str
    app_digest: str
    index_digest: str
    sbom_digest: str


def _oci_layout(directory: Path) -> str:
    """An OCI image layout made with the standard library; returns the manifest digest."""
    layer = layer_tar({"usr/share/app/README": b"hello from the app\n" * 50})
    config = image_config(
        [layer],
        labels={"org.opencontainers.image.title": "Demo app",
                "org.opencontainers.image.source": "https://example.com/demo-app"},
        env=["PATH=/usr/local/bin:/usr/bin:/bin", "APP_MODE=production"],
        entrypoint=["/usr/bin/demo-app"],
        cmd=["--listen", ":8080"],
    )  # fmt: skip
    data = manifest(config, [layer])
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for part in (layer, config, data):
        (blobs / digest(part).split(":")[1]).write_bytes(part)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (directory / "index.json").write_text(json.dumps({
        "schemaVersion": 2,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest(data), "size": len(data),
                       "annotations": {"org.opencontainers.image.ref.name": "1.0"}}],
    }))  # fmt: skip
    return digest(data)


def _http_pusher(url: str, auth: tuple[str, str] | None = None) -> Pusher:
    session = requests.Session()
    session.auth = auth

    def send(method: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        answer = session.request(method, url + path, data=body, headers=headers)
        return Answer(answer.status_code, dict(answer.headers))

    return Pusher(send)


def _serve(work: Path, config: dict) -> tuple[ServiceProcess, str]:
    (work / "config.yml").write_text(yaml.safe_dump({"test": config}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        [sys.executable, "-m", "docker_registry.core", "serve", "--config",
         str(work / "config.yml"), "--flavor", "test", "--host", "127.0.0.1",
         "--port", str(port)],
        name="docker-registry", url=url, ready=http_ready(f"{url}/_ping"), cwd=work,
        startup_timeout=30,
    ).start()  # fmt: skip
    return process, url


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    for tool in ("skopeo",):
        assert shutil.which(tool), f"{tool} is missing: apt-get install -y {tool}"
    work = tmp_path_factory.mktemp("ui-registry")
    config = {
        "storage": "file",
        "storage_path": str(work / "data"),
        "standalone": True,
        "auth_backend": "open",
        "delete_enabled": True,
    }
    process, url = _serve(work, config)
    host = url.removeprefix("http://")
    try:
        # an OCI image, copied by skopeo from a layout on disk
        layout = work / "layout"
        app_digest = _oci_layout(layout)
        subprocess.run(
            ["skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:1.0",
             f"docker://{host}/demo/app:1.0"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        # a multi-platform index, over the raw v2 API
        index = _http_pusher(url).multi_platform("demo/multiarch", "latest")
        # an artifact referring to the image, by the oras SDK
        sbom_digest = _push_sbom(work, host, url, app_digest)
        # a v1 image with a parent, by the v1 client
        base = Image.create(files={"etc/base": b"base\n"}, image_id=V1_BASE)
        top = Image.create(parent=base, files={"etc/top": b"top\n"}, image_id=V1_TOP)
        V1Client(url).push("legacy/tool", [base, top], {"latest": V1_TOP})
        yield Served(url, host, app_digest, index["digest"], sbom_digest)
    finally:
        process.stop()


def _push_sbom(work: Path, host: str, url: str, subject: str) -> str:
    from oras.client import OrasClient
    from oras.oci import Subject

    raw = requests.get(f"{url}/v2/demo/app/manifests/{subject}",
                       headers={"Accept": OCI_MANIFEST}, timeout=10).content  # fmt: skip
    sbom = work / "sbom.spdx.json"
    sbom.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": "demo-app"}))
    config = work / "sbom-config.json"
    config.write_text("{}")
    previous = os.getcwd()
    os.chdir(work)
    try:
        client = OrasClient(hostname=host, insecure=True)
        response = client.push(
            target=f"{host}/demo/app:sbom",
            files=[f"{sbom.name}:application/spdx+json"],
            manifest_config=f"{config.name}:{SBOM_TYPE}",
            subject=Subject(mediaType=OCI_MANIFEST, digest=subject, size=len(raw)),
        )
    finally:
        os.chdir(previous)
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"]


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("REGISTRY_UI_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[webdriver.Chrome]:
    assert shutil.which(CHROMIUM) and os.path.exists(CHROMEDRIVER), (
        "install Debian's chromium and chromium-driver (.ci/apt-packages.txt)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--window-size=1200,900", "--hide-scrollbars",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def visit(browser: webdriver.Chrome, url: str) -> str:
    """Load ``url`` and return what a person reads on it."""
    browser.get(url)
    WebDriverWait(browser, 20).until(lambda b: b.find_element(By.TAG_NAME, "main"))
    return browser.find_element(By.TAG_NAME, "body").text


def shoot(browser: webdriver.Chrome, shots: Path, name: str) -> None:
    height = browser.execute_script("return document.documentElement.scrollHeight")
    width = browser.execute_script("return window.innerWidth")
    browser.set_window_size(max(width, 360), min(max(height, 600), 2400))
    browser.save_screenshot(str(shots / f"{name}.png"))
    browser.set_window_size(1200, 900)


def wait_for_text(browser: webdriver.Chrome, text: str) -> None:
    """Wait until the page's main element shows ``text``.

    A click or submit replaces the page while this asks: the text is read in the page
    by one script (no element handle to go stale), and an error of a page being
    replaced only means "not there yet" (the wait still fails after 10 s).
    """
    read_main = "const main = document.querySelector('main'); return main ? main.innerText : '';"
    WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,)).until(
        lambda b: text in (b.execute_script(read_main) or "")
    )


def test_repository_list_and_search(served, browser, shots):
    text = visit(browser, f"{served.url}/ui/")
    for name in ("demo/app", "demo/multiarch", "legacy/tool"):
        assert name in text
    assert "repositories you may pull" in text
    shoot(browser, shots, "repositories")
    search = browser.find_element(By.ID, "q")
    assert browser.find_element(By.CSS_SELECTOR, "label[for=q]").text == "Search repositories"
    search.send_keys("multi", Keys.ENTER)
    wait_for_text(browser, "matching")
    found = browser.find_element(By.TAG_NAME, "main").text
    assert "demo/multiarch" in found and "demo/app" not in found and "legacy/tool" not in found


def test_tags_of_a_repository(served, browser, shots):
    text = visit(browser, f"{served.url}/ui/v2/demo/app")
    assert "REPOSITORY\ndemo/app" in text  # the kind above the name, in capitals
    assert "1.0" in text and "sbom" in text
    assert served.app_digest[:19] in text
    assert "linux/amd64" in text and "UTC" in text
    shoot(browser, shots, "tags")


def test_image_page_shows_config_layers_referrers_and_copies_the_pull_command(
    served, browser, shots
):
    browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": served.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    text = visit(browser, f"{served.url}/ui/v2/demo/app/manifests/1.0")
    assert served.app_digest in text
    assert "Demo app" in text and "https://example.com/demo-app" in text
    assert "APP_MODE=production" in text and '["/usr/bin/demo-app"]' in text
    assert "application/vnd.oci.image.layer.v1.tar+gzip" in text
    assert SBOM_TYPE in text and served.sbom_digest[:19] in text
    command = f"podman pull --tls-verify=false {served.host}/demo/app@{served.app_digest}"
    assert command in text
    shoot(browser, shots, "image")
    button = browser.find_element(By.CSS_SELECTOR, "button[aria-label='Copy the podman command']")
    button.click()
    wait_for_text(browser, "Copied")
    pasted = browser.execute_async_script(
        "const done = arguments[0];navigator.clipboard.readText().then(done, e => done(String(e)));"
    )
    assert pasted == command
    browser.find_element(By.LINK_TEXT, served.sbom_digest[:19]).click()
    wait_for_text(browser, "Artifact type")
    artifact = browser.find_element(By.TAG_NAME, "main").text
    assert SBOM_TYPE in artifact and "sbom.spdx.json" in artifact
    assert f"oras pull --plain-http {served.host}/demo/app@{served.sbom_digest}" in artifact
    shoot(browser, shots, "artifact")


def test_index_page_lists_its_platforms(served, browser, shots):
    text = visit(browser, f"{served.url}/ui/v2/demo/multiarch/manifests/latest")
    assert "linux/amd64" in text and "linux/arm64" in text
    assert served.index_digest in text
    shoot(browser, shots, "index")
    browser.find_element(By.XPATH, "//th[normalize-space()='linux/arm64']/../td[1]//a").click()
    wait_for_text(browser, "Image config")
    assert "Platform\nlinux/arm64" in browser.find_element(By.TAG_NAME, "main").text


def test_v1_repository_and_image(served, browser, shots):
    text = visit(browser, f"{served.url}/ui/v1/legacy/tool")
    assert "legacy/tool" in text and "latest" in text and V1_TOP[:12] in text
    shoot(browser, shots, "v1-repository")
    browser.find_element(By.LINK_TEXT, V1_TOP[:12]).click()
    wait_for_text(browser, "Ancestry")
    image = browser.find_element(By.TAG_NAME, "main").text
    assert V1_TOP in image and V1_BASE[:12] in image and "(this image)" in image
    shoot(browser, shots, "v1-image")


def test_without_javascript_the_commands_are_plain_text(served, browser):
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        text = visit(browser, f"{served.url}/ui/v2/demo/app/manifests/1.0")
        assert f"podman pull --tls-verify=false {served.host}/demo/app@" in text
        assert not browser.find_elements(By.CSS_SELECTOR, ".commands button")
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def test_keyboard_reaches_the_skip_link_then_the_search(served, browser):
    visit(browser, f"{served.url}/ui/")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Skip to content"
    outline = browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    browser.switch_to.active_element.send_keys(Keys.TAB)
    browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "q"


#: The elements wider than the window, for the message of a failed phone check.
WIDE_ELEMENTS = """
const width = window.innerWidth, found = [];
for (const element of document.querySelectorAll("body *")) {
  const box = element.getBoundingClientRect();
  if (box.right > width + 1) found.push(`${element.tagName}.${element.className} ${box.right}`);
}
return found.slice(0, 10).join("; ");
"""


def test_readable_on_a_phone(served, browser, shots):
    browser.set_window_size(390, 844)
    try:
        for path, name in (("/ui/v2/demo/app", "phone-tags"),
                           ("/ui/v2/demo/app/manifests/1.0", "phone-image")):  # fmt: skip
            visit(browser, served.url + path)
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, (
                f"{path} scrolls sideways by {overflow}px on a phone: "
                + browser.execute_script(WIDE_ELEMENTS)
            )
            browser.save_screenshot(str(shots / f"{name}.png"))
    finally:
        browser.set_window_size(1200, 900)


def test_delete_a_tag_from_the_browser(served, browser, shots):
    pusher = _http_pusher(served.url)
    pusher.image("demo/app", "old", seed="old")
    visit(browser, f"{served.url}/ui/v2/demo/app")
    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Delete tag old']").click()
    wait_for_text(browser, "Deleted")
    assert "Deleted tag old from demo/app." in browser.find_element(By.TAG_NAME, "main").text
    tags = requests.get(f"{served.url}/v2/demo/app/tags/list", timeout=10).json()["tags"]
    assert "old" not in tags and "1.0" in tags
    # the page is the registry's own: a cross-site form would not carry the cookie
    assert browser.get_cookie("registry_ui_csrf")["sameSite"] == "Strict"


def test_htpasswd_sign_in_in_the_browser(tmp_path_factory, browser, shots):
    """The browser signs in with HTTP Basic; the list grows with what the account may pull."""
    work = tmp_path_factory.mktemp("ui-htpasswd")
    accounts = {"reader": "reader-pw", "admin": "admin-pw"}
    (work / "htpasswd").write_text("".join(
        f"{name}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()}\n"
        for name, password in accounts.items()
    ))  # fmt: skip
    access = [
        {"accounts": ["anonymous"], "repositories": ["public/**"], "actions": ["pull"]},
        {"accounts": ["reader"], "repositories": ["team/**"], "actions": ["pull"]},
        {"accounts": ["admin"], "repositories": ["**"], "actions": ["pull", "push"]},
    ]
    process, url = _serve(work, {
        "storage": "file", "storage_path": str(work / "data"), "auth_backend": "htpasswd",
        "htpasswd": {"path": str(work / "htpasswd"), "access": access},
    })  # fmt: skip
    try:
        pusher = _http_pusher(url, ("admin", "admin-pw"))
        for name in ("public/tool", "team/secret", "other/hidden"):
            pusher.image(name, "1", seed=name)
        anonymous = visit(browser, f"{url}/ui/")
        assert "public/tool" in anonymous and "team/secret" not in anonymous
        assert "Sign in" in anonymous
        # a private page challenges (the browser then asks for a password)
        refused = requests.get(f"{url}/ui/v2/team/secret", timeout=10)
        assert refused.status_code == 401 and "sha256:" not in refused.text
        assert refused.headers["WWW-Authenticate"].startswith("Basic ")
        # NOTE: what the browser sends after its password prompt, typed into the URL.
        host = url.removeprefix("http://")
        browser.get(f"http://reader:reader-pw@{host}/ui/login")
        signed = visit(browser, f"{url}/ui/")
        assert "Signed in as reader" in signed
        assert "team/secret" in signed and "public/tool" in signed
        assert "other/hidden" not in signed
        assert "linux/amd64" in visit(browser, f"{url}/ui/v2/team/secret")
        shoot(browser, shots, "signed-in")
    finally:
        process.stop()


#: The lowest WCAG contrast ratio of text on the page: each element with its own text
#: against the first opaque background behind it.
LOWEST_CONTRAST = """
function rgb(text) { return text.match(/[\\d.]+/g).map(Number); }
function luminance([r, g, b]) {
  const c = [r, g, b].map(v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
function background(element) {
  for (let e = element; e; e = e.parentElement) {
    const value = rgb(getComputedStyle(e).backgroundColor);
    if (value.length < 4 || value[3] > 0) return value.slice(0, 3);
  }
  return [255, 255, 255];
}
let lowest = [21, ""];
for (const element of document.querySelectorAll("body *")) {
  const own = [...element.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  const box = element.getBoundingClientRect();
  if (!own || box.width < 2 || box.height < 2) continue;
  const a = luminance(rgb(getComputedStyle(element).color)), b = luminance(background(element));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < lowest[0]) lowest = [ratio, element.tagName + "." + element.className];
}
return lowest;
"""


def test_text_contrast_meets_wcag_aa(served, browser):
    for path in ("/ui/", "/ui/v2/demo/app", "/ui/v2/demo/app/manifests/1.0", "/ui/v1/legacy/tool"):
        visit(browser, served.url + path)
        ratio, where = browser.execute_script(LOWEST_CONTRAST)
        assert ratio >= 4.5, f"{path}: text of {where} has a contrast of {ratio:.2f} (< 4.5)"
    # the measure itself: light grey text on white is caught
    browser.execute_script("document.querySelector('h1').style.color = '#bbbbbb'")
    ratio, where = browser.execute_script(LOWEST_CONTRAST)
    assert ratio < 2.5 and where.startswith("H1")
