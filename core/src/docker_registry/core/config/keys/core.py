"""Keys of the core itself: storage, logging, limits, proxies, auth, operations.

Declared by the ``core`` plugin (:mod:`docker_registry.core.defaults`).
"""

from __future__ import annotations

from ..options import Option
from ..parsers import (
    GiB,
    MiB,
    boolean,
    checked_by_section,
    count,
    integer,
    log_format,
    loglevel,
    lowercase,
    mapping,
    proxy_headers,
    seconds,
    size,
    sweep_age,
    text,
)

STORAGE = Option(
    "storage",
    lowercase,
    "file",
    help="storage driver name (entry point in `docker_registry.drivers`), lower-cased; "
    "`local` = `file`, `azureblob` = `azure`",
)
STORAGE_PATH = Option(
    "storage_path",
    text,
    env="STORAGE_PATH",
    default_doc="(driver's default)",
    help="root of the stored data: a folder for `file`, a key prefix for object stores",
)
LOGLEVEL = Option(
    "loglevel",
    loglevel,
    "info",
    env="LOGLEVEL",
    help="Python logging level name (`debug`, `info`, `warn`/`warning`, `error`, "
    "`critical`), any case",
)
LOG_LEVEL = Option(
    "log_level",
    loglevel,
    default_doc="(`loglevel`)",
    help="the same, under the name the issue uses; wins over `loglevel` when set",
)
LOG_FORMAT = Option(
    "log_format",
    log_format,
    "text",
    env="LOG_FORMAT",
    help="`text` (the seed's lines) or `json` (one JSON object per line, for log shippers); "
    "see [operations.md](operations.md#logs)",
)
DEBUG = Option("debug", boolean, False, env="DEBUG", help="more detail in the `_ping` body")
STANDALONE = Option(
    "standalone",
    boolean,
    True,
    env="STANDALONE",
    help="serve the index API ourselves and do not ask an index for tokens",
)
ISSUE = Option("issue", text, '"docker-registry server"', help="body of `GET /`")
DISABLE_TOKEN_AUTH = Option(
    "disable_token_auth",
    boolean,
    False,
    env="DISABLE_TOKEN_AUTH",
    help="skip token checks (the default `auth_backend` becomes `open`)",
)
STORAGE_REDIRECT = Option(
    "storage_redirect",
    boolean,
    False,
    env="STORAGE_REDIRECT",
    help="answer layer downloads with a redirect to the driver's URL",
)
PRIVILEGED_KEY = Option(
    "privileged_key",
    text,
    env="PRIVILEGED_KEY",
    help="path of the RSA public key (PEM) of privileged requests (both APIs)",
)
AUTH_BACKEND = Option(
    "auth_backend",
    lowercase,
    env="AUTH_BACKEND",
    default_doc="`open` if `standalone` or `disable_token_auth`, else `token`",
    help="who may do what on both APIs: `open`, `token` (v1 index tokens), `htpasswd`, "
    "`bearer` (the Docker registry token protocol, JWTs), or a plugin's ([auth.md](auth.md))",
)
MAX_JSON_BODY_SIZE = Option(
    "max_json_body_size",
    size,
    1 * MiB,
    env="MAX_JSON_BODY_SIZE",
    default_doc="`1048576` (1 MiB)",
    help="largest JSON request body, bytes",
)
MAX_REQUEST_BODY_SIZE = Option(
    "max_request_body_size",
    size,
    64 * GiB,
    env="MAX_REQUEST_BODY_SIZE",
    default_doc="`68719476736` (64 GiB)",
    help="largest request body waitress accepts (layer uploads), bytes. Enforced by `serve` "
    "(waitress) only: under gunicorn or uWSGI (`docker_registry.core.wsgi:application`) set "
    "the server's own limit (nginx `client_max_body_size`, uWSGI `limit-post`)",
)
TRUSTED_PROXY = Option(
    "trusted_proxy",
    text,
    env="TRUSTED_PROXY",
    default_doc="(none: no proxy header believed)",
    help="address of the TLS proxy in front (or `*`); only from it are "
    "`trusted_proxy_headers` and `X-Request-Id` believed, from anyone else they are removed "
    "or replaced ([deploy.md](deploy.md), [operations.md](operations.md#logs))",
)
TRUSTED_PROXY_HEADERS = Option(
    "trusted_proxy_headers",
    proxy_headers,
    # NOTE: x-forwarded-for by default: failed logins are rate-limited per client address,
    # which behind a proxy only X-Forwarded-For carries (believed from trusted_proxy only).
    ["x-forwarded-proto", "x-forwarded-for"],
    help="headers believed from `trusted_proxy`: `x-forwarded-proto`, `x-forwarded-for`, "
    "`x-forwarded-host`, `x-forwarded-port`, `x-forwarded-by`, or `forwarded` alone",
)
TRUSTED_PROXY_COUNT = Option(
    "trusted_proxy_count",
    count,
    1,
    help="proxies trusted in a chain (`X-Forwarded-For` entries)",
)
SPOOL_SWEEP_AGE = Option(
    "spool_sweep_age",
    sweep_age,
    3600.0,
    env="SPOOL_SWEEP_AGE",
    default_doc="`3600` (1 hour)",
    help="spool and staging files (`*.body`, `*.tmp`) untouched this long are leftovers of "
    "a crash and removed, seconds; `0` never; at least `600` (see "
    "[below](#what-is-swept-when))",
)
SPOOL_SWEEP_INTERVAL = Option(
    "spool_sweep_interval",
    seconds,
    600.0,
    env="SPOOL_SWEEP_INTERVAL",
    help="seconds between two sweeps of the spool directory after the one at start-up; "
    "`0`: only at start-up",
)
METRICS = Option(
    "metrics",
    mapping,
    help="operations metrics section; see [operations.md](operations.md#metrics)",
)
METRICS_ENABLED = Option(
    "metrics.enabled",
    checked_by_section,
    False,
    env="METRICS_ENABLED",
    help="serve Prometheus metrics at `GET /metrics` on the registry's port, open to anyone "
    "(no repository names in it; restrict it at your proxy); see "
    "[operations.md](operations.md#metrics)",
)
READONLY = Option(
    "readonly",
    boolean,
    False,
    env="REGISTRY_READONLY",
    help="refuse every write of both APIs (v2 405 `UNSUPPORTED`, v1 503), reads unaffected; "
    "re-read on `SIGHUP`; see [operations.md](operations.md#read-only-mode)",
)
SHUTDOWN_TIMEOUT = Option(
    "shutdown_timeout",
    seconds,
    30.0,
    env="SHUTDOWN_TIMEOUT",
    help="seconds requests in flight may take to finish after `SIGTERM`/`SIGINT`; see "
    "[operations.md](operations.md#graceful-shutdown)",
)
CACHE_BACKEND = Option(
    "cache_backend",
    lowercase,
    default_doc="`redis` when `cache_lru.host` or `cache_lru.url` is set, else none",
    help="cache of small storage files, by the name a plugin offers (`registry-plugin-redis` "
    "offers `redis`); a name no installed plugin offers stops start-up",
)
CACHE_LRU = Option(
    "cache_lru",
    mapping,
    help="Redis LRU cache of small files (`registry-plugin-redis`, which declares its keys); "
    "on when `host` (or `url`) is set",
)

