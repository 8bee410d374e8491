"""Settings -> JupyterHub configuration: the one function every hub calls.

``configure(c, settings)`` writes JupyterHub's config object ``c`` from the classroom
settings (``imad_extension.settings``). It is a sequence of ``update_<section>(c, ...)``
calls, each only *setting* traits, so it is idempotent and the same function serves the
local hub (``jupyterhub_config.py``) and the z2jh hub (``hub.extraConfig``).

Sections: ``update_hub`` (ports, URLs, DB, secrets, proxy), ``update_auth`` (shared
password or GitHub OAuth), ``update_roster`` (cohorts as groups, roles and the
classroom's custom scopes), ``update_spawner`` (local processes or KubeSpawner, the
workspace's environment, repository provisioning), ``update_service`` (the classroom
service at ``/services/imad/``).
"""

import os
import secrets
import shutil
import sys
from pathlib import Path

from .repohost import repo_host_for
from .roster import Roster, ta_group
from .settings import CHECKOUT, app_url, ensure_password, to_env

SERVICE_SCOPES = {
    "custom:imad:apps": {
        "description": "View, publish, see the logs of and unpublish published apps"
        " (filters: !user, !user=<name>, !group=<cohort>).",
    },
    "custom:imad:dashboard": {
        "description": "See the classroom dashboard of cohorts (filter: !group=<cohort>).",
    },
    "custom:imad:audit": {
        "description": "Read the classroom's audit log.",
    },
    "custom:imad:roster": {
        "description": "Import the roster (cohorts, students, TAs).",
    },
}


def _secret_file(state_dir: Path, name: str, nbytes: int = 32) -> str:
    """A secret generated once into the state dir (mode 600), so restarts agree on it."""
    path = state_dir / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(nbytes))
    return path.read_text().strip()


def proxy_command(settings: dict) -> str:
    """configurable-http-proxy: the setting, else the checkout's npm copy, else PATH."""
    if settings["hub"]["proxy_command"]:
        return settings["hub"]["proxy_command"]
    local = CHECKOUT / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.exists():
        return str(local)
    return shutil.which("configurable-http-proxy") or "configurable-http-proxy"


def service_url(settings: dict) -> str:
    """Where workspaces reach the classroom service (internal URL, with its prefix)."""
    if settings["mode"] == "kubernetes":
        host = "hub"  # z2jh: the service runs in the hub pod, reached via the hub Service
    else:
        host = "127.0.0.1"
    return f"http://{host}:{settings['service']['port']}/services/{settings['service']['name']}/"


def update_hub(c, settings: dict):
    hub = settings["hub"]
    state = Path(settings["state_dir"])
    if settings["mode"] == "local":
        state.mkdir(parents=True, exist_ok=True)
        c.JupyterHub.bind_url = f"http://{hub['ip']}:{hub['port']}{hub['base_url']}"
        c.JupyterHub.hub_ip = "127.0.0.1"
        c.JupyterHub.hub_port = hub["api_port"]
        c.JupyterHub.db_url = hub["db_url"] or f"sqlite:///{state / 'jupyterhub.sqlite'}"
        c.JupyterHub.cookie_secret_file = hub["cookie_secret_file"] or str(
            state / "jupyterhub_cookie_secret"
        )
        c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
        c.ConfigurableHTTPProxy.command = [proxy_command(settings)]
        c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub['proxy_api_port']}"
        c.ConfigurableHTTPProxy.auth_token = _secret_file(state, "proxy_auth_token")
        c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")
    if hub["public_url"]:
        c.JupyterHub.public_url = hub["public_url"]


def update_auth(c, settings: dict, roster: Roster):
    kind = settings["auth"]["kind"]
    if kind == "shared-password":
        c.JupyterHub.authenticator_class = "shared-password"
        c.SharedPasswordAuthenticator.user_password = ensure_password(settings)
        c.SharedPasswordAuthenticator.allowed_users = set(roster.users)
    elif kind == "github":
        from .github.auth import configure_github_auth

        configure_github_auth(c, settings, roster)
    # Provision the student's repository at login (idempotent: cheap once done).
    c.Authenticator.post_auth_hook = _post_auth_hook(settings, roster)


