"""Reports of unhandled exceptions: one mail each (``email_exceptions``), Bugsnag (``bugsnag``).

Both are sent off the request thread: the mail through a ``QueueHandler`` whose
``QueueListener`` thread talks SMTP (:class:`ErrorMailHandler`, a stdlib ``SMTPHandler``
that speaks STARTTLS with certificate checks), Bugsnag through the official client's
own background delivery. A report that cannot be delivered is logged (without its
credentials); the request was already answered its JSON 500.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
import smtplib
import ssl
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import falcon

from .config import ConfigError, Settings
from .config.keys.core import SMTP_PORT
from .http_errors import handle_unexpected

log = logging.getLogger(__name__)

ErrorHandler = Callable[[falcon.Request, falcon.Response, Exception, dict[str, Any]], None]

MAIL_KEYS = (
    "smtp_host",
    "smtp_port",
    "smtp_login",
    "smtp_password",
    "smtp_secure",
    "from_addr",
    "to_addr",
)


@dataclass(frozen=True)
class MailSettings:
    """The validated ``email_exceptions`` section."""

    host: str
    port: int
    login: str | None
    password: str | None
    #: ``None``: plain SMTP; else STARTTLS, with ``(certfile, keyfile)`` of a client
    #: certificate when set.
    starttls: tuple[str | None, str | None] | None
    from_addr: str
    to_addrs: tuple[str, ...]


def _text(section: Mapping[str, Any], key: str) -> str | None:
    value = section.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ConfigError(f"expected a string, got {value!r}", key=f"email_exceptions.{key}")
    return value.strip()


def _readable(path: str, key: str) -> str:
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ConfigError(f"{path!r} is not a readable file", key=f"email_exceptions.{key}")
    return path


def mail_settings(settings: Settings) -> MailSettings | None:
    """The ``email_exceptions`` section, or ``None`` when ``smtp_host`` is unset (off).

    :raises ConfigError: naming the ``email_exceptions.*`` key that cannot work.
    """
    section = settings.get("email_exceptions")
    if section is None or section == "":
        return None
    if not isinstance(section, Mapping):
        raise ConfigError(
            f"expected a mapping, got {type(section).__name__}", key="email_exceptions"
        )
    unknown = sorted(str(key) for key in section if key not in MAIL_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} (known: {', '.join(MAIL_KEYS)})",
            key="email_exceptions",
        )
    host = _text(section, "smtp_host")
    if host is None:
        return None
    port: int = SMTP_PORT.value_of(section.get("smtp_port"))
    secure = section.get("smtp_secure")
    starttls: tuple[str | None, str | None] | None
    if secure in (None, "", False):
        starttls = None
    elif secure is True:
        starttls = (None, None)
    elif isinstance(secure, str):
        # NOTE: the seed's form: a key file holding the key and its certificate.
        path = _readable(secure, "smtp_secure")
        starttls = (path, path)
    elif isinstance(secure, Mapping) and set(secure) <= {"keyfile", "certfile"} and secure:
        keyfile = secure.get("keyfile")
        certfile = secure.get("certfile") or keyfile
        if not isinstance(certfile, str) or (keyfile is not None and not isinstance(keyfile, str)):
            raise ConfigError(
                "expected {keyfile: PATH, certfile: PATH}", key="email_exceptions.smtp_secure"
            )
        starttls = (
            _readable(certfile, "smtp_secure"),
            _readable(keyfile, "smtp_secure") if keyfile else None,
        )
    else:
        raise ConfigError(
            f"expected false, true (STARTTLS), a key file path or {{keyfile, certfile}}, "
            f"got {secure!r}",
            key="email_exceptions.smtp_secure",
        )
    login = _text(section, "smtp_login")
    password = _text(section, "smtp_password")
    if password and not login:
        raise ConfigError("a password needs smtp_login", key="email_exceptions.smtp_login")
    from_addr = _text(section, "from_addr") or "docker-registry@localdomain.local"
    to = section.get("to_addr")
    to_addrs = [to] if isinstance(to, str) else to if isinstance(to, list) else None
    if not to_addrs or not all(isinstance(a, str) and "@" in a for a in to_addrs):
        raise ConfigError(
            f"expected an address or a list of addresses, got {to!r}",
            key="email_exceptions.to_addr",
        )
    if "@" not in from_addr:
        raise ConfigError(
            f"expected an address, got {from_addr!r}", key="email_exceptions.from_addr"
        )
    return MailSettings(
        host=host,
        port=port,
        login=login,
        password=password,
        starttls=starttls,
        from_addr=from_addr,
        to_addrs=tuple(a.strip() for a in to_addrs),
    )


class ErrorMailHandler(logging.handlers.SMTPHandler):
    """``SMTPHandler`` with a subject naming the request, and STARTTLS that checks the
    server's certificate against the system's CAs (``SSL_CERT_FILE`` adds one).

    Runs on the listener thread only; a failure is logged on ``docker_registry.core.
    error_reports`` (server, port, error: never the password).
    """

    def __init__(self, mail: MailSettings) -> None:
        credentials = (mail.login, mail.password or "") if mail.login else None
        super().__init__(
            mailhost=(mail.host, mail.port),
            fromaddr=mail.from_addr,
            toaddrs=list(mail.to_addrs),
            subject="docker-registry: unhandled error",
            credentials=credentials,
            timeout=10.0,
        )
        self.mail = mail

    def getSubject(self, record: logging.LogRecord) -> str:
        request = getattr(record, "request_id", "-")
        kind = getattr(record, "error_type", "error")
        return f"docker-registry: unhandled {kind} in request {request}"

    def emit(self, record: logging.LogRecord) -> None:
        from email.message import EmailMessage
        from email.utils import formatdate

        try:
            message = EmailMessage()
            message["From"] = self.fromaddr
            message["To"] = ",".join(self.toaddrs)
            message["Subject"] = self.getSubject(record)
            message["Date"] = formatdate()
            message.set_content(self.format(record))
            with smtplib.SMTP(self.mail.host, self.mail.port, timeout=self.timeout) as smtp:
                if self.mail.starttls is not None:
                    context = ssl.create_default_context()
                    certfile, keyfile = self.mail.starttls
                    if certfile:
                        context.load_cert_chain(certfile, keyfile)
                    smtp.starttls(context=context)
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except Exception as exc:  # noqa: BLE001 (any failure: log it, never raise)
            log.error(
                "could not mail the report of request %s to %s via %s:%d: %s: %s",
                getattr(record, "request_id", "-"),
                ", ".join(self.toaddrs),
                self.mailhost,
                self.mailport,
                type(exc).__name__,
                exc,
            )


class ErrorMail:
    """The mail reporter: a ``QueueHandler`` on the request side, the listener thread
    sending (call :meth:`stop` to flush and end it)."""

    def __init__(self, mail: MailSettings) -> None:
        self.queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self.handler = ErrorMailHandler(mail)
        self.handler.setFormatter(logging.Formatter("%(message)s"))
        # NOTE: a logger of its own, outside the logging tree: reports go to the mail
        # and nowhere else (the log already has the traceback from http_errors).
        self.logger = logging.Logger("docker_registry.error_mail", logging.ERROR)
        self.logger.addHandler(logging.handlers.QueueHandler(self.queue))
        self.listener = logging.handlers.QueueListener(self.queue, self.handler)
        self.listener.start()

    def report(self, req: falcon.Request, exc: Exception, request_id: str) -> None:
        trace = "".join(traceback.format_exception(exc))
        self.logger.error(
            "Unhandled %s in request %s\n\n%s %s\nClient: %s\nUser-Agent: %s\n\n%s",
            type(exc).__name__,
            request_id,
            req.method,
            req.path,
            req.remote_addr,
            req.user_agent or "-",
            trace,
            extra={"request_id": request_id, "error_type": type(exc).__name__},
        )

    def stop(self) -> None:
        self.listener.stop()


@dataclass(frozen=True)
class BugsnagSettings:
    """The ``bugsnag`` key: an API key, or a mapping with ``api_key`` and optional
    ``endpoint`` (Bugsnag On-Premise) and ``release_stage``."""

    api_key: str
    endpoint: str | None
    release_stage: str


def bugsnag_settings(settings: Settings) -> BugsnagSettings | None:
    """The ``bugsnag`` key, or ``None`` when unset (off).

    :raises ConfigError: the value cannot work, or the ``bugsnag`` package is missing.
    """
    value = settings.get("bugsnag")
    if value is None or value == "":
        return None
    endpoint = None
    stage = settings.flavor or "production"
    if isinstance(value, Mapping):
        unknown = sorted(set(map(str, value)) - {"api_key", "endpoint", "release_stage"})
        if unknown:
            raise ConfigError(
                f"unknown option(s) {', '.join(unknown)} (known: api_key, endpoint, release_stage)",
                key="bugsnag",
            )
        endpoint = value.get("endpoint") or None
        stage = value.get("release_stage") or stage
        value = value.get("api_key")
        if endpoint is not None and (
            not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://"))
        ):
            raise ConfigError("expected an http(s) URL", key="bugsnag.endpoint")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("expected a Bugsnag API key (a string)", key="bugsnag")
    try:
        import bugsnag  # noqa: F401
    except ImportError:
        raise ConfigError(
            "Bugsnag reports need the bugsnag package: pip install 'registry-core[bugsnag]'",
            key="bugsnag",
        ) from None
    return BugsnagSettings(api_key=value.strip(), endpoint=endpoint, release_stage=str(stage))


class BugsnagReporter:
    """The official client, delivering in its own background thread."""

    def __init__(self, config: BugsnagSettings) -> None:
        import bugsnag

        from . import __version__

        options: dict[str, Any] = {
            "api_key": config.api_key,
            "release_stage": config.release_stage,
            "app_version": __version__,
            "asynchronous": True,
            "auto_capture_sessions": False,
            "project_root": os.path.dirname(os.path.dirname(__file__)),
            "logger": log,
        }
        if config.endpoint:
            options["endpoint"] = config.endpoint
        self.client = bugsnag.Client(install_sys_hook=False, **options)

    def report(self, req: falcon.Request, exc: Exception, request_id: str) -> None:
        self.client.notify(
            exc,
            context=f"{req.method} {req.path}",
            severity="error",
            unhandled=True,
            severity_reason={
                "type": "unhandledExceptionMiddleware",
                "attributes": {"framework": "Falcon"},
            },
            metadata={
                "request": {
                    "request_id": request_id,
                    "method": req.method,
                    "path": req.path,
                    "client": req.remote_addr,
                    "user_agent": req.user_agent,
                }
            },
        )


def check(settings: Settings) -> None:
    """Validate ``email_exceptions`` and ``bugsnag`` (``config check``)."""
    mail_settings(settings)
    bugsnag_settings(settings)


def error_handler(settings: Settings) -> ErrorHandler:
    """The application's handler of unhandled exceptions: :func:`.http_errors.
    handle_unexpected`, reporting first to what ``settings`` configure.

    :raises ConfigError: a section cannot work.
    """
    reporters: list[ErrorMail | BugsnagReporter] = []
    mail = mail_settings(settings)
    if mail is not None:
        reporters.append(ErrorMail(mail))
    bugsnag = bugsnag_settings(settings)
    if bugsnag is not None:
        reporters.append(BugsnagReporter(bugsnag))
    if not reporters:
        return handle_unexpected

    def reporting(
        req: falcon.Request, resp: falcon.Response, exc: Exception, params: dict[str, Any]
    ) -> None:
        if not isinstance(exc, (falcon.HTTPError, falcon.HTTPStatus)):
            request_id = getattr(req.context, "request_id", "-")
            for reporter in reporters:
                try:
                    reporter.report(req, exc, request_id)
                except Exception:
                    log.exception("request %s: could not queue the error report", request_id)
        handle_unexpected(req, resp, exc, params)

    reporting.reporters = reporters  # type: ignore[attr-defined]
    return reporting