HTPASSWD_CACHE_SECONDS = Option(
    "htpasswd.cache_seconds",
    float,
    60.0,
    min=0,
    help="seconds a verified password is reused without a bcrypt check; `0`: never",
)
HTPASSWD_FAILED_LOGIN_WINDOW = Option(
    "htpasswd.failed_login_window",
    float,
    60.0,
    min=0,
    help="seconds a failed login counts",
)
HTPASSWD_MAX_FAILED_LOGINS = Option(
    "htpasswd.max_failed_logins",
    int,
    10,
    min=0,
    help="failed logins per client address within the window before it is answered "
    "429; `0`: no limit",
)
HTPASSWD: tuple[Option, ...] = (
    Option(
        "htpasswd.path",
        checked_by_section,
        env="HTPASSWD_PATH",
        default_doc="(required for `htpasswd`)",
        help="Apache htpasswd file of bcrypt entries (`htpasswd -B`), re-read when it changes",
    ),
    Option(
        "htpasswd.realm",
        checked_by_section,
        "docker-registry",
        help="realm of the `WWW-Authenticate: Basic` challenge",
    ),
    Option("htpasswd.groups", checked_by_section, help="group name -> list of accounts"),
    Option(
        "htpasswd.access",
        checked_by_section,
        default_doc="(none: nothing allowed)",
        help="rules `{accounts, groups, repositories, actions}`; see "
        "[auth.md](auth.md#htpasswd-http-basic-and-an-access-list)",
    ),
    HTPASSWD_MAX_FAILED_LOGINS,
    HTPASSWD_FAILED_LOGIN_WINDOW,
    HTPASSWD_CACHE_SECONDS,
)

