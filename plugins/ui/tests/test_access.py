"""Pages show only what the viewer may pull, decided by the registry's authorize step;
sign-in is the backend's own (HTTP Basic for htpasswd)."""

from __future__ import annotations

import base64
import json

import bcrypt
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

PASSWORDS = {"reader": "reader-pw", "deleter": "deleter-pw", "admin": "admin-pw"}
ACCESS = [
    {"accounts": ["anonymous"], "repositories": ["public/**"], "actions": ["pull"]},
    {"accounts": ["reader"], "repositories": ["team/**", "public/**"], "actions": ["pull"]},
    {"accounts": ["deleter"], "repositories": ["team/**"], "actions": ["pull", "delete"]},
    {"accounts": ["admin"], "repositories": ["**"], "actions": ["pull", "push", "delete"]},
]


def basic(account: str, password: str | None = None) -> dict[str, str]:
    secret = PASSWORDS[account] if password is None else password
    return {"Authorization": "Basic " + base64.b64encode(f"{account}:{secret}".encode()).decode()}


@pytest.fixture
def locked(make_ui, tmp_path):
    lines = [
        f"{account}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()}"
        for account, password in PASSWORDS.items()
    ]
    (tmp_path / "htpasswd").write_text("\n".join(lines) + "\n")
    ui = make_ui(
        push_headers=basic("admin"),
        auth_backend="htpasswd",
        delete_enabled=True,
        htpasswd={"path": str(tmp_path / "htpasswd"), "realm": "test registry", "access": ACCESS},
    )
    ui.push.image("public/tool", "1")
    ui.push.image("team/secret", "1")
    ui.push.image("other/hidden", "1")
    return ui


def test_anonymous_sees_only_public_repositories(locked):
    page = locked.get("/ui/")
    assert page.status_code == 200
    assert "public/tool" in page.text
    assert "team/secret" not in page.text and "other/hidden" not in page.text
    assert "1 repository you may pull" in page.text
    assert 'href="/ui/login"' in page.text
    searched = locked.get("/ui/", params={"q": "secret"}).text
    assert "team/secret" not in searched and "0 repositories matching" in searched
    assert locked.get("/ui/v2/public/tool").status_code == 200


def test_a_private_page_asks_for_basic_credentials(locked):
    for path in ("/ui/v2/team/secret", "/ui/v2/team/secret/manifests/1"):
        page = locked.get(path)
        assert page.status_code == 401
        assert page.headers["WWW-Authenticate"] == 'Basic realm="test registry"'
        assert "Sign in to see this page." in page.text
        assert "sha256:" not in page.text


def test_signed_in_viewers_see_what_their_account_may_pull(locked):
    page = locked.get("/ui/", headers=basic("reader"))
    assert "team/secret" in page.text and "public/tool" in page.text
    assert "other/hidden" not in page.text
    assert "Signed in as" in page.text and "reader" in page.text
    assert locked.get("/ui/v2/team/secret", headers=basic("reader")).status_code == 200
    refused = locked.get("/ui/v2/other/hidden", headers=basic("reader"))
    assert refused.status_code == 403 and "may not pull" in refused.text
    # an unknown repository the account may not pull is refused, not "not found"
    assert locked.get("/ui/v2/other/none", headers=basic("reader")).status_code == 403


def test_wrong_password_is_401_and_login_challenges_until_signed_in(locked):
    assert locked.get("/ui/", headers=basic("reader", "nope")).status_code == 401
    login = locked.get("/ui/login")
    assert login.status_code == 401 and login.headers["WWW-Authenticate"].startswith("Basic ")
    signed = locked.get("/ui/login", headers=basic("reader"))
    assert signed.status_code == 303 and signed.headers["Location"] == "/ui/"


def test_delete_buttons_only_for_viewers_who_may_delete(locked):
    reader = locked.get("/ui/v2/team/secret", headers=basic("reader"))
    assert reader.status_code == 200 and "Delete tag" not in reader.text
    deleter = locked.get("/ui/v2/team/secret", headers=basic("deleter"))
    assert "Delete tag" in deleter.text
    assert "registry_ui_csrf=" in deleter.headers["Set-Cookie"]
    manifest = locked.get("/ui/v2/team/secret/manifests/1", headers=basic("deleter"))
    assert "Delete manifest" in manifest.text


def test_a_reader_cannot_delete_even_with_a_valid_form(locked):
    page = locked.client.simulate_get("/ui/v2/team/secret", headers=basic("deleter"))
    token = page.cookies["registry_ui_csrf"].value
    answer = locked.client.simulate_post(
        "/ui/v2/team/secret/tags/1/delete",
        headers={**basic("reader"), "Content-Type": "application/x-www-form-urlencoded",
                 "Cookie": f"registry_ui_csrf={token}"},
        body=f"csrf={token}",
    )  # fmt: skip
    assert answer.status_code == 403 and "may not delete" in answer.text, answer.text
    assert locked.get("/ui/v2/team/secret", headers=basic("reader")).text.count(">1</a>") == 1


def test_bearer_mode_explains_that_the_ui_cannot_sign_in(make_ui, tmp_path):
    ui = make_ui(
        auth_backend="bearer",
        bearer={"realm": "https://auth.example.com/token", "service": "registry",
                "issuer": "issuer", "jwks": str(_empty_jwks(tmp_path))},
    )  # fmt: skip
    listing = ui.get("/ui/")
    assert listing.status_code == 200 and "Sign in" not in listing.text
    page = ui.get("/ui/v2/team/app")
    assert page.status_code == 401
    assert "WWW-Authenticate" not in page.headers
    assert "signs clients in with tokens" in page.text


def _empty_jwks(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True)
    jwk["kid"] = "test"
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return path
