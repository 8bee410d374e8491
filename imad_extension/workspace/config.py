"""Configuration of the workspace extension: traitlets only.

Every option can be set in a Jupyter server config file (``c.ImadWorkspace.<name>``);
when it is not, it falls back to an environment variable that the hub's spawner sets
for each student's server (``IMAD_APP_DIR``, ``IMAD_REPO_URL``, ...), then to a default.

Parts: ``ImadWorkspace``.
"""

import os
import re
from pathlib import Path

from traitlets import Any, Dict, Float, Int, TraitError, Unicode, default, validate
from traitlets.config import Configurable


def _env(name: str, fallback: str = "") -> str:
    return os.environ.get(name) or fallback


def _env_int(name: str, fallback: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return fallback
    try:
        return int(raw)
    except ValueError:
        raise TraitError(f"{name}={raw!r} must be a whole number") from None


def _check_repo_url(url: str) -> str:
    if re.match(r"^[a-z][a-z0-9+.-]*://[^/@]+@", url, re.I):
        raise TraitError(
            "repo_url must not contain credentials (user:token@...): they would be "
            "written to .git/config; use credential_provider"
        )
    return url


def _check_branch(value: str) -> str:
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$", value) or ".." in value:
        raise TraitError(f"branch {value!r} is not a usable git branch name")
    return value


def _with_slash(url: str) -> str:
    return url if not url or url.endswith("/") else url + "/"


def _user() -> str:
    return os.environ.get("JUPYTERHUB_USER") or os.environ.get("USER") or "student"


class ImadWorkspace(Configurable):
    """Where the student's app lives, where it is pushed, and whom Publish asks."""

    app_dir = Unicode(
        config=True,
        help="""Folder of the student's git working copy of the course app.

        Default: $IMAD_APP_DIR, else ``~/app``. ``~`` is expanded. When the folder holds
        no working copy at start, the repository is cloned into it in the background;
        an existing folder is never modified or deleted.
        """,
    )

    @default("app_dir")
    def _default_app_dir(self):
        return _env("IMAD_APP_DIR", "~/app")

    repo_url = Unicode(
        config=True,
        help="""URL the working copy is cloned from and pushed to (``origin``).

        Default: $IMAD_REPO_URL. Local mode: the path of a bare repository; GitHub
        mode: the repository's https URL, without credentials (see
        ``credential_provider``).
        """,
    )

    @default("repo_url")
    def _default_repo_url(self):
        return _check_repo_url(_env("IMAD_REPO_URL"))

    @validate("repo_url")
    def _valid_repo_url(self, proposal):
        return _check_repo_url(proposal["value"])

    repo_web_url = Unicode(
        config=True,
        help="""A page for people showing the repository (e.g. on GitHub).

        Default: $IMAD_REPO_WEB_URL; may be empty (local mode has no such page).
        """,
    )

    @default("repo_web_url")
    def _default_repo_web_url(self):
        return _env("IMAD_REPO_WEB_URL")

    repo_name = Unicode(
        config=True,
        help="""Name of the repository shown to the student, e.g. ``alice/imad-app``.

        Default: $IMAD_REPO_NAME, else the last part of ``repo_url``.
        """,
    )

    @default("repo_name")
    def _default_repo_name(self):
        return _env("IMAD_REPO_NAME") or Path(self.repo_url.rstrip("/")).name

    branch = Unicode(
        config=True,
        help="""Branch the student commits to and publishes from.

        Default: $IMAD_BRANCH, else ``main``.
        """,
    )

    @default("branch")
    def _default_branch(self):
        return _check_branch(_env("IMAD_BRANCH", "main"))

    @validate("branch")
    def _valid_branch(self, proposal):
        return _check_branch(proposal["value"])

    service_url = Unicode(
        config=True,
        help="""Base URL of the classroom service, ending in ``/``.

        Default: $IMAD_SERVICE_URL, e.g. ``http://127.0.0.1:10101/services/imad/``.
        Publish calls ``POST <service_url>api/apps/<user>``. Empty: publishing is off
        (Publish answers 502 saying so).
        """,
    )

    @default("service_url")
    def _default_service_url(self):
        return _with_slash(_env("IMAD_SERVICE_URL"))

    @validate("service_url")
    def _valid_service_url(self, proposal):
        return _with_slash(proposal["value"])

    app_url = Unicode(
        config=True,
        help="""Public URL of the student's published app, shown in the workspace.

        Default: $IMAD_APP_URL (may be empty).
        """,
    )

    @default("app_url")
    def _default_app_url(self):
        return _env("IMAD_APP_URL")

    user = Unicode(
        config=True,
        help="""JupyterHub user name owning this workspace (whose app Publish acts on).

        Default: $JUPYTERHUB_USER, else $USER.
        """,
    )

    @default("user")
    def _default_user(self):
        return _user()

    max_file_bytes = Int(
        config=True,
        help="""Largest file (bytes) a commit accepts; a bigger one is refused (413).

        Default: $IMAD_MAX_FILE_BYTES, else 5 MiB (5242880).
        """,
    )

    @default("max_file_bytes")
    def _default_max_file_bytes(self):
        return _env_int("IMAD_MAX_FILE_BYTES", 5 * 1024 * 1024)

    max_message_chars = Int(
        4096,
        config=True,
        help="Longest commit message accepted (characters). Default: 4096. No env fallback.",
    )

    git_author_name = Unicode(
        config=True,
        help="""Author and committer name of the commits made from the workspace.

        Default: $IMAD_GIT_AUTHOR_NAME, else the JupyterHub user name ($JUPYTERHUB_USER).
        """,
    )

    @default("git_author_name")
    def _default_author_name(self):
        return _env("IMAD_GIT_AUTHOR_NAME", self.user)

    git_author_email = Unicode(
        config=True,
        help="""Author and committer email of the commits made from the workspace.

        Default: $IMAD_GIT_AUTHOR_EMAIL, else ``<user>@users.imad.invalid``.
        """,
    )

    @default("git_author_email")
    def _default_author_email(self):
        return _env("IMAD_GIT_AUTHOR_EMAIL", f"{self.user}@users.imad.invalid")

    fetch_interval = Float(
        10.0,
        config=True,
        help="""Seconds a fetch of ``origin`` is reused for ahead/behind counts.

        Default: 10. ``GET workspace?fetch=1`` fetches now regardless.
        """,
    )

    git_timeout = Float(
        120.0,
        config=True,
        help="Seconds any one git command (clone, fetch, push, ...) may take. Default: 120.",
    )

    clone_retry_interval = Float(
        15.0,
        config=True,
        help="""Seconds after a failed clone before ``GET workspace`` tries again.

        Default: 15 (e.g. the repository was still being provisioned).
        """,
    )

    service_timeout = Float(
        90.0,
        config=True,
        help="""Seconds to wait for the classroom service to answer (a publish waits
        until the app is live, up to about a minute). Default: 90.
        """,
    )

    git_env = Dict(
        config=True,
        help="""Extra environment variables for every git command (not secrets), e.g.
        ``{"GIT_SSL_CAINFO": "/etc/ssl/hub-ca.pem"}``. Default: none.
        """,
    )

    credential_provider = Any(
        None,
        allow_none=True,
        config=True,
        help="""Where git gets credentials for clone, fetch and push (GitHub mode).

        A callable, or its import string ``"package.module:function"``, called as
        ``provider(url)`` (may be async) before each network git command; it returns
        ``{"username": ..., "password": ...}`` or ``None`` (no credentials). The
        credential is handed to that one git process through an inherited pipe read by
        a ``credential.helper`` given on its command line, so it is never written to
        ``.git/config``, a file, the server's environment or a log, and other helpers
        (e.g. a credential store) are switched off for it.
        Default: $IMAD_CREDENTIAL_PROVIDER (an import string), else None (local mode).
        GitHub mode: ``imad_extension.github.credentials:credential_provider``.
        """,
    )

    @default("credential_provider")
    def _default_credential_provider(self):
        return _env("IMAD_CREDENTIAL_PROVIDER") or None