BEARER_LEEWAY = Option(
    "bearer.leeway",
    float,
    60.0,
    min=0,
    help="seconds of clock skew allowed on `exp`, `nbf`, `iat`",
)
BEARER: tuple[Option, ...] = (
    Option(
        "bearer.realm",
        checked_by_section,
        env="BEARER_REALM",
        default_doc="(this registry's `token_issuer.path` when the issuer plugin is "
        "configured; else required)",
        help="URL of the token endpoint in the `Bearer` challenge "
        "([auth.md](auth.md#bearer-the-docker-registry-token-protocol))",
    ),
    Option(
        "bearer.service",
        checked_by_section,
        env="BEARER_SERVICE",
        default_doc="(required for `bearer`)",
        help="audience (`aud`) tokens must carry, and `service=` of the challenge",
    ),
    Option(
        "bearer.issuer",
        checked_by_section,
        env="BEARER_ISSUER",
        default_doc="(required for `bearer`)",
        help="issuer (`iss`) tokens must carry",
    ),
    Option(
        "bearer.rootcertbundle",
        checked_by_section,
        env="BEARER_ROOTCERTBUNDLE",
        help="PEM certificates whose keys sign tokens (key id as distribution computes it)",
    ),
    Option(
        "bearer.jwks",
        checked_by_section,
        env="BEARER_JWKS",
        help="JWKS file of keys that sign tokens (by `kid`)",
    ),
    Option(
        "bearer.algorithms",
        checked_by_section,
        default_doc="`RS256`, `RS384`, `RS512`, `ES256`, `ES384`, `ES512`, `EdDSA`",
        help="JWS algorithms accepted",
    ),
    BEARER_LEEWAY,
)

COORDINATION: tuple[Option, ...] = (
    Option(
        "coordination.backend",
        checked_by_section,
        "local",
        help="how the processes sharing this storage coordinate (the v1 image lock, one "
        "purge of stale uploads per interval, tag caches dropped when another process moves "
        "a tag): `local` (the workers of one host: file locks in `coordination.directory`) or "
        "`redis` (`registry-plugin-redis`: several hosts; see [deploy.md](deploy.md))",
    ),
    Option(
        "coordination.directory",
        checked_by_section,
        default_doc="(one per storage in the system temp directory)",
        help="(`local`): folder of the lock files; every process of the host on this storage "
        "must see the same one",
    ),
)

CORS: tuple[Option, ...] = (
    Option(
        "cors",
        checked_by_section,
        env="CORS_*",
        default_doc="(none: off)",
        help="CORS on both APIs, see [below](#cors-browsers-on-other-origins)",
    ),
    Option(
        "cors.origins",
        checked_by_section,
        default_doc="(none: off)",
        help="allowed origins: a list of `scheme://host[:port]`, or `'*'` for any (from the "
        "environment write `CORS_ORIGINS='\"*\"'`: a bare `*` is invalid YAML)",
    ),
    Option(
        "cors.methods",
        checked_by_section,
        default_doc="`GET, HEAD, POST, OPTIONS, PUT, PATCH, DELETE`",
        help="methods a preflight allows (`Access-Control-Allow-Methods`)",
    ),
    Option(
        "cors.headers",
        checked_by_section,
        default_doc="`*` (sample: `[Content-Type]`)",
        help="request headers a preflight allows; `*` echoes what the browser asks for. Add "
        "`Authorization` for authenticated clients",
    ),
    Option(
        "cors.expose_headers",
        checked_by_section,
        help="response headers scripts may read, e.g. "
        "`[Docker-Content-Digest, Location, X-Request-Id]`",
    ),
    Option(
        "cors.supports_credentials",
        checked_by_section,
        False,
        help="`Access-Control-Allow-Credentials: true` (the request's origin is echoed, never `*`)",
    ),
    Option(
        "cors.max_age",
        checked_by_section,
        help="seconds browsers may cache a preflight answer",
    ),
    Option(
        "cors.send_wildcard",
        checked_by_section,
        False,
        help="with `origins: '*'` and no credentials, answer `*` instead of echoing the origin",
    ),
    Option(
        "cors.always_send",
        checked_by_section,
        True,
        help="with `origins: '*'`, send `Access-Control-Allow-Origin: *` even without an "
        "`Origin` header",
    ),
    Option(
        "cors.automatic_options",
        checked_by_section,
        True,
        help="answer preflights here; `false` passes them to the routes (then they need the "
        "pull permission)",
    ),
    Option(
        "cors.vary_header",
        checked_by_section,
        True,
        help="add `Vary: Origin` when the answer names an origin",
    ),
    Option(
        "cors.resources",
        checked_by_section,
        default_doc="`.*`",
        help="regular expressions (one or a list) matched at the start of the path; CORS "
        "applies to matching paths only, e.g. `^/v2/`",
    ),
)

