"""Helpers for the publisher, entrypoint and service tests: real git repositories of tiny
Node apps, classroom settings on free ports in a temporary state dir, and HTTP requests
to app hosts (Python cannot resolve ``*.localhost``, so we connect to 127.0.0.1 and send
the ``Host`` header the proxy routes on).
"""

import copy
import http.client
import os
import socket
import subprocess
from pathlib import Path

from imad_extension.settings import CHECKOUT, DEFAULTS

ENTRYPOINT = CHECKOUT / "images" / "nodejs-student" / "entrypoint.sh"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Student",
    "GIT_AUTHOR_EMAIL": "student@imad.invalid",
    "GIT_COMMITTER_NAME": "Test Student",
    "GIT_COMMITTER_EMAIL": "student@imad.invalid",
}

# A server that answers "<message> <commit marker>" and stops cleanly on SIGTERM.
SERVER_JS = """\
const http = require("http");
const server = http.createServer((req, res) => {
  res.writeHead(200, {"Content-Type": "text/plain"});
  res.end(%(message)s);
});
server.listen(Number(process.env.PORT), () => console.log("listening on " + process.env.PORT));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
"""
PACKAGE_JSON = (
    '{"name": "test-app", "version": "1.0.0", "private": true, "scripts": {"start": %s}}\n'
)
# A lockfile with no packages: `npm ci` runs without the network.
EMPTY_LOCK = """{
  "name": "test-app",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {"": {"name": "test-app", "version": "1.0.0"}}
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git(*args, cwd=None) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def app_files(message="hello", start='"node server.js"', server=None, lock=False) -> dict:
    """The files of a tiny app answering ``message``."""
    import json

    files = {
        "package.json": PACKAGE_JSON % start,
        "server.js": server if server is not None else SERVER_JS % {"message": json.dumps(message)},
    }
    if lock:
        files["package-lock.json"] = EMPTY_LOCK
    return files


class StudentRepo:
    """A bare repository (what the local repo host keeps) plus a work tree to commit from."""

    def __init__(self, root: Path, name="alice"):
        self.work = Path(root) / f"{name}-work"
        self.bare = Path(root) / "repos" / f"{name}.git"
        self.work.mkdir(parents=True)
        git("init", "-q", "-b", "main", cwd=self.work)
        self.bare.parent.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--bare", "-b", "main", str(self.bare))

    def commit(self, files: dict, message="change", remove=()) -> str:
        for name in remove:
            (self.work / name).unlink()
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "-q", str(self.bare), "HEAD:main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


def make_settings(state_dir, **apps) -> dict:
    """Classroom settings in ``state_dir`` with the apps proxy on free ports."""
    settings = copy.deepcopy(DEFAULTS)
    settings["state_dir"] = str(state_dir)
    settings["apps"].update(port=free_port(), api_port=free_port(), start_timeout=10)
    settings["apps"].update(apps)
    settings["service"]["port"] = free_port()
    return settings


def get_app(settings, owner, path="/", timeout=5.0):
    """``(status, body)`` of a GET to ``owner``'s app through the apps proxy."""
    host = f"{owner}.{settings['apps']['domain']}:{settings['apps']['port']}"
    conn = http.client.HTTPConnection("127.0.0.1", settings["apps"]["port"], timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()
