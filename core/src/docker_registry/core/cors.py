"""CORS on both APIs: the ``cors`` section (the seed's flask-cors keys) on Falcon's own middleware.

Falcon's middleware decides the ``Access-Control-Allow-Origin`` and ``-Credentials`` and
``-Expose-Headers`` of every answer; :class:`RegistryCORS` adds what flask-cors did and
Falcon does not: preflight ``OPTIONS`` answered before the authorize step (a browser
sends no credentials on a preflight), the configured methods, request headers and
``max_age``, ``send_wildcard``, ``always_send``, ``vary_header`` and ``resources``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import falcon

from .config import ConfigError, Settings

#: flask-cors's default methods.
DEFAULT_METHODS = ("GET", "HEAD", "POST", "OPTIONS", "PUT", "PATCH", "DELETE")
KEYS = (
    "origins",
    "methods",
    "headers",
    "expose_headers",
    "supports_credentials",
    "max_age",
    "send_wildcard",
    "always_send",
    "automatic_options",
    "vary_header",
    "resources",
)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True)
class CORSPolicy:
    """The validated ``cors`` section (see docs/configuration.md#cors)."""

    origins: str | frozenset[str]
    methods: tuple[str, ...]
    headers: tuple[str, ...] | None  # None: any header the preflight asks for
    expose_headers: tuple[str, ...]
    supports_credentials: bool
    max_age: int | None
    send_wildcard: bool
    always_send: bool
    automatic_options: bool
    vary_header: bool
    resources: tuple[re.Pattern[str], ...]

    def applies_to(self, path: str) -> bool:
        return any(pattern.match(path) for pattern in self.resources)


def _items(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",")]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value]
    else:
        raise ConfigError(
            f"expected a list of strings or one comma-separated string, got {value!r}",
            key=f"cors.{key}",
        )
    return [item for item in items if item]


def _flag(section: Mapping[str, Any], key: str, default: bool) -> bool:
    value = section.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    raise ConfigError(f"expected true or false, got {value!r}", key=f"cors.{key}")


def _tokens(values: list[str], key: str) -> tuple[str, ...]:
    for value in values:
        if not _TOKEN.match(value):
            raise ConfigError(f"{value!r} is not an HTTP method or header name", key=f"cors.{key}")
    return tuple(values)


def cors_policy(settings: Settings) -> CORSPolicy | None:
    """The CORS policy of ``settings``, or ``None`` when ``cors.origins`` is unset (off).

    :raises ConfigError: naming the ``cors.*`` key that cannot work.
    """
    section = settings.get("cors")
    if section is None or section == "":
        return None
    if not isinstance(section, Mapping):
        raise ConfigError(f"expected a mapping of CORS options, got {section!r}", key="cors")
    unknown = sorted(str(key) for key in section if key not in KEYS)
    if unknown:
        raise ConfigError(
            f"unknown CORS option(s) {', '.join(unknown)} (known: {', '.join(KEYS)})", key="cors"
        )
    raw_origins = section.get("origins")
    if raw_origins is None or raw_origins == "" or raw_origins == []:
        return None
    origins_list = _items(raw_origins, "origins")
    origins: str | frozenset[str]
    if "*" in origins_list:
        if len(origins_list) > 1:
            raise ConfigError(
                "'*' allows any origin: list origins or write '*' alone", key="cors.origins"
            )
        origins = "*"
    else:
        for origin in origins_list:
            if not re.match(r"^https?://[^/\s]+$", origin):
                raise ConfigError(
                    f"expected an origin such as https://ui.example.com (scheme, host, "
                    f"optional port, no path), got {origin!r}",
                    key="cors.origins",
                )
        origins = frozenset(origins_list)
    methods = section.get("methods")
    headers = section.get("headers")
    header_list = None if headers in (None, "") else _items(headers, "headers")
    max_age = section.get("max_age")
    if max_age in (None, ""):
        max_age = None
    elif isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        raise ConfigError(
            f"expected a number of seconds, 0 or more, got {max_age!r}", key="cors.max_age"
        )
    resources = section.get("resources")
    patterns = [r".*"] if resources in (None, "") else _items(resources, "resources")
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigError(
                f"not a regular expression: {pattern!r} ({exc})", key="cors.resources"
            ) from None
    return CORSPolicy(
        origins=origins,
        methods=_tokens(
            [m.upper() for m in _items(methods, "methods")]
            if methods not in (None, "")
            else list(DEFAULT_METHODS),
            "methods",
        ),
        headers=None
        if header_list is None or "*" in header_list
        else _tokens(header_list, "headers"),
        expose_headers=_tokens(
            []
            if section.get("expose_headers") in (None, "")
            else _items(section["expose_headers"], "expose_headers"),
            "expose_headers",
        ),
        supports_credentials=_flag(section, "supports_credentials", False),
        max_age=max_age,
        send_wildcard=_flag(section, "send_wildcard", False),
        always_send=_flag(section, "always_send", True),
        automatic_options=_flag(section, "automatic_options", True),
        vary_header=_flag(section, "vary_header", True),
        resources=tuple(compiled),
    )


