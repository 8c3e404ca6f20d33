"""Cross-site request forgery protection of the delete forms.

Browsers send HTTP Basic credentials with any request to the registry, a forged one from
another site too, so every POST must prove it comes from a page of the UI:

* a double-submit token: a random value in a cookie (``SameSite=Strict``, ``HttpOnly``,
  scoped to the UI's prefix) and the same value in the form's hidden field; another site
  can neither read the cookie nor make the browser send it;
* ``Origin`` (when the browser sends it) must name this registry's host, and
  ``Sec-Fetch-Site`` (when sent) must be ``same-origin``.

Nothing is kept on the server: any process of a scaled-out registry checks any form.
"""

from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import falcon

COOKIE = "registry_ui_csrf"
FIELD = "csrf"
#: Largest form body read (the delete forms send a token and nothing else).
MAX_FORM_BYTES = 4096
_TOKEN = re.compile(r"[0-9a-f]{64}")


class Forged(Exception):
    """A POST that does not come from a page of the UI; the message says what failed."""


def token(req: falcon.Request, resp: falcon.Response, path: str) -> str:
    """The request's token (set as a cookie when the browser has none yet).

    :param path: the UI's prefix, the cookie's path.
    """
    current = req.cookies.get(COOKIE)
    if isinstance(current, str) and _TOKEN.fullmatch(current):
        return current
    fresh = secrets.token_hex(32)
    resp.set_cookie(
        COOKIE,
        fresh,
        path=path,
        secure=req.scheme == "https",
        http_only=True,
        same_site="Strict",
    )
    return fresh


def read_form(req: falcon.Request) -> dict[str, str]:
    """The fields of a small urlencoded form (the first value of each).

    :raises Forged: not a form, or larger than :data:`MAX_FORM_BYTES`.
    """
    content_type = (req.content_type or "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise Forged("expected a form (application/x-www-form-urlencoded)")
    body = req.bounded_stream.read(MAX_FORM_BYTES + 1)
    if len(body) > MAX_FORM_BYTES:
        raise Forged("the form is too large")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise Forged("the form is not urlencoded ASCII") from None
    return {key: values[0] for key, values in parse_qs(text, keep_blank_values=True).items()}


def check(req: falcon.Request, form: dict[str, str]) -> None:
    """:raises Forged: the POST does not come from a page of the UI."""
    site = req.get_header("Sec-Fetch-Site")
    if site is not None and site.lower() not in ("same-origin", "none"):
        raise Forged(f"the form was sent from another site ({site})")
    origin = req.get_header("Origin")
    if origin is not None and urlsplit(origin).netloc != req.netloc:
        raise Forged(
            f"the form was sent from {origin}, not from this registry ({req.netloc}); "
            "a proxy in front must pass the Host header on"
        )
    cookie = req.cookies.get(COOKIE)
    sent = form.get(FIELD, "")
    if not isinstance(cookie, str) or not _TOKEN.fullmatch(cookie):
        raise Forged("the form's cookie is missing: reload the page and try again")
    if not hmac.compare_digest(cookie.encode(), sent.encode("ascii", "replace")):
        raise Forged("the form's token does not match: reload the page and try again")