def _post_auth_hook(settings: dict, roster: Roster):
    async def provision_at_login(authenticator, handler, authentication):
        name = authentication["name"]
        if name in roster.students and settings["repos"]["host"] == "local":
            await repo_host_for(settings).provision(name)
        return authentication

    return provision_at_login


def roles_for(settings: dict, roster: Roster) -> list[dict]:
    """JupyterHub roles: students act on themselves, TAs on their cohorts, instructors on all.

    - ``user`` (everyone who logs in): their own server, the classroom service, their own
      app (``custom:imad:apps!user``). Nothing about anyone else.
    - ``imad-instructor`` (``roster.instructors``): every user, server and group, and all
      the classroom's custom scopes (apps, dashboard, audit log, roster import).
    - ``imad-ta-<C>`` (held by the group ``ta:<C>``, so it follows the roster at runtime
      through the groups API): the hub admin page, cohort ``C``'s users and servers, and
      the classroom's scopes on ``C``'s apps and dashboard.
    - ``imad-service``: what the classroom service needs to read the hub and apply a
      roster (users, groups, servers).
    """
    service = f"access:services!service={settings['service']['name']}"
    roles = [
        {
            "name": "user",
            "description": "Students and staff: their own server, app and the classroom service.",
            "scopes": ["self", service, "custom:imad:apps!user"],
        },
        {
            "name": "server",
            "description": "A workspace's own token: its activity, its server, the classroom service.",
            "scopes": ["users:activity!user", "access:servers!server", service],
        },
        {
            "name": "imad-instructor",
            "description": "Instructors: every cohort, every workspace and app.",
            "scopes": [
                "admin-ui",
                "list:users",
                "read:users",
                "admin:users",
                "admin:servers",
                "access:servers",
                "read:groups",
                "list:groups",
                "admin:groups",
                "read:roles",
                *SERVICE_SCOPES,
            ],
            "users": list(roster.instructors),
        },
    ]
    for name in sorted(roster.cohorts):
        group = f"!group={name}"
        roles.append(
            {
                "name": f"imad-ta-{name}",
                "description": f"TAs of cohort {name}: its workspaces and apps.",
                "scopes": [
                    "admin-ui",
                    f"list:users{group}",
                    f"read:users{group}",
                    f"admin:servers{group}",
                    f"access:servers{group}",
                    f"read:groups{group}",
                    f"list:groups{group}",
                    f"custom:imad:apps{group}",
                    f"custom:imad:dashboard{group}",
                ],
                "groups": [ta_group(name)],
            }
        )
    roles.append(
        {
            "name": "imad-service",
            "description": "The classroom service: reads users, groups and servers; applies rosters.",
            "scopes": [
                "list:users",
                "read:users",
                "read:groups",
                "list:groups",
                "read:roles",
                "admin:servers",
                "admin:groups",
                "admin:users",
            ],
            "services": [settings["service"]["name"]],
        }
    )
    return roles


def update_roster(c, settings: dict, roster: Roster):
    # Groups are only added to at startup; a running hub is kept exactly in step with the
    # roster by ``roster_sync`` (roster import).
    c.JupyterHub.load_groups = roster.hub_groups()
    c.JupyterHub.custom_scopes = SERVICE_SCOPES
    c.JupyterHub.load_roles = roles_for(settings, roster)
    c.JupyterHub.default_url = _landing_page(settings)


def _landing_page(settings: dict):
    """Where people land after login: staff on the classroom dashboard, students in
    their workspace (JupyterHub's own default)."""
    dashboard = f"{settings['hub']['base_url']}services/{settings['service']['name']}/"

    def landing(handler):
        user = handler.current_user
        if user is None:
            return f"{settings['hub']['base_url']}hub/home"
        roles = {role.name for role in getattr(user, "roles", [])}
        groups = {group.name for group in getattr(user, "groups", [])}
        if "imad-instructor" in roles or any(g.startswith("ta:") for g in groups):
            return dashboard
        if user.spawner.active:
            return user.url
        return f"{settings['hub']['base_url']}hub/spawn"  # start the workspace, with progress

    return landing


