"""Classroom settings: defaults, then a YAML file, then the environment.

One nested dict describes a classroom; every component (hub configuration, classroom
service, workspace spawn environment) reads the same one. Layers, each only *setting*
keys, applied in order:

1. ``DEFAULTS`` below (local mode, the demo cohort), with ``MODE_DEFAULTS`` of the mode
   the later layers choose (``mode: kubernetes`` defaults to GitHub, KubeSpawner and the
   Kubernetes publisher);
2. a YAML file: ``IMAD_CONFIG`` or the ``config_file`` argument;
3. environment variables (``ENV_VARS``), e.g. ``IMAD_PASSWORD``, ``IMAD_STATE_DIR``.

``load_settings`` validates the result: an unknown key or a value of the wrong type is a
``SettingsError`` naming the key, where it came from, and what is expected.

The hub passes the resolved settings to the classroom service in ``IMAD_SETTINGS``
(JSON), so both always agree; ``load_settings`` takes that as a complete layer 1-3.

Parts: ``DEFAULTS``, ``MODE_DEFAULTS``, ``ENV_VARS``, ``SettingsError``, ``load_settings``,
``ensure_password``, ``app_url``, ``to_env``.
"""

import copy
import json
import os
import secrets
from pathlib import Path

from .names import DEFAULT_RESERVED, app_slug

CHECKOUT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent

# Keys whose values are free-form mappings (their inner keys are not checked).
FREE_FORM = {("roster", "cohorts"), ("workspace", "extra_env"), ("apps", "node_selector")}

DEFAULTS = {
    # local: one machine, no cloud. kubernetes: z2jh + KubeSpawner + apps as Deployments.
    "mode": "local",
    # Everything the classroom writes: hub DB, homes, repositories, apps, logs.
    "state_dir": str(CHECKOUT / "state"),
    "hub": {
        "ip": "127.0.0.1",
        "port": 8000,  # public port of the hub's proxy
        "api_port": 8081,  # the hub's own API (internal)
        "proxy_api_port": 8001,  # the hub proxy's REST API (internal)
        "base_url": "/",
        "public_url": "",  # e.g. https://hub.example.org; default http://<ip>:<port>
        "cookie_secret_file": "",  # default <state_dir>/jupyterhub_cookie_secret
        "db_url": "",  # default sqlite:///<state_dir>/jupyterhub.sqlite
        "proxy_command": "",  # configurable-http-proxy; default: the checkout's npm copy
    },
    "auth": {
        # shared-password (local) or github (GitHub OAuth)
        "kind": "shared-password",
        "password": "",  # IMAD_PASSWORD; generated once into <state_dir>/password
        "github": {
            "client_id": "",
            "client_secret": "",
            "callback_url": "",
            "url": "https://github.com",  # GitHub Enterprise Server: its URL
            "api_url": "",  # default https://api.github.com or <url>/api/v3
            "private_repos": False,  # True asks for the `repo` scope
        },
    },
    "roster": {
        "file": "",  # CSV: username,role,cohort; empty: the cohorts below
        "cohorts": {"demo": {"students": ["alice", "bob"], "tas": ["ta"]}},
        "instructors": ["instructor"],
    },
    "repos": {
        "host": "local",  # local (bare git under state_dir) or github
        "template": str(PACKAGE_DIR / "course_template"),  # local: a dir or a git repo
        "template_repo": "imad-course/imad-app",  # github: owner/name of the template
        "name": "imad-app",  # name of each student's repository
        "strategy": "fork",  # github: fork (the seed's way) or generate
        "branch": "main",
        "provision_timeout": 120,  # seconds to wait for a copy to have content
    },
    "apps": {
        "publisher": "local",  # local (processes + configurable-http-proxy) or kubernetes
        "domain": "apps.localhost",
        "scheme": "http",
        "port": 8080,  # public port of the apps proxy (local); 0 hides it in URLs
        "api_port": 8082,  # the apps proxy's REST API (local)
        "reserved": list(DEFAULT_RESERVED),
        "start_timeout": 15,  # seconds an app may take to answer on $PORT
        "log_lines": 200,  # lines of logs shown
        "log_max_bytes": 262144,  # bytes of logs kept per app
        "node_command": "node",
        "namespace": "imad-apps",
        "image": "imad/nodejs-student:0.1.0",
        "ingress_class": "nginx",
        "tls_secret": "",
        "cpu_limit": "500m",
        "memory_limit": "256Mi",
        "node_selector": {},
    },
    "workspace": {
        "spawner": "local",  # local (SimpleLocalProcessSpawner) or kubernetes
        "app_dir": "app",  # relative to the home
        "max_file_bytes": 5 * 1024 * 1024,  # largest file a commit accepts
        "image": "imad/singleuser:0.1.0",
        "cpu_guarantee": 0.1,
        "cpu_limit": 1.0,
        "mem_guarantee": "256M",
        "mem_limit": "1G",
        "storage": "1Gi",
        "extra_env": {},
    },
    "service": {
        "name": "imad",
        "port": 10101,
    },
}

