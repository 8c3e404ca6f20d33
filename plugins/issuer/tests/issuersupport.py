"""Helpers of the issuer tests: accounts, access list, htpasswd files, Basic headers."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

SERVICE = "registry.test"
ISSUER = "registry.test-issuer"
PASSWORDS = {"alice": "alice-pw", "bob": "bob:pw", "admin": "admin-pw"}
ACCESS = [
    {"accounts": ["anonymous"], "repositories": ["public/**"], "actions": ["pull"]},
    {"accounts": ["alice"], "repositories": ["team/**"], "actions": ["pull", "push"]},
    {"accounts": ["bob"], "repositories": ["team/**"], "actions": ["pull"]},
    {
        "accounts": ["admin"],
        "repositories": ["**"],
        "actions": ["pull", "push", "delete", "catalog"],
    },
]


def write_htpasswd(path: Path, accounts: dict[str, str]) -> Path:
    if shutil.which("htpasswd") is None:
        pytest.fail("htpasswd is missing: apt-get install -y apache2-utils")
    for account, password in accounts.items():
        flags = "-cbB" if not path.exists() else "-bB"
        subprocess.run(
            ["htpasswd", flags, str(path), account, password], check=True, capture_output=True
        )
    return path


def basic(account: str, password: str | None = None) -> str:
    password = PASSWORDS[account] if password is None else password
    return "Basic " + base64.b64encode(f"{account}:{password}".encode()).decode()
