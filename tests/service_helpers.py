"""A real JupyterHub (subprocess) running the classroom service as a managed service.

``ServiceHub`` writes a small ``jupyterhub_config.py``: dummy authenticator, users
alice and bob (cohort ``demo``), carol (cohort ``other``), ta (``custom:imad:apps!group=
demo``), instructor (admin), the ``imad`` service started by the hub with
``python -m imad_extension.service`` exactly as the classroom runs it, and a ``tester``
service allowed to issue tokens for users. Tests call the service through the hub's
proxy at ``/services/imad/`` with real user tokens.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from imad_extension.settings import CHECKOUT, to_env

from .publisher_helpers import free_port, make_settings

CONFIG = """
import json, sys
c = get_config()  # noqa
cfg = json.loads({cfg!r})
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = cfg["port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = cfg["hub_port"]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%d" % cfg["proxy_api_port"]
c.ConfigurableHTTPProxy.command = [cfg["chp"]]
c.JupyterHub.db_url = "sqlite:///" + cfg["dir"] + "/hub.sqlite"
c.JupyterHub.cookie_secret_file = cfg["dir"] + "/cookie_secret"
c.JupyterHub.pid_file = cfg["dir"] + "/hub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {{"alice", "bob", "carol", "ta"}}
c.Authenticator.admin_users = {{"instructor"}}
c.JupyterHub.load_groups = {{"demo": {{"users": ["alice", "bob"]}}, "other": {{"users": ["carol"]}}}}
c.JupyterHub.custom_scopes = {{"custom:imad:apps": {{"description": "published apps"}}}}
c.JupyterHub.load_roles = [
    {{"name": "user", "scopes": ["self", "access:services!service=imad"]}},
    {{"name": "ta-demo", "scopes": ["custom:imad:apps!group=demo"], "users": ["ta"]}},
    {{"name": "imad-service", "scopes": ["list:users", "read:users", "read:groups"], "services": ["imad"]}},
    {{"name": "tester", "scopes": ["admin:users", "tokens"], "services": ["tester"]}},
]
c.JupyterHub.services = [
    {{
        "name": "imad",
        "url": "http://127.0.0.1:%d" % cfg["service_port"],
        "command": [sys.executable, "-m", "imad_extension.service"],
        "environment": cfg["service_env"],
    }},
    {{"name": "tester", "api_token": cfg["tester_token"]}},
]
"""


class ServiceHub:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.settings = make_settings(self.root / "state", start_timeout=5)
        self.port = free_port()
        self.hub_port = free_port()
        self.tester_token = os.urandom(16).hex()
        cfg = {
            "dir": str(self.root),
            "port": self.port,
            "hub_port": self.hub_port,
            "proxy_api_port": free_port(),
            "chp": str(CHECKOUT / "node_modules" / ".bin" / "configurable-http-proxy"),
            "service_port": self.settings["service"]["port"],
            "service_env": to_env(self.settings),
            "tester_token": self.tester_token,
        }
        self.config_path = self.root / "jupyterhub_config.py"
        self.config_path.write_text(CONFIG.format(cfg=json.dumps(cfg)))
        self.log_path = self.root / "hub.log"
        self.proc = None
        self._tokens = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def service(self, path: str = "") -> str:
        return self.url("services/imad/" + path.lstrip("/"))

    def start(self, timeout=60):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAD_", "JUPYTERHUB_"))}
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(self.config_path)],
                cwd=self.root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.service("health"), timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"hub or service did not start:\n{self.tail_log()}")
            time.sleep(0.2)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)

    def tail_log(self, lines=60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def token(self, user: str, scopes=None) -> str:
        """A real hub token of ``user`` (all their permissions, or only ``scopes``)."""
        key = (user, tuple(scopes or ()))
        if key not in self._tokens:
            body = {"note": "test"}
            if scopes is not None:
                body["scopes"] = list(scopes)
            r = requests.post(
                self.url(f"hub/api/users/{user}/tokens"),
                headers={"Authorization": f"token {self.tester_token}"},
                json=body,
                timeout=10,
            )
            assert r.status_code == 201, r.text
            self._tokens[key] = r.json()["token"]
        return self._tokens[key]

    def call(self, method: str, path: str, token=None, **kw):
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"token {token}"
        return requests.request(method, self.service(path), headers=headers, timeout=30, **kw)