# What `mode: kubernetes` changes in the defaults (before the YAML file and environment).
MODE_DEFAULTS = {
    "kubernetes": {
        "state_dir": "/srv/jupyterhub/imad",  # the hub pod's volume (z2jh hub.db PVC)
        "auth": {"kind": "github"},
        "repos": {"host": "github"},
        "apps": {"publisher": "kubernetes", "scheme": "https", "port": 0},
        "workspace": {"spawner": "kubernetes"},
    },
}

# environment variable -> (path of the key, type)
ENV_VARS = {
    "IMAD_MODE": (("mode",), str),
    "IMAD_STATE_DIR": (("state_dir",), str),
    "IMAD_PASSWORD": (("auth", "password"), str),
    "IMAD_AUTH": (("auth", "kind"), str),
    "IMAD_HUB_IP": (("hub", "ip"), str),
    "IMAD_HUB_PORT": (("hub", "port"), int),
    "IMAD_HUB_API_PORT": (("hub", "api_port"), int),
    "IMAD_PROXY_API_PORT": (("hub", "proxy_api_port"), int),
    "IMAD_PUBLIC_URL": (("hub", "public_url"), str),
    "IMAD_PROXY_COMMAND": (("hub", "proxy_command"), str),
    "IMAD_ROSTER": (("roster", "file"), str),
    "IMAD_REPO_HOST": (("repos", "host"), str),
    "IMAD_TEMPLATE": (("repos", "template"), str),
    "IMAD_APPS_DOMAIN": (("apps", "domain"), str),
    "IMAD_APPS_PORT": (("apps", "port"), int),
    "IMAD_APPS_API_PORT": (("apps", "api_port"), int),
    "IMAD_APPS_SCHEME": (("apps", "scheme"), str),
    "IMAD_SERVICE_PORT": (("service", "port"), int),
    "GITHUB_CLIENT_ID": (("auth", "github", "client_id"), str),
    "GITHUB_CLIENT_SECRET": (("auth", "github", "client_secret"), str),
    "OAUTH_CALLBACK_URL": (("auth", "github", "callback_url"), str),
    "GITHUB_URL": (("auth", "github", "url"), str),
    "GITHUB_API": (("auth", "github", "api_url"), str),
}

CHOICES = {
    ("mode",): ("local", "kubernetes"),
    ("auth", "kind"): ("shared-password", "github"),
    ("repos", "host"): ("local", "github"),
    ("repos", "strategy"): ("fork", "generate"),
    ("apps", "publisher"): ("local", "kubernetes"),
    ("apps", "scheme"): ("http", "https"),
    ("workspace", "spawner"): ("local", "kubernetes"),
}


class SettingsError(ValueError):
    """A bad classroom setting: says which key, from where, and what is expected."""


