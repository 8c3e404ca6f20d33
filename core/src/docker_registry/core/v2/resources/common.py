"""Helpers shared by the v2 resources: query parameters, pagination links."""

from __future__ import annotations

from urllib.parse import quote

import falcon

from ...inputs import MAX_NUMBER, excerpt, parse_number
from ..errors import PaginationInvalid
from ..tags import paginate


def page_params(req: falcon.Request) -> tuple[int | None, str | None]:
    """``n`` and ``last`` of a paginated request.

    :raises PaginationInvalid: ``n`` is not a non-negative integer of at most 63 bits.
    """
    raw = req.get_param("n")
    n = None
    if raw is not None and raw != "":
        n = parse_number(raw)
        if n is None:
            raise PaginationInvalid(
                f"n must be a non-negative integer of at most {MAX_NUMBER}, not {excerpt(raw)}"
            )
    return n, req.get_param("last") or None


def paged(req: falcon.Request, resp: falcon.Response, items: list[str], path: str) -> list[str]:
    """The requested page of ``items``; sets a ``Link`` header when more follow."""
    n, last = page_params(req)
    page, more = paginate(items, n, last)
    if more and page:
        resp.set_header(
            "Link", f'<{path}?n={len(page)}&last={quote(page[-1], safe="")}>; rel="next"'
        )
    return page