def workspace_environment(settings: dict, username: str, home: str | None = None) -> dict:
    """The IMAD_* variables a student's workspace needs (no secrets in them)."""
    info = repo_host_for(settings).info(username)
    app_dir = settings["workspace"]["app_dir"]
    env = {
        "IMAD_REPO_URL": info.clone_url,
        "IMAD_REPO_NAME": info.name,
        "IMAD_REPO_WEB_URL": info.web_url or "",
        "IMAD_BRANCH": info.default_branch,
        "IMAD_SERVICE_URL": service_url(settings),
        "IMAD_APP_URL": app_url(settings, username),
        "IMAD_MAX_FILE_BYTES": str(settings["workspace"]["max_file_bytes"]),
        **{k: str(v) for k, v in settings["workspace"]["extra_env"].items()},
    }
    if home:
        env["IMAD_APP_DIR"] = str(Path(home) / app_dir)
    return env


def update_spawner(c, settings: dict, roster: Roster):
    ws = settings["workspace"]
    if ws["spawner"] == "kubernetes":
        from .spawner_kube import configure_kubespawner

        configure_kubespawner(c, settings)
    else:
        state = Path(settings["state_dir"])
        c.JupyterHub.spawner_class = "imad_extension.spawner_local.ReadyLocalProcessSpawner"
        c.SimpleLocalProcessSpawner.home_dir_template = str(state / "homes" / "{username}")
        c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
        c.Spawner.start_timeout = 60
        c.Spawner.http_timeout = 60
        if os.geteuid() == 0:
            # Local mode runs every workspace as the hub's own user (one machine, no
            # isolation); Jupyter Server refuses root unless told.
            c.Spawner.args = ["--allow-root"]
    c.Spawner.default_url = f"/lab/tree/{ws['app_dir']}/server.js"
    scopes = [
        "users:activity!user",
        "access:servers!server",
        f"access:services!service={settings['service']['name']}",
    ]
    if settings["auth"]["kind"] == "github":
        scopes.append("admin:auth_state!user")
    c.Spawner.server_token_scopes = scopes
    c.Spawner.pre_spawn_hook = _pre_spawn_hook(settings, roster)


def _pre_spawn_hook(settings: dict, roster: Roster):
    async def prepare_workspace(spawner):
        name = spawner.user.name
        host = repo_host_for(settings)
        if settings["repos"]["host"] == "local":
            await host.provision(name)
        home = getattr(spawner, "home_dir", None)
        spawner.environment.update(workspace_environment(settings, name, home))
        spawner.log.info("Workspace of %s: repository %s", name, host.info(name).clone_url)

    return prepare_workspace


def update_service(c, settings: dict):
    name = settings["service"]["name"]
    service = {
        "name": name,
        "url": f"http://127.0.0.1:{settings['service']['port']}",
        "command": [sys.executable, "-m", "imad_extension.service"],
        "environment": to_env(settings),
        "oauth_no_confirm": True,
        # What a browser session's token may carry to the dashboard: the classroom's own
        # scopes and the server actions it performs with the caller's own rights.
        "oauth_client_allowed_scopes": [*SERVICE_SCOPES, "admin:servers", "servers"],
        "display": True,
        "info": {"description": "IMAD Classroom: cohorts, workspaces and published apps"},
    }
    if settings["mode"] == "kubernetes":
        service["url"] = f"http://hub:{settings['service']['port']}"
    if settings["apps"]["publisher"] == "kubernetes":
        # JupyterHub starts managed services with a clean environment: hand on where the
        # cluster is (in a pod, its service-account files are found without these).
        for var in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
            if var in os.environ:
                service["environment"][var] = os.environ[var]
    c.JupyterHub.services = [service]


def configure(c, settings: dict):
    """Write JupyterHub's config ``c`` from the classroom ``settings``."""
    roster = Roster.from_settings(settings)
    update_hub(c, settings)
    update_auth(c, settings, roster)
    update_roster(c, settings, roster)
    update_spawner(c, settings, roster)
    update_service(c, settings)
    if settings["repos"]["host"] == "github":
        from .github.hub import configure_github_hub

        configure_github_hub(c, settings)
    return c
