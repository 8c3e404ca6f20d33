"""Refuse built distributions that a package index would refuse or users could not install.

    python .ci/packaging/check_metadata.py dist/*.whl dist/*.tar.gz

One line per problem on stderr, exit 1 when there is any. Checked: no direct reference
(``name @ url``) in Requires-Dist, every ``registry-*`` dependency pinned to a version
range, and the metadata an index page needs (license, readme, classifiers, project URLs,
requires-python).
"""

from __future__ import annotations

import email.message
import email.parser
import re
import sys
import tarfile
import zipfile
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def read_metadata(path: Path) -> email.message.Message:
    """The core metadata of a wheel (``*.dist-info/METADATA``) or sdist (``PKG-INFO``)."""
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as wheel:
            name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            text = wheel.read(name).decode()
    else:
        with tarfile.open(path) as sdist:
            member = next(
                m
                for m in sdist.getmembers()
                if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
            )
            extracted = sdist.extractfile(member)
            assert extracted is not None
            text = extracted.read().decode()
    return email.parser.Parser().parsestr(text)


def problems(metadata: email.message.Message) -> list[str]:
    """What is missing or refused in one distribution's metadata (empty: publishable)."""
    found = []
    for requirement in metadata.get_all("Requires-Dist") or []:
        spec = requirement.split(";", 1)[0]
        if "@" in spec:
            found.append(f"direct reference in Requires-Dist: {requirement}")
            continue
        match = _NAME.match(spec)
        name = match.group(1) if match else spec
        if name.startswith("registry-") and not re.search(r"[<>=~!]", spec[len(name) :]):
            found.append(f"no version range on the in-repo dependency: {requirement}")
    if not (metadata.get("License-Expression") or metadata.get("License")):
        found.append("no license (License-Expression)")
    if not metadata.get_all("License-File"):
        found.append("no license file (License-File)")
    if not metadata.get("Description-Content-Type") or not metadata.get_payload().strip():
        found.append("no readme (Description and Description-Content-Type)")
    if not metadata.get_all("Classifier"):
        found.append("no classifiers")
    if not metadata.get_all("Project-URL"):
        found.append("no project URLs")
    if not metadata.get("Requires-Python"):
        found.append("no Requires-Python")
    return found


def main(paths: list[str]) -> int:
    if not paths:
        print("check_metadata: no distribution given", file=sys.stderr)
        return 1
    failed = False
    for path in map(Path, paths):
        for problem in problems(read_metadata(path)):
            print(f"{path.name}: {problem}", file=sys.stderr)
            failed = True
    if not failed:
        print(f"metadata OK: {len(paths)} distributions")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
