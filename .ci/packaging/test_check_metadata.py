"""check_metadata refuses what an index refuses; runs first in `nox -s dist`."""

from __future__ import annotations

import email.parser

from check_metadata import problems

COMPLETE = """\
Metadata-Version: 2.4
Name: registry-driver-x
Version: 0.1.0
Project-URL: Homepage, https://example.org
License-Expression: Apache-2.0
License-File: LICENSE
Classifier: Programming Language :: Python :: 3
Requires-Python: >=3.11
Requires-Dist: registry-core<0.2,>=0.1
Requires-Dist: pytest>=8; extra == "test"
Description-Content-Type: text/markdown

# registry-driver-x
"""


def parse(text: str):
    return email.parser.Parser().parsestr(text)


def test_complete_metadata_passes():
    assert problems(parse(COMPLETE)) == []


def test_direct_reference_is_refused():
    text = COMPLETE.replace(
        "Requires-Dist: registry-core<0.2,>=0.1",
        "Requires-Dist: registry-core @ file:///work/core",
    )
    assert problems(parse(text)) == [
        "direct reference in Requires-Dist: registry-core @ file:///work/core"
    ]


def test_unversioned_in_repo_dependency_is_refused():
    text = COMPLETE.replace("registry-core<0.2,>=0.1", "registry-core")
    assert problems(parse(text)) == ["no version range on the in-repo dependency: registry-core"]


def test_each_missing_field_is_named():
    lines = [
        line
        for line in COMPLETE.splitlines(keepends=True)
        if not line.startswith(("License", "Classifier", "Project-URL", "Requires-Python"))
    ]
    assert problems(parse("".join(lines))) == [
        "no license (License-Expression)",
        "no license file (License-File)",
        "no classifiers",
        "no project URLs",
        "no Requires-Python",
    ]


def test_missing_readme_is_refused():
    text = COMPLETE.split("Description-Content-Type")[0] + "\n"
    assert problems(parse(text)) == ["no readme (Description and Description-Content-Type)"]
