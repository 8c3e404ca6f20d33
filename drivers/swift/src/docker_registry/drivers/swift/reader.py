"""Reading Swift's answers: SLO headers, dates, and a second look at a 404."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from .connection import status_of

_Result = TypeVar("_Result")


def is_slo(headers: Mapping[str, str]) -> bool:
    return headers.get("x-static-large-object", "").lower() == "true"


def http_date(value: str | None) -> float | None:
    return parsedate_to_datetime(value).timestamp() if value else None


def iso_date(value: str | None) -> float | None:
    if not value:
        return None
    return float(calendar.timegm(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")))


def once_more_on_404(call: Callable[..., _Result], *args: Any, **kwargs: Any) -> _Result:
    """Call ``call``; on a 404, call it once more before believing it.

    An object server replacing an object removes the old ``.data`` file right after
    renaming the new one in; a GET that listed the directory in between answers 404
    although the object exists (seen with one replica). A second look finds the new
    version; a real 404 costs one more request.
    """
    try:
        return call(*args, **kwargs)
    except Exception as exc:
        if status_of(exc) != 404:
            raise
    return call(*args, **kwargs)
