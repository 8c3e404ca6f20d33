#!/usr/bin/env python3
"""The image's HEALTHCHECK: exit 0 when the registry in this container answers.

``registry-healthcheck`` asks ``/healthz`` (the process answers); ``registry-healthcheck
--ready`` asks ``/readyz`` (storage and every configured backend answer too). Either goes
to the port of ``$REGISTRY_PORT`` (default 5000) on loopback, so it works whatever
``$REGISTRY_HOST`` binds, as long as it includes loopback (``0.0.0.0`` does).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main(arguments: list[str]) -> int:
    path = "/readyz" if "--ready" in arguments else "/healthz"
    url = f"http://127.0.0.1:{os.environ.get('REGISTRY_PORT', '5000')}{path}"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        print(f"registry-healthcheck: {url}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"registry-healthcheck: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
