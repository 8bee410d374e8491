"""GitHub mode on the hub side: provision at spawn with the student's token, show progress.

``configure_github_hub(c, settings)`` is meant to run after ``hubconfig.configure`` when
``repos.host == "github"``. It:

- wraps ``c.Spawner.pre_spawn_hook``: after the existing hook, the student's repository
  is provisioned with their own token (from the auth state) and the workspace's
  ``IMAD_REPO_*`` variables are set from the repository actually found or made (an
  existing fork may have another name); ``IMAD_GITHUB_URL`` names the only host the
  workspace may give the token to. The token itself is never put in the environment;
- makes the spawner show provisioning progress on the spawn page
  (``ProvisionProgressMixin``: "Forking ...", "Waiting for GitHub ...",
  "GitHub is busy, retrying in N s");
- tells the workspace where git credentials come from
  (``IMAD_CREDENTIAL_PROVIDER``, the workspace's ``credential_provider`` fallback);
- adds ``admin:auth_state!user`` to the ``user`` role and to ``server_token_scopes``, so a
  workspace's own token may read its owner's auth state (JupyterHub gives a server token
  only the scopes its owner holds).

Parts: ``CREDENTIAL_PROVIDER``, ``ProvisionProgressMixin``, ``with_progress``,
``provision_for_spawner``, ``configure_github_hub``.
"""

import asyncio
import importlib

from ..repohost import repo_host_for
from .auth import AUTH_STATE_SCOPE

CREDENTIAL_PROVIDER = "imad_extension.github.credentials:credential_provider"


class ProvisionProgressMixin:
    """Spawner mixin: ``progress()`` yields the events provisioning recorded, then the
    base spawner's own."""

    def imad_progress(self, event: dict):
        if not hasattr(self, "_imad_events"):
            self._imad_events = []
        self._imad_events.append(event)

    async def progress(self):
        sent = 0
        while True:
            events = getattr(self, "_imad_events", [])
            while sent < len(events):
                yield events[sent]
                sent += 1
            if getattr(self, "_imad_provisioned", False):
                break
            await asyncio.sleep(0.25)  # ends when the spawn does (JupyterHub stops iterating)
        async for event in super().progress():
            yield event


def with_progress(spawner_class):
    """``spawner_class`` (a class or its import string) with ``ProvisionProgressMixin``."""
    if isinstance(spawner_class, str):
        if "." not in spawner_class:  # an entry-point name such as "simple"
            return spawner_class
        module, _, name = spawner_class.rpartition(".")
        spawner_class = getattr(importlib.import_module(module), name)
    if issubclass(spawner_class, ProvisionProgressMixin):
        return spawner_class
    name = f"GitHub{spawner_class.__name__}"
    return type(name, (ProvisionProgressMixin, spawner_class), {"__module__": __name__})


async def provision_for_spawner(spawner, settings: dict, host=None):
    """Provision ``spawner.user``'s repository with their token; returns its ``RepoInfo``."""
    host = host or repo_host_for(settings)
    auth_state = await spawner.user.get_auth_state() or {}
    report = getattr(spawner, "imad_progress", None)
    try:
        info = await host.provision(
            spawner.user.name, auth_state.get("access_token"), progress=report
        )
    finally:
        spawner._imad_provisioned = True
    github_url = settings["auth"]["github"]["url"].rstrip("/") or "https://github.com"
    spawner.environment.update(
        {
            "IMAD_REPO_URL": info.clone_url,
            "IMAD_REPO_NAME": info.name,
            "IMAD_REPO_WEB_URL": info.web_url or "",
            "IMAD_BRANCH": info.default_branch,
            "IMAD_GITHUB_URL": github_url,
            "IMAD_CREDENTIAL_PROVIDER": CREDENTIAL_PROVIDER,
        }
    )
    return info


def _scopes_with(scopes, scope):
    scopes = list(scopes or [])
    return scopes if scope in scopes else scopes + [scope]


def configure_github_hub(c, settings: dict):
    """Hub-side GitHub mode (see the module docstring); call after ``hubconfig.configure``."""
    earlier = c.Spawner.pre_spawn_hook if "pre_spawn_hook" in c.Spawner else None
    host = repo_host_for(settings)  # one per hub: its write pacing is shared

    async def prepare_github_workspace(spawner):
        spawner._imad_events, spawner._imad_provisioned = [], False  # a fresh spawn
        if earlier is not None:
            result = earlier(spawner)
            if asyncio.iscoroutine(result):
                await result
        await provision_for_spawner(spawner, settings, host)

    c.Spawner.pre_spawn_hook = prepare_github_workspace
    if "spawner_class" in c.JupyterHub:
        c.JupyterHub.spawner_class = with_progress(c.JupyterHub.spawner_class)
    if "server_token_scopes" in c.Spawner and not callable(c.Spawner.server_token_scopes):
        c.Spawner.server_token_scopes = _scopes_with(
            c.Spawner.server_token_scopes, AUTH_STATE_SCOPE
        )
    roles = list(c.JupyterHub.load_roles) if "load_roles" in c.JupyterHub else []
    for role in roles:
        if role.get("name") == "user":
            role["scopes"] = _scopes_with(role.get("scopes", ["self"]), AUTH_STATE_SCOPE)
            break
    else:
        roles.append({"name": "user", "scopes": ["self", AUTH_STATE_SCOPE]})
    c.JupyterHub.load_roles = roles
    return c
