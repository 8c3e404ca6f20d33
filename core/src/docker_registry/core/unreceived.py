"""Answer a request whose body the server could not store, before any resource runs.

The body spool (:mod:`.spool`) never lets a failed write reach waitress, which would drop
the connection without a status: it removes its file, keeps the error and discards the
rest of the body. This middleware turns that error into the response, in the API's own
error envelope: ``507 Insufficient Storage`` for a full disk or quota
(:class:`~.storage.StorageFullError`), the usual JSON 503 for any other storage failure
(see :mod:`.http_errors`).
"""

from __future__ import annotations

import falcon

from .spool import unreceived_error


class UnreceivedBodyMiddleware:
    """Raise the spool's error for requests whose body was not stored.

    Placed after :class:`~.middleware.RequestContextMiddleware`, so that the answer
    carries the request id, and before routing, so that no resource sees an empty body
    in place of the one the client sent.
    """

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        error = unreceived_error(req.env.get("wsgi.input"))
        if error is not None:
            # NOTE: the app's StorageError handler turns it into the JSON answer.
            raise error