class RegistryCORS(falcon.CORSMiddleware):
    """``falcon.CORSMiddleware`` with the seed's flask-cors options (module docstring).

    Put it first in the middleware list: a preflight is answered here, before the
    authorize step, and its answer carries no data.
    """

    def __init__(self, policy: CORSPolicy) -> None:
        credentials = None
        if policy.supports_credentials:
            credentials = "*"
        super().__init__(
            allow_origins=policy.origins,
            expose_headers=policy.expose_headers or None,
            allow_credentials=credentials,
        )
        self.policy = policy

    def _origin_allowed(self, origin: str | None) -> bool:
        return origin is not None and (self.policy.origins == "*" or origin in self.policy.origins)

    @staticmethod
    def _is_preflight(req: falcon.Request) -> bool:
        return (
            req.method == "OPTIONS"
            and req.get_header("Origin") is not None
            and req.get_header("Access-Control-Request-Method") is not None
        )

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not (
            self.policy.automatic_options
            and self._is_preflight(req)
            and self.policy.applies_to(req.path)
        ):
            return
        # NOTE: answered here, before AccessMiddleware: a preflight carries no
        # credentials and must not be challenged; it reveals nothing but the policy.
        resp.status = falcon.HTTP_200
        resp.complete = True
        if not self._origin_allowed(req.get_header("Origin")):
            return
        asked = (req.get_header("Access-Control-Request-Method") or "").upper()
        if asked not in self.policy.methods:
            return
        resp.set_header("Allow", ", ".join(self.policy.methods))
        req.context.cors_preflight = True

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        if not self.policy.applies_to(req.path):
            return
        policy = self.policy
        origin = req.get_header("Origin")
        if origin is None:
            if policy.always_send and policy.origins == "*" and not policy.supports_credentials:
                resp.set_header("Access-Control-Allow-Origin", "*")
            return
        preflight = self._is_preflight(req)
        if (
            preflight
            and policy.automatic_options
            and not getattr(req.context, "cors_preflight", False)
        ):
            return  # refused preflight: no CORS headers, the browser blocks the request
        super().process_response(req, resp, resource, req_succeeded or preflight)
        allowed_origin = resp.get_header("Access-Control-Allow-Origin")
        if allowed_origin is None:
            return
        if policy.send_wildcard and policy.origins == "*" and not policy.supports_credentials:
            resp.set_header("Access-Control-Allow-Origin", "*")
        elif policy.origins == "*" and not policy.supports_credentials:
            # NOTE: flask-cors echoes the origin unless send_wildcard is set.
            resp.set_header("Access-Control-Allow-Origin", origin)
        if policy.vary_header and resp.get_header("Access-Control-Allow-Origin") != "*":
            vary = resp.get_header("Vary")
            resp.set_header("Vary", "Origin" if not vary else f"{vary}, Origin")
        if preflight:
            resp.set_header("Access-Control-Allow-Methods", ", ".join(policy.methods))
            if policy.headers is not None:
                resp.set_header("Access-Control-Allow-Headers", ", ".join(policy.headers))
            if policy.max_age is not None:
                resp.set_header("Access-Control-Max-Age", str(policy.max_age))
            else:
                resp.delete_header("Access-Control-Max-Age")
