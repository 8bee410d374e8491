"""configure(c, settings): what each mode writes, and that every trait it sets exists."""

import pytest
from jupyterhub.app import JupyterHub
from jupyterhub.auth import Authenticator
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from jupyterhub.proxy import ConfigurableHTTPProxy
from jupyterhub.spawner import SimpleLocalProcessSpawner, Spawner
from kubespawner import KubeSpawner
from oauthenticator.github import GitHubOAuthenticator
from traitlets.config import Config

from imad_extension.hubconfig import configure
from imad_extension.settings import SettingsError, load_settings
from imad_extension.spawner_local import ReadyLocalProcessSpawner

CLASSES = {
    cls.__name__: cls
    for cls in [JupyterHub, Authenticator, SharedPasswordAuthenticator, GitHubOAuthenticator,
                ConfigurableHTTPProxy, Spawner, SimpleLocalProcessSpawner, KubeSpawner,
                ReadyLocalProcessSpawner]
}  # fmt: skip
CRYPT_KEY = "ab" * 32


def make(tmp_path, monkeypatch, **env):
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", CRYPT_KEY) if env.pop("crypt", True) else None
    settings = load_settings(environ={"IMAD_STATE_DIR": str(tmp_path), "IMAD_PASSWORD": "pw-123456", **env})
    return configure(Config(), settings), settings


GITHUB = {"IMAD_AUTH": "github", "IMAD_REPO_HOST": "github", "GITHUB_CLIENT_ID": "id",
          "GITHUB_CLIENT_SECRET": "secret", "OAUTH_CALLBACK_URL": "https://hub.example/hub/oauth_callback"}  # fmt: skip


@pytest.mark.parametrize(
    "env, expect",
    [
        ({}, {"authenticator": "shared-password", "spawner": "ReadyLocalProcessSpawner"}),
        (GITHUB, {"authenticator": "github", "spawner": "SimpleLocalProcessSpawner"}),
        ({"IMAD_MODE": "kubernetes", **GITHUB}, {"authenticator": "github", "spawner": "KubeSpawner"}),
        ({"IMAD_MODE": "kubernetes", "GITHUB_CLIENT_ID": "id", "GITHUB_CLIENT_SECRET": "s",
          "OAUTH_CALLBACK_URL": "https://h/hub/oauth_callback"}, {"authenticator": "github", "spawner": "KubeSpawner"}),
    ],
    ids=["local", "github-local-workspaces", "kubernetes-github", "kubernetes-mode-defaults"],
)
def test_modes(tmp_path, monkeypatch, env, expect):
    c, settings = make(tmp_path, monkeypatch, **env)
    assert c.JupyterHub.authenticator_class == expect["authenticator"]
    spawner = c.JupyterHub.spawner_class  # GitHub mode mixes progress into the class
    names = [spawner] if isinstance(spawner, str) else [k.__name__ for k in spawner.__mro__]
    assert any(n.endswith(expect["spawner"]) for n in names), names
    # every trait set exists on its class: a typo would silently do nothing in JupyterHub
    for section, values in c.items():
        cls = CLASSES[section]
        unknown = set(values) - set(cls.class_trait_names())
        assert not unknown, f"{section}: {unknown}"
    service = c.JupyterHub.services[0]
    assert service["name"] == "imad" and service["command"][-1] == "imad_extension.service"


def test_local_roles_and_groups(tmp_path, monkeypatch):
    c, _ = make(tmp_path, monkeypatch)
    assert c.SharedPasswordAuthenticator.allowed_users == {"alice", "bob", "ta", "instructor"}
    assert c.SharedPasswordAuthenticator.user_password == "pw-123456"
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert "access:services!service=imad" in roles["user"]["scopes"]
    assert roles["imad-instructor"]["users"] == ["instructor"]
    assert "access:servers!group=demo" in roles["imad-ta-demo"]["scopes"]
    assert set(c.JupyterHub.load_groups["demo"]["users"]) >= {"alice", "bob"}
    assert "admin:auth_state!user" not in c.Spawner.server_token_scopes
    assert c.Spawner.default_url == "/lab/tree/app/server.js"


def test_github_needs_the_crypt_key(tmp_path, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_CRYPT_KEY", raising=False)
    with pytest.raises(SettingsError, match="JUPYTERHUB_CRYPT_KEY"):
        make(tmp_path, monkeypatch, crypt=False, **GITHUB)


def test_github_workspace_token_may_read_its_owners_auth_state(tmp_path, monkeypatch):
    c, _ = make(tmp_path, monkeypatch, **GITHUB)
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert "admin:auth_state!user" in roles["user"]["scopes"]
    assert "admin:auth_state!user" in c.Spawner.server_token_scopes
    assert c.GitHubOAuthenticator.enable_auth_state is True
    assert c.GitHubOAuthenticator.scope == ["public_repo"]


def test_configure_is_idempotent(tmp_path, monkeypatch):
    c1, settings = make(tmp_path, monkeypatch)
    c2 = configure(configure(Config(), settings), settings)
    assert c1.JupyterHub.load_roles == c2.JupyterHub.load_roles
    assert c1.JupyterHub.services == c2.JupyterHub.services
