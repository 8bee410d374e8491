"""GitHub login: GitHubOAuthenticator (oauthenticator) on JupyterHub's config object.

``configure_github_auth(c, settings, roster)`` sets, from ``auth.github.*``:

- the OAuth app: ``client_id``, ``client_secret``, ``oauth_callback_url``
  (``https://<hub>/hub/oauth_callback``);
- where GitHub is: ``github_url`` (GitHub Enterprise Server, or the tests' fake) and the
  API root (``github_api``);
- the least scopes that work: ``public_repo`` (fork/generate and push to a public
  repository), ``repo`` only when ``private_repos`` is on;
- ``enable_auth_state`` (the token is kept encrypted with ``JUPYTERHUB_CRYPT_KEY``,
  whose absence is a clear error here rather than a hub that starts without it);
- who may log in: the roster's users (instructors' and TAs' powers come from the
  classroom's roles, ``hubconfig.roles_for``);
- refresh: ``refresh_pre_spawn`` and a short ``auth_refresh_age``, so a revoked or
  expired token is noticed (and refreshed with the refresh token when GitHub issued one)
  before a workspace starts and when the workspace asks the hub for it.

The workspace reads the token through the hub API with its server token; that token
needs ``AUTH_STATE_SCOPE`` (``Spawner.server_token_scopes``) and, since a token only
gets scopes its owner holds, the ``user`` role needs it too (``USER_ROLE_SCOPES``).

Parts: ``AUTH_STATE_SCOPE``, ``USER_ROLE_SCOPES``, ``scopes_for``, ``check_crypt_key``,
``configure_github_auth``.
"""

import base64
import binascii
import os

from ..settings import SettingsError
from . import api_url_for

AUTH_STATE_SCOPE = "admin:auth_state!user"
USER_ROLE_SCOPES = [AUTH_STATE_SCOPE]  # add to the "user" role in GitHub mode


def scopes_for(settings: dict) -> list[str]:
    """GitHub OAuth scopes: ``repo`` for private repositories, else ``public_repo``."""
    return ["repo"] if settings["auth"]["github"]["private_repos"] else ["public_repo"]


def check_crypt_key(environ=None):
    """Raise ``SettingsError`` unless ``JUPYTERHUB_CRYPT_KEY`` holds usable 32-byte keys."""
    environ = os.environ if environ is None else environ
    raw = environ.get("JUPYTERHUB_CRYPT_KEY", "").strip()
    how = (
        "GitHub login keeps each student's GitHub token in JupyterHub's encrypted auth "
        "state, which needs JUPYTERHUB_CRYPT_KEY: set it to 32 random bytes, hex-encoded, "
        "e.g. export JUPYTERHUB_CRYPT_KEY=$(openssl rand -hex 32), and keep it (changing "
        "it logs everyone out). With z2jh: hub.config.CryptKeeper.keys or "
        "proxy.secretToken-like secret in hub.extraEnv."
    )
    if not raw:
        raise SettingsError(f"environment: JUPYTERHUB_CRYPT_KEY is not set. {how}")
    for key in raw.replace(",", ";").split(";"):
        key = key.strip()
        try:
            data = bytes.fromhex(key)
        except ValueError:
            try:
                data = base64.urlsafe_b64decode(key.encode())
            except (binascii.Error, ValueError):
                data = b""
        if len(data) != 32:
            raise SettingsError(
                f"environment: JUPYTERHUB_CRYPT_KEY must be 32 bytes, hex or base64 "
                f"encoded (one of its keys is {len(key)} characters). {how}"
            )


def _people(roster) -> set:
    """Everyone who may log in, from a ``Roster`` or the settings' roster dict."""
    if isinstance(roster, dict):
        cohorts = roster.get("cohorts", {}).values()
        users = {u for c in cohorts for k in ("students", "tas") for u in c.get(k, [])}
        return users | set(roster.get("instructors", []))
    return set(roster.users)


def configure_github_auth(c, settings: dict, roster, environ=None):
    """Set GitHubOAuthenticator on ``c`` from ``settings['auth']['github']`` and ``roster``."""
    environ = os.environ if environ is None else environ
    gh = settings["auth"]["github"]
    missing = [k for k in ("client_id", "client_secret") if not gh[k]]
    if missing:
        names = {"client_id": "GITHUB_CLIENT_ID", "client_secret": "GITHUB_CLIENT_SECRET"}
        raise SettingsError(
            "auth.kind is github but "
            + " and ".join(f"auth.github.{k} ({names[k]})" for k in missing)
            + " is not set: register an OAuth app on GitHub (Settings > Developer settings"
            " > OAuth Apps) with the callback URL https://<hub>/hub/oauth_callback; see"
            " docs/github.md."
        )
    check_crypt_key(environ)
    github_url = (gh["url"] or "https://github.com").rstrip("/")
    allowed = _people(roster)

    c.JupyterHub.authenticator_class = "github"
    a = c.GitHubOAuthenticator
    a.client_id = gh["client_id"]
    a.client_secret = gh["client_secret"]
    if gh["callback_url"]:
        a.oauth_callback_url = gh["callback_url"]
    elif settings["hub"]["public_url"]:
        base = settings["hub"]["base_url"].strip("/")
        prefix = f"/{base}" if base else ""
        a.oauth_callback_url = (
            f"{settings['hub']['public_url'].rstrip('/')}{prefix}/hub/oauth_callback"
        )
    a.github_url = github_url
    a.github_api = api_url_for(github_url, gh["api_url"])
    a.scope = scopes_for(settings)
    a.enable_auth_state = True
    a.allowed_users = allowed  # instructors and TAs get their powers from the roles
    # GitHub logins are case-insensitive; JupyterHub names are lower-case.
    a.refresh_pre_spawn = True
    a.auth_refresh_age = 300
    return c
