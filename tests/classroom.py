"""A real local classroom for tests: JupyterHub + proxies + classroom service, on free ports.

``Classroom`` starts ``jupyterhub -f jupyterhub_config.py`` in a subprocess with its own
state dir and ports (the same command ``make run`` uses), and offers what tests need to
act like a person: log in through the login form, wait for a workspace, get a token,
fetch a student's app by host name (Python cannot resolve ``*.localhost``: it connects to
127.0.0.1 and sends the ``Host`` header).

Parts: ``free_port``, ``Classroom`` (``start``, ``stop``, ``login``, ``spawn``, ``token``,
``server_api``, ``fetch_app``), ``AppPoller`` (a client polling an app while it changes).
"""

import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_processes_mentioning(text: str):
    """SIGKILL every process whose command line or environment contains ``text``."""
    needle = text.encode()
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit() or int(pid_dir.name) == os.getpid():
            continue
        try:
            blob = (pid_dir / "cmdline").read_bytes() + (pid_dir / "environ").read_bytes()
        except OSError:
            continue
        if needle in blob:
            try:
                os.kill(int(pid_dir.name), 9)
            except OSError:
                pass


class Classroom:
    def __init__(self, state_dir: Path, extra_env: dict | None = None, roster: str | None = None):
        """``roster``: CSV text (``username,role,cohort``) to start with instead of the demo."""
        self.state_dir = Path(state_dir)
        self.roster = roster
        self.password = "test-" + secrets.token_hex(6)
        self.ports = {
            "IMAD_HUB_PORT": free_port(),
            "IMAD_HUB_API_PORT": free_port(),
            "IMAD_PROXY_API_PORT": free_port(),
            "IMAD_APPS_PORT": free_port(),
            "IMAD_APPS_API_PORT": free_port(),
            "IMAD_SERVICE_PORT": free_port(),
        }
        self.hub_url = f"http://127.0.0.1:{self.ports['IMAD_HUB_PORT']}/"
        self.apps_port = self.ports["IMAD_APPS_PORT"]
        self.extra_env = extra_env or {}
        self.proc = None
        self.log_path = self.state_dir / "hub-test.log"

    @property
    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAD_", "JUPYTERHUB_"))}
        env.update({k: str(v) for k, v in self.ports.items()})
        env.update(
            IMAD_STATE_DIR=str(self.state_dir),
            IMAD_PASSWORD=self.password,
            PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            **self.extra_env,
        )
        return env

    def start(self, timeout: float = 60):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.roster is not None:
            path = self.state_dir / "roster-start.csv"
            path.write_text(self.roster)
            self.extra_env.setdefault("IMAD_ROSTER", str(path))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(ROOT / "jupyterhub_config.py")],
            cwd=self.state_dir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited ({self.proc.returncode}):\n{self.tail_log()}")
            try:
                hub = requests.get(self.hub_url + "hub/login", timeout=2)
                service = requests.get(self.hub_url + "services/imad/health", timeout=2)
                if hub.status_code == 200 and service.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"hub not ready in {timeout}s:\n{self.tail_log()}")

    def tail_log(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, leave_apps: bool = False):
        """Stop the hub (and its proxy, service, workspaces); then, unless ``leave_apps``,
        every process still mentioning this state dir (published apps and the apps proxy
        are detached on purpose, so they outlive the hub)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        if not leave_apps:
            kill_processes_mentioning(str(self.state_dir))

    def url(self, path: str) -> str:
        return self.hub_url + path.lstrip("/")

    def login(self, user: str, password: str | None = None) -> requests.Session:
        """Log in through the hub's login form, as a browser does."""
        s = requests.Session()
        r = s.get(self.url("hub/login"), timeout=10)
        r.raise_for_status()
        xsrf = s.cookies.get("_xsrf") or re.search(r'name="_xsrf" value="([^"]+)"', r.text).group(1)
        r = s.post(
            self.url("hub/login"),
            data={"username": user, "password": password or self.password, "_xsrf": xsrf},
            allow_redirects=False,
            timeout=10,
        )
        s.login_response = r
        return s

    def hub_api(self, session: requests.Session, method: str, path: str, **kw):
        headers = kw.pop("headers", {})
        xsrf = session.cookies.get("_xsrf", path="/hub/")
        if xsrf:
            headers["X-XSRFToken"] = xsrf
        return session.request(method, self.url("hub/api/" + path), headers=headers, timeout=30, **kw)

    def token(self, session: requests.Session, user: str) -> str:
        r = self.hub_api(session, "POST", f"users/{user}/tokens", json={"note": "test"})
        r.raise_for_status()
        return r.json()["token"]

    def spawn(self, token: str, user: str, timeout: float = 90):
        """Start ``user``'s workspace (if needed) and wait until it answers."""
        h = {"Authorization": f"token {token}"}
        r = requests.post(self.url(f"hub/api/users/{user}/server"), headers=h, timeout=30)
        assert r.status_code in (201, 202, 400), r.text  # 400: already running
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = requests.get(self.url(f"user/{user}/api/status"), headers=h, timeout=10, allow_redirects=False)
            if r.status_code == 200:
                return
            time.sleep(0.3)
        raise TimeoutError(f"{user}'s workspace did not start:\n{self.tail_log()}")

    def server_api(self, token: str, user: str, method: str, path: str, **kw):
        h = {"Authorization": f"token {token}"}
        return requests.request(method, self.url(f"user/{user}/{path}"), headers=h, timeout=60, **kw)

    def fetch_app(self, host_user: str, path: str = "/", timeout: float = 5, host: str | None = None):
        host = host or f"{host_user}.apps.localhost:{self.apps_port}"
        return requests.get(
            f"http://127.0.0.1:{self.apps_port}{path}", headers={"Host": host}, timeout=timeout
        )


class AppPoller:
    """A client polling an app (``fetch()`` returns a response) every ``interval`` seconds
    in a thread, while the test republishes it: counts answers and failures and whether
    ``marker`` was seen. ``with AppPoller(fetch, marker) as poller: ...``."""

    def __init__(self, fetch, marker: str, interval: float = 0.01):
        self.fetch, self.marker, self.interval = fetch, marker, interval
        self.ok, self.failed, self.saw_marker = 0, [], False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                resp = self.fetch()
                if resp.status_code == 200:
                    self.ok += 1
                    self.saw_marker |= self.marker in resp.text
                else:
                    self.failed.append(resp.status_code)
            except requests.RequestException as e:
                self.failed.append(repr(e))
            time.sleep(self.interval)

    def wait_for_marker(self, timeout: float):
        deadline = time.monotonic() + timeout
        while not self.saw_marker and time.monotonic() < deadline:
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def __repr__(self):
        return f"AppPoller(ok={self.ok}, failed={self.failed[:5]}, saw_marker={self.saw_marker})"
