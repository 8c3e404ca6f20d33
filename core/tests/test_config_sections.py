"""``config check`` refuses, in one line, what ``serve`` refuses; secrets stay masked."""

from __future__ import annotations

import subprocess

import pytest

SECRET = "hunter2-do-not-print"


def _one_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert SECRET not in result.stderr + result.stdout
    return lines[0]


BAD = {
    "privileged_key": (
        "privileged_key: /no/such/key.pem\n",
        ["key 'privileged_key'", "/no/such/key.pem"],
    ),
    "search_backend": ("search_backend: nosuchmod\n", ["key 'search_backend'", "nosuchmod"]),
    "mirroring.timeout": (
        "mirroring:\n  source: https://registry-1.docker.io\n  timeout: -1\n",
        ["key 'mirroring.timeout'"],
    ),
    "cors.max_age": ("cors:\n  origins: '*'\n  max_age: soon\n", ["key 'cors.max_age'"]),
    "email_exceptions.smtp_port": (
        f"email_exceptions:\n  smtp_host: mail\n  smtp_port: x\n  smtp_password: {SECRET}\n"
        "  smtp_login: registry\n",
        ["key 'email_exceptions.smtp_port'"],
    ),
    "email_exceptions.smtp_secure": (
        "email_exceptions:\n  smtp_host: mail\n  smtp_secure: /no/client.pem\n",
        ["key 'email_exceptions.smtp_secure'", "not a readable file"],
    ),
    "bugsnag": (
        f"bugsnag:\n  api_key: {SECRET}\n  endpoint: notify.example.com\n",
        ["key 'bugsnag.endpoint'"],
    ),
}


@pytest.mark.parametrize("key", sorted(BAD))
def test_config_check_refuses_what_serve_refuses(run_cli, write_config, tmp_path, key):
    text, needles = BAD[key]
    config = write_config(f"storage: file\nstorage_path: {tmp_path / 'data'}\n{text}")
    env = {"SETTINGS_FLAVOR": ""}
    _one_line(run_cli("config", "check", "--config", str(config), env=env), *needles)
    serve = run_cli(
        "serve",
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        env=env,
        timeout=60,
    )
    _one_line(serve, *needles)


def test_valid_sections_pass_and_secrets_are_masked(run_cli, write_config, tmp_path):
    config = write_config(
        f"storage: file\nstorage_path: {tmp_path / 'data'}\n"
        "cors:\n  origins: [https://ui.example.com]\n  headers: [Content-Type, Authorization]\n"
        "email_exceptions:\n  smtp_host: mail.example.com\n  smtp_port: 587\n"
        f"  smtp_login: registry\n  smtp_password: {SECRET}\n  smtp_secure: true\n"
        "  to_addr: ops@example.com\n"
        f"bugsnag: {SECRET}\n"
    )
    env = {"SETTINGS_FLAVOR": ""}
    check = run_cli("config", "check", "--config", str(config), env=env)
    assert check.returncode == 0, check.stderr
    show = run_cli("config", "show", "--config", str(config), env=env)
    assert show.returncode == 0, show.stderr
    assert SECRET not in show.stdout
    assert "smtp_password: '***'" in show.stdout and "bugsnag: '***'" in show.stdout
