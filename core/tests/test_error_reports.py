"""``email_exceptions.*`` against a real SMTP server (aiosmtpd, STARTTLS and AUTH), and
``bugsnag`` against a local HTTP receiver set as its notify endpoint."""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import falcon.testing
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from docker_registry.core import hookimpl
from docker_registry.core.app import create_app
from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.error_reports import error_handler, mail_settings
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.testing.services import free_port, wait_until


class _Boom:
    @hookimpl
    def registry_routes(self, app, registry):
        class Boom:
            def on_get(self, req, resp):
                raise RuntimeError("the disk is on fire")

        app.add_route("/v2/boom", Boom())
        app.add_route("/boom", Boom())


def _app(**values):
    # NOTE: every peer is a trusted proxy, so that the X-Request-Id the tests send is
    # the request's id.
    settings = Settings.from_mapping({"storage": "inmemory", "trusted_proxy": "*", **values})
    app = create_app(settings, storage=Storage(InMemoryDriver()), extra_plugins=[_Boom()])
    return falcon.testing.TestClient(app)


def _stop(client: falcon.testing.TestClient) -> None:
    for reporter in getattr(client.app._error_handlers[Exception], "reporters", ()):
        getattr(reporter, "stop", lambda: None)()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = folder / "cert.pem"
    key_path = folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.release = threading.Event()
        self.release.set()
        self.logins: list[str] = []
        self.tls_at_login: list[bool] = []

    async def handle_DATA(self, server, session, envelope):
        self.release.wait(10)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, data):
        self.tls_at_login.append(session.ssl is not None)
        if isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"registry",
            b"s3cret-pw",
        ):
            self.logins.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@pytest.fixture
def smtp_server(certificate) -> Iterator[tuple[int, _Inbox]]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = _Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=inbox.authenticate,
        auth_require_tls=True,
    )
    controller.start()
    yield port, inbox
    inbox.release.set()
    controller.stop()


def _mail_config(port: int, **extra):
    return {
        "smtp_host": "localhost",
        "smtp_port": port,
        "smtp_login": "registry",
        "smtp_password": "s3cret-pw",
        "smtp_secure": True,
        "from_addr": "registry@example.com",
        "to_addr": "ops@example.com",
        **extra,
    }


def test_one_mail_per_unhandled_exception_over_starttls_with_login(
    smtp_server, certificate, monkeypatch
):
    port, inbox = smtp_server
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    client = _app(email_exceptions=_mail_config(port))
    inbox.release.clear()  # the server holds the mail: the request must answer anyway
    started = time.monotonic()
    answer = client.simulate_get("/v2/boom", headers={"X-Request-Id": "req-1"})
    assert answer.status_code == 500 and "req-1" in answer.text
    assert time.monotonic() - started < 5, "the request waited for the mail"
    assert inbox.messages == []
    inbox.release.set()
    client.simulate_get("/boom", headers={"X-Request-Id": "req-2"})
    client.simulate_get("/v2/", headers={"X-Request-Id": "req-ok"})
    wait_until(lambda: len(inbox.messages) == 2, 15, "two mails")
    _stop(client)
    assert len(inbox.messages) == 2, "one mail per unhandled exception, none for a 200"
    sender, recipients, raw = inbox.messages[0]
    mail = message_from_bytes(raw)
    assert sender == "registry@example.com" and recipients == ["ops@example.com"]
    assert mail["Subject"] == "docker-registry: unhandled RuntimeError in request req-1"
    body = mail.get_payload(decode=True).decode()
    assert "GET /v2/boom" in body and "req-1" in body
    assert "Traceback (most recent call last)" in body and "the disk is on fire" in body
    assert inbox.logins == ["registry", "registry"] and all(inbox.tls_at_login)