def _merge(base: dict, layer: dict, source: str, path=()):
    """Set ``layer``'s keys into ``base`` (in place), checking names and types."""
    if not isinstance(layer, dict):
        raise SettingsError(f"{source}: {'.'.join(path) or 'settings'} must be a mapping")
    for key, value in layer.items():
        here = path + (key,)
        dotted = ".".join(here)
        if path in FREE_FORM or path[:2] in FREE_FORM:
            base[key] = copy.deepcopy(value)
            continue
        if key not in base:
            known = ", ".join(sorted(base)) or "(none)"
            raise SettingsError(f"{source}: unknown setting {dotted!r}; known here: {known}")
        current = base[key]
        if isinstance(current, dict) and here not in FREE_FORM:
            _merge(current, value, source, here)
            continue
        if here in FREE_FORM:
            if not isinstance(value, dict):
                raise SettingsError(f"{source}: {dotted} must be a mapping")
            base[key] = copy.deepcopy(value)
            continue
        expected = type(current)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is int and isinstance(value, bool) or not isinstance(value, expected):
            raise SettingsError(
                f"{source}: {dotted} must be {expected.__name__}, not {type(value).__name__} ({value!r})"
            )
        if here in CHOICES and value not in CHOICES[here]:
            raise SettingsError(
                f"{source}: {dotted} is {value!r}; choose one of {', '.join(CHOICES[here])}"
            )
        base[key] = copy.deepcopy(value)


def _env_layer(environ) -> dict:
    layer: dict = {}
    for var, (path, kind) in ENV_VARS.items():
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise SettingsError(f"environment: {var}={raw!r} must be {kind.__name__}") from None
        node = layer
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return layer


def load_settings(config_file=None, environ=None) -> dict:
    """Resolve the classroom settings: defaults -> YAML file -> environment."""
    environ = os.environ if environ is None else environ
    settings = copy.deepcopy(DEFAULTS)
    if environ.get("IMAD_SETTINGS"):
        _merge(settings, json.loads(environ["IMAD_SETTINGS"]), "IMAD_SETTINGS")
        return settings
    config_file = config_file or environ.get("IMAD_CONFIG")
    layers = []
    if config_file:
        import yaml

        path = Path(config_file)
        if not path.exists():
            raise SettingsError(f"IMAD_CONFIG: {path} does not exist")
        layers.append((yaml.safe_load(path.read_text()) or {}, str(path)))
    layers.append((_env_layer(environ), "environment"))
    # The mode picks the defaults of the parts that vary by mode; layers may still
    # choose each part (e.g. GitHub repositories with local workspaces).
    mode = settings["mode"]
    for data, _ in layers:
        if isinstance(data, dict) and "mode" in data:
            mode = data["mode"]
    if mode in MODE_DEFAULTS:
        _merge(settings, MODE_DEFAULTS[mode], f"defaults of mode {mode}")
    for data, source in layers:
        _merge(settings, data, source)
    settings["state_dir"] = str(Path(settings["state_dir"]).expanduser().resolve())
    return settings


def ensure_password(settings: dict) -> str:
    """The shared password: ``auth.password`` if set, else generated once into the state dir."""
    if settings["auth"]["password"]:
        return settings["auth"]["password"]
    path = Path(settings["state_dir"]) / "password"
    if path.exists():
        password = path.read_text().strip()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(12)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
    settings["auth"]["password"] = password
    return password


def app_host(settings: dict, username: str) -> str:
    """``<slug>.<apps-domain>`` for ``username``."""
    return f"{app_slug(username, settings['apps']['reserved'])}.{settings['apps']['domain']}"


def app_url(settings: dict, username: str) -> str:
    """The public URL of ``username``'s app, e.g. ``http://alice.apps.localhost:8080/``."""
    apps = settings["apps"]
    port = apps["port"]
    default_port = {"http": 80, "https": 443}[apps["scheme"]]
    suffix = f":{port}" if port and port != default_port else ""
    return f"{apps['scheme']}://{app_host(settings, username)}{suffix}/"


def to_env(settings: dict) -> dict:
    """The environment that hands these settings to a child (the classroom service)."""
    return {"IMAD_SETTINGS": json.dumps(settings)}
