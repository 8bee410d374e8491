"""GitHub login: ``configure_github_auth`` on a traitlets config, and oauthenticator's real
GitHubOAuthenticator configured by it, talking OAuth to the fake GitHub."""
# ruff: noqa: F811

import secrets
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from traitlets.config import Config

from imad_extension.github.auth import AUTH_STATE_SCOPE, check_crypt_key, configure_github_auth
from imad_extension.roster import Roster
from imad_extension.settings import SettingsError, load_settings

from .fake_github.fixtures import fake_github  # noqa: F401

pytestmark = pytest.mark.timeout(60)
KEY = {"JUPYTERHUB_CRYPT_KEY": secrets.token_hex(32)}
BASE_ENV = {"GITHUB_CLIENT_ID": "cid", "GITHUB_CLIENT_SECRET": "secret", "IMAD_AUTH": "github"}


def configured(env=None, crypt=KEY, **github):
    settings = load_settings(environ={**BASE_ENV, **(env or {})})
    settings["auth"]["github"].update(github)
    c = Config()
    configure_github_auth(c, settings, Roster.from_settings(settings), environ=crypt)
    return c


@pytest.mark.parametrize(
    "env, github, expect",
    [
        pytest.param(
            {},
            {},
            {
                "github_url": "https://github.com",
                "github_api": "https://api.github.com",
                "scope": ["public_repo"],
            },
            id="github.com",
        ),
        pytest.param({}, {"private_repos": True}, {"scope": ["repo"]}, id="private-repos"),
        pytest.param(
            {"GITHUB_URL": "https://ghe.example.org"},
            {},
            {
                "github_url": "https://ghe.example.org",
                "github_api": "https://ghe.example.org/api/v3",
            },
            id="enterprise",
        ),
        pytest.param(
            {"GITHUB_URL": "https://ghe.example.org", "GITHUB_API": "https://api.ghe.example.org"},
            {},
            {"github_api": "https://api.ghe.example.org"},
            id="explicit-api",
        ),
        pytest.param(
            {"OAUTH_CALLBACK_URL": "https://hub.example.org/hub/oauth_callback"},
            {},
            {"oauth_callback_url": "https://hub.example.org/hub/oauth_callback"},
            id="callback",
        ),
        pytest.param(
            {"IMAD_PUBLIC_URL": "https://hub.example.org"},
            {},
            {"oauth_callback_url": "https://hub.example.org/hub/oauth_callback"},
            id="callback-from-public-url",
        ),
    ],
)
def test_configure_github_auth(env, github, expect):
    c = configured(env, **github)
    assert c.JupyterHub.authenticator_class == "github"
    a = c.GitHubOAuthenticator
    assert (a.client_id, a.client_secret) == ("cid", "secret")
    assert a.enable_auth_state is True and a.refresh_pre_spawn is True
    assert a.allowed_users == {"alice", "bob", "ta", "instructor"}
    for key, value in expect.items():
        assert a[key] == value, key


def test_missing_crypt_key_is_a_clear_error():
    with pytest.raises(
        SettingsError, match="JUPYTERHUB_CRYPT_KEY is not set.*openssl rand -hex 32"
    ):
        configured(crypt={})
    with pytest.raises(SettingsError, match="must be 32 bytes"):
        check_crypt_key({"JUPYTERHUB_CRYPT_KEY": "abc"})
    check_crypt_key({"JUPYTERHUB_CRYPT_KEY": f"{secrets.token_hex(32)};{secrets.token_hex(32)}"})


def test_missing_client_is_a_clear_error():
    settings = load_settings(environ={"IMAD_AUTH": "github"})
    with pytest.raises(SettingsError, match="GITHUB_CLIENT_ID.*oauth_callback"):
        configure_github_auth(Config(), settings, Roster.from_settings(settings), environ=KEY)


def test_auth_state_scope_constant():
    assert AUTH_STATE_SCOPE == "admin:auth_state!user"


class FakeUser:
    def __init__(self, name, auth_state):
        self.name = name
        self.auth_state = auth_state

    async def get_auth_state(self):
        return self.auth_state


def _authenticator(fake):
    from oauthenticator.github import GitHubOAuthenticator

    c = configured(
        {
            "GITHUB_URL": fake.url,
            "GITHUB_CLIENT_ID": fake.client_id,
            "GITHUB_CLIENT_SECRET": fake.client_secret,
            "OAUTH_CALLBACK_URL": "http://127.0.0.1:1/hub/oauth_callback",
        }
    )
    return GitHubOAuthenticator(config=c)


def _code(fake, login, scope):
    s = requests.Session()
    s.get(f"{fake.url}/session", params={"login": login}, timeout=10)
    r = s.get(
        f"{fake.url}/login/oauth/authorize",
        params={
            "client_id": fake.client_id,
            "redirect_uri": "http://127.0.0.1:1/hub/oauth_callback",
            "scope": scope,
            "state": "s",
        },
        allow_redirects=False,
        timeout=10,
    )
    return parse_qs(urlparse(r.headers["Location"]).query)["code"][0]


async def test_real_authenticator_against_the_fake(fake_github):
    auth = _authenticator(fake_github)
    assert auth.authorize_url == f"{fake_github.url}/login/oauth/authorize"
    assert auth.userdata_url == f"{fake_github.api_url}/user"
    code = _code(fake_github, "alice", " ".join(auth.scope))
    params = {
        "code": code,
        "grant_type": "authorization_code",
        "redirect_uri": auth.oauth_callback_url,
        "client_id": auth.client_id,
        "client_secret": auth.client_secret,
    }
    token_info = await auth.get_token_info(None, params)
    model = await auth._token_to_auth_model(token_info)
    assert model["name"] == "alice"
    assert model["auth_state"]["access_token"] == token_info["access_token"]
    assert fake_github.token_owner(token_info["access_token"])["scopes"] == ["public_repo"]
    assert await auth.check_allowed("alice", model)
    assert not await auth.check_allowed("mallory", {**model, "name": "mallory"})

    user = FakeUser("alice", model["auth_state"])
    assert (await auth.refresh_user(user))["name"] == "alice"
    fake_github.revoke(token_info["access_token"])
    assert await auth.refresh_user(user) is False  # 401 from GitHub: log in again


async def test_refresh_with_refresh_token(fake_github):
    fake_github.expiring_tokens = True
    auth = _authenticator(fake_github)
    code = _code(fake_github, "alice", "public_repo")
    params = {
        "code": code,
        "redirect_uri": auth.oauth_callback_url,
        "client_id": auth.client_id,
        "client_secret": auth.client_secret,
    }
    model = await auth._token_to_auth_model(await auth.get_token_info(None, params))
    old = model["auth_state"]["access_token"]
    assert model["auth_state"]["refresh_token"]
    fake_github.revoke(old)  # expired
    refreshed = await auth.refresh_user(FakeUser("alice", model["auth_state"]))
    new = refreshed["auth_state"]["access_token"]
    assert new != old and fake_github.token_owner(new)["login"] == "alice"