def test_untrusted_certificate_is_refused_and_logged(smtp_server, caplog):
    port, inbox = smtp_server
    client = _app(email_exceptions=_mail_config(port))
    with caplog.at_level(logging.ERROR, logger="docker_registry.core.error_reports"):
        assert client.simulate_get("/boom", headers={"X-Request-Id": "req-3"}).status_code == 500
        _stop(client)
    assert inbox.messages == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("req-3" in m and "SSLCertVerificationError" in m for m in messages), messages


def test_dead_server_the_request_still_answers_and_the_failure_is_logged(caplog):
    port = free_port()  # nothing listens there
    client = _app(email_exceptions=_mail_config(port))
    with caplog.at_level(logging.ERROR, logger="docker_registry.core.error_reports"):
        answer = client.simulate_get("/boom", headers={"X-Request-Id": "req-4"})
        assert answer.status_code == 500
        _stop(client)
    failures = [
        r.getMessage() for r in caplog.records if r.name == "docker_registry.core.error_reports"
    ]
    assert len(failures) == 1, failures
    assert f"localhost:{port}" in failures[0] and "req-4" in failures[0]
    assert "s3cret-pw" not in failures[0]


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"smtp_host": "mail", "smtp_port": "x"}, "email_exceptions.smtp_port"),
        ({"smtp_host": "mail", "smtp_secure": "/no/such.pem"}, "email_exceptions.smtp_secure"),
        ({"smtp_host": "mail", "to_addr": "nobody"}, "email_exceptions.to_addr"),
        ({"smtp_host": "mail", "smtp_password": "pw"}, "email_exceptions.smtp_login"),
        ({"smtp_host": "mail", "smtp_tls": True}, "email_exceptions"),
    ],
)
def test_bad_mail_settings_are_configuration_errors(section, key):
    section = {"to_addr": "ops@example.com", **section}
    with pytest.raises(ConfigError) as error:
        mail_settings(Settings.from_mapping({"email_exceptions": section}))
    assert error.value.key == key


def test_off_without_smtp_host():
    settings = Settings.from_mapping({"email_exceptions": {"smtp_port": 25}})
    assert mail_settings(settings) is None
    assert not hasattr(error_handler(settings), "reporters")


# -- Bugsnag ---------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "payload": json.loads(body)})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", received
    server.shutdown()
    server.server_close()


def test_bugsnag_reports_unhandled_exceptions_with_the_request_id(receiver):
    endpoint, received = receiver
    client = _app(bugsnag={"api_key": "0123456789abcdef0123456789abcdef", "endpoint": endpoint})
    answer = client.simulate_get("/v2/boom", headers={"X-Request-Id": "req-bug"})
    assert answer.status_code == 500
    client.simulate_get("/v2/nosuch")  # a 404 is not an error report
    wait_until(lambda: len(received) >= 1, 15, "the Bugsnag report")
    time.sleep(0.5)
    assert len(received) == 1
    report = received[0]
    assert report["headers"]["Bugsnag-Api-Key"] == "0123456789abcdef0123456789abcdef"
    event = report["payload"]["events"][0]
    assert event["unhandled"] is True
    assert event["exceptions"][0]["errorClass"] == "RuntimeError"
    assert event["exceptions"][0]["message"] == "the disk is on fire"
    assert event["metaData"]["request"]["request_id"] == "req-bug"
    assert event["context"] == "GET /v2/boom"


def test_bugsnag_key_alone_and_bad_values():
    from docker_registry.core.error_reports import bugsnag_settings

    settings = bugsnag_settings(Settings.from_mapping({"bugsnag": "abc"}, flavor="prod"))
    assert settings is not None and settings.api_key == "abc" and settings.release_stage == "prod"
    with pytest.raises(ConfigError) as error:
        bugsnag_settings(Settings.from_mapping({"bugsnag": {"api_key": "a", "endpoint": "x"}}))
    assert error.value.key == "bugsnag.endpoint"
    masked = Settings.from_mapping({"bugsnag": {"api_key": "k"}}).masked()
    assert masked["bugsnag"] == {"api_key": "***"}