SMTP_PORT = Option("email_exceptions.smtp_port", integer, 25, min=1, max=65535, help="its port")

EMAIL_EXCEPTIONS: tuple[Option, ...] = (
    Option(
        "email_exceptions",
        checked_by_section,
        env="SMTP_*",
        default_doc="(none: off)",
        help="one mail per unhandled exception, see "
        "[below](#email_exceptions-one-mail-per-unhandled-exception)",
    ),
    Option(
        "email_exceptions.smtp_host",
        checked_by_section,
        default_doc="(none: off)",
        help="SMTP server",
    ),
    SMTP_PORT,
    Option(
        "email_exceptions.smtp_login",
        checked_by_section,
        help="`AUTH` after STARTTLS (when `smtp_secure` is set)",
    ),
    Option(
        "email_exceptions.smtp_password",
        checked_by_section,
        secret=True,
        help="its password",
    ),
    Option(
        "email_exceptions.smtp_secure",
        checked_by_section,
        False,
        help="`true`: STARTTLS, the server's certificate checked against the system CAs "
        "(`SSL_CERT_FILE` names another bundle); a file path: STARTTLS with that client "
        "certificate and key (one PEM); `{certfile, keyfile}`: the same in two files. Files "
        "must be readable",
    ),
    Option(
        "email_exceptions.from_addr",
        checked_by_section,
        "docker-registry@localdomain.local",
        help="sender",
    ),
    Option(
        "email_exceptions.to_addr",
        checked_by_section,
        "noise+dockerregistry@localdomain.local",
        help="recipient, or a list of them",
    ),
)

BUGSNAG: tuple[Option, ...] = (
    Option(
        "bugsnag",
        checked_by_section,
        env="BUGSNAG",
        secret=True,
        default_doc="(none: off)",
        help="Bugsnag API key, or `{api_key, endpoint, release_stage}`; see "
        "[below](#bugsnag-error-reports)",
    ),
    Option("bugsnag.api_key", checked_by_section, secret=True, help="the project's API key"),
    Option("bugsnag.endpoint", checked_by_section, help="notify endpoint (On-Premise)"),
    Option(
        "bugsnag.release_stage",
        checked_by_section,
        default_doc="(the flavor)",
        help="release stage of the reports",
    ),
)

NOTIFICATIONS: tuple[Option, ...] = (
    Option(
        "notifications",
        mapping,
        default_doc="(none: off)",
        help="send registry events to webhooks in CNCF distribution's envelope; see "
        "[operations.md](operations.md#notifications)",
    ),
    Option(
        "notifications.endpoints",
        checked_by_section,
        default_doc="`[]`",
        help="list of endpoints, each a mapping of the keys in the table below (`name` and "
        "`url` required)",
    ),
    Option(
        "notifications.queue_path",
        checked_by_section,
        default_doc="`<file storage>/.registry-staging/notifications`, else "
        "`$XDG_STATE_HOME/docker-registry/notifications`",
        help="local folder where events wait until delivered (survives restarts)",
    ),
    Option(
        "notifications.queue_max_events",
        checked_by_section,
        10000,
        help="events kept per endpoint; when full the oldest are dropped and the count is logged",
    ),
    Option(
        "notifications.source_addr",
        checked_by_section,
        default_doc="(the host name)",
        help="`source.addr` of every event (e.g. `registry-1.example.com:5000`)",
    ),
)

EXTENSIONS = Option(
    "extensions",
    checked_by_section,
    help="free-form section for third-party plugins (never checked)",
)

#: The keys above, top-level first.
OPTIONS: tuple[Option, ...] = (
    STORAGE,
    STORAGE_PATH,
    LOGLEVEL,
    LOG_LEVEL,
    LOG_FORMAT,
    DEBUG,
    STANDALONE,
    ISSUE,
    DISABLE_TOKEN_AUTH,
    STORAGE_REDIRECT,
    PRIVILEGED_KEY,
    AUTH_BACKEND,
    MAX_JSON_BODY_SIZE,
    MAX_REQUEST_BODY_SIZE,
    TRUSTED_PROXY,
    TRUSTED_PROXY_HEADERS,
    TRUSTED_PROXY_COUNT,
    SPOOL_SWEEP_AGE,
    SPOOL_SWEEP_INTERVAL,
    READONLY,
    SHUTDOWN_TIMEOUT,
    CACHE_BACKEND,
    CACHE_LRU,
    METRICS,
    METRICS_ENABLED,
    *HTPASSWD,
    *BEARER,
    *COORDINATION,
    *CORS,
    *EMAIL_EXCEPTIONS,
    *BUGSNAG,
    *NOTIFICATIONS,
    EXTENSIONS,
)
