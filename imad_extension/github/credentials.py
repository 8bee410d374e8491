"""Git credentials in the workspace: the owner's current GitHub token, asked from the hub.

The token lives only in JupyterHub's encrypted auth state. When git needs it, the
workspace asks the hub (``GET $JUPYTERHUB_API_URL/users/$JUPYTERHUB_USER`` with the server's own
``$JUPYTERHUB_API_TOKEN``, whose scopes include ``admin:auth_state!user``) and hands it
to that one git process; it is never written to ``.git/config``, a file, the
environment or a log. Asking each time means a token refreshed or replaced by a new
login is used at once.

Two ways to plug it in:

- ``credential_provider(url)`` (async): for the workspace's ``GitRunner``
  (``ImadWorkspace.credential_provider = "imad_extension.github.credentials:credential_provider"``),
  which passes the answer to git through a pipe;
- a git credential helper program: ``git -c credential.helper=
  -c credential.helper="!<python> -m imad_extension.github.credentials" ...``
  (``git_config_args()`` gives these arguments). It answers ``get`` on stdout, ignores
  ``store`` and ``erase``.

Either way the token is only given for the GitHub host the hub configured
(``$IMAD_GITHUB_URL``, else the host of ``$IMAD_REPO_URL``), over https (http only if
that URL itself is http, as in tests), never to any other host.

Parts: ``allowed_origin``, ``token_from_hub``, ``credential_provider``,
``helper_answer``, ``git_config_args``, ``is_auth_failure``, ``main``.
"""

import asyncio
import json
import os
import shlex
import sys
import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit

USERNAME = "x-access-token"  # GitHub accepts any user name with a token as password
LOGIN_AGAIN = (
    "GitHub did not accept your login (it expired or was revoked). Log out and log in "
    "again with GitHub, then try again: your work is safe in your workspace."
)


class NoToken(Exception):
    """The hub gave no usable token; the message says why (never contains a token)."""


def allowed_origin(environ=None) -> tuple[str, str] | None:
    """``(scheme, host[:port])`` the token may be sent to, or None."""
    environ = os.environ if environ is None else environ
    url = environ.get("IMAD_GITHUB_URL") or environ.get("IMAD_REPO_URL") or ""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    return parts.scheme, parts.netloc.rpartition("@")[2].lower()


def _origin_ok(url_or_fields, environ) -> bool:
    allowed = allowed_origin(environ)
    if allowed is None:
        return False
    if isinstance(url_or_fields, str):
        parts = urlsplit(url_or_fields)
        scheme, host = parts.scheme, parts.netloc.rpartition("@")[2].lower()
    else:
        scheme = url_or_fields.get("protocol", "")
        host = url_or_fields.get("host", "").lower()
    return (scheme, host) == allowed and scheme in ("https", "http")


def _hub_get(api_url: str, api_token: str, path: str, timeout: float) -> dict:
    request = urllib.request.Request(
        api_url.rstrip("/") + path,
        headers={"Authorization": f"token {api_token}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        raise NoToken(f"the hub answered {e.code} when asked for your GitHub login") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise NoToken(
            f"the hub could not be asked for your GitHub login ({type(e).__name__})"
        ) from None


def token_from_hub(environ=None, timeout: float = 10.0) -> str:
    """The owner's current GitHub token from the hub; raises ``NoToken`` with a reason.

    Asks ``GET /hub/api/users/<owner>``: JupyterHub fills ``auth_state`` there (for a
    token with ``admin:auth_state``), not in the ``/hub/api/user`` "whoami" answer.
    """
    environ = os.environ if environ is None else environ
    api_url = environ.get("JUPYTERHUB_API_URL")
    api_token = environ.get("JUPYTERHUB_API_TOKEN") or environ.get("JPY_API_TOKEN")
    if not api_url or not api_token:
        raise NoToken("not running in a JupyterHub server (no JUPYTERHUB_API_URL/TOKEN)")
    name = environ.get("JUPYTERHUB_USER") or _hub_get(api_url, api_token, "/user", timeout)["name"]
    model = _hub_get(api_url, api_token, f"/users/{quote(name, safe='')}", timeout)
    auth_state = model.get("auth_state")
    if not isinstance(auth_state, dict):
        raise NoToken(
            "the hub did not share your GitHub login with this server (its token needs the "
            "scope admin:auth_state!user); log out and log in again, or tell your instructor"
        )
    token = auth_state.get("access_token")
    if not isinstance(token, str) or not token or any(c in token for c in "\r\n\0"):
        raise NoToken("your GitHub login is missing; log out and log in again with GitHub")
    return token


async def credential_provider(url: str, environ=None):
    """For ``GitRunner``: ``{"username", "password"}`` for ``url``'s GitHub host, or None."""
    environ = os.environ if environ is None else environ
    if not _origin_ok(url, environ):
        return None
    try:
        token = await asyncio.to_thread(token_from_hub, environ)
    except NoToken as e:
        print(f"IMAD: no GitHub credentials: {e}", file=sys.stderr)
        return None
    return {"username": USERNAME, "password": token}


def parse_request(text: str) -> dict:
    """git's credential request (``key=value`` lines) as a dict."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value
    if "url" in fields and "host" not in fields:
        parts = urlsplit(fields["url"])
        fields.setdefault("protocol", parts.scheme)
        fields.setdefault("host", parts.netloc.rpartition("@")[2])
    return fields


def helper_answer(operation: str, request_text: str, environ=None) -> str:
    """What the helper prints for ``operation`` (``get``/``store``/``erase``)."""
    environ = os.environ if environ is None else environ
    if operation != "get":
        return ""  # nothing is ever stored, so nothing to store or erase
    fields = parse_request(request_text)
    if not _origin_ok(fields, environ):
        return ""
    token = token_from_hub(environ)
    return f"username={USERNAME}\npassword={token}\n"


def git_config_args(python: str | None = None) -> list[str]:
    """``-c`` arguments that make this module git's only credential helper."""
    command = f"{shlex.quote(python or sys.executable)} -m imad_extension.github.credentials"
    return ["-c", "credential.helper=", "-c", f"credential.helper=!{command}"]


def is_auth_failure(git_output: str) -> bool:
    """Whether git failed because GitHub refused the credentials (log in again)."""
    text = git_output.lower()
    return (
        "authentication failed" in text
        or "invalid username or token" in text
        or "could not read username" in text
        or "could not read password" in text
    )


def main(argv=None, stdin=None, stdout=None, environ=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    operation = argv[0] if argv else ""
    request = stdin.read()
    try:
        stdout.write(helper_answer(operation, request, environ))
    except NoToken as e:
        print(f"IMAD: no GitHub credentials: {e}", file=sys.stderr)
    stdout.flush()
    return 0  # git falls back to "no credentials" and reports the failure itself


if __name__ == "__main__":
    sys.exit(main())
