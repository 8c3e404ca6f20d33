"""Helpers of the access-control tests (accounts, access list, htpasswd files)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

#: account -> password of every test account.
PASSWORDS = {
    "reader": "reader-pw",
    "writer": "writer-pw",
    "deleter": "deleter-pw",
    "admin": "admin-pw:with:colons",
    "lister": "lister-pw",
}

#: The access list of the matrix: team/** is private, public/** readable by anyone.
ACCESS = [
    {"accounts": ["anonymous"], "repositories": ["public/**"], "actions": ["pull"]},
    {"accounts": ["reader"], "repositories": ["team/**", "public/**"], "actions": ["pull"]},
    {
        "accounts": ["writer"],
        "repositories": ["team/**", "public/**"],
        "actions": ["pull", "push"],
    },
    {"accounts": ["deleter"], "repositories": ["team/**"], "actions": ["pull", "delete"]},
    {
        "groups": ["admins"],
        "repositories": ["**"],
        "actions": ["pull", "push", "delete", "catalog"],
    },
    {"accounts": ["lister"], "repositories": ["public/**"], "actions": ["pull", "catalog"]},
]


def write_htpasswd(path: Path, accounts: dict[str, str]) -> Path:
    """Write ``accounts`` with the real ``htpasswd -B`` (Debian apache2-utils)."""
    if shutil.which("htpasswd") is None:
        pytest.fail("htpasswd is missing: apt-get install -y apache2-utils")
    for index, (account, password) in enumerate(accounts.items()):
        flags = "-cbB" if index == 0 and not path.exists() else "-bB"
        subprocess.run(
            ["htpasswd", flags, str(path), account, password], check=True, capture_output=True
        )
    return path


def basic(account: str, password: str | None = None) -> dict[str, str]:
    password = PASSWORDS[account] if password is None else password
    token = base64.b64encode(f"{account}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
