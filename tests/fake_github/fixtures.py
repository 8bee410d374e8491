"""Pytest fixtures and helpers for the GitHub-mode tests (``tests/test_github_*.py``).

Test modules import the fixtures they use by name.

Parts: fixtures ``fake_github``, ``template``, ``student``, ``fake_hub``, ``github_host``;
helpers ``FakeHubAPI``, ``git``, ``TEMPLATE_FILES``.
"""

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web

import imad_extension
from imad_extension.github.repohost import GitHubRepoHost

from .server import FakeGitHub

TEMPLATE_DIR = Path(imad_extension.__file__).parent / "course_template"
TEMPLATE_FILES = {
    str(p.relative_to(TEMPLATE_DIR)): p.read_bytes() for p in TEMPLATE_DIR.rglob("*") if p.is_file()
}


def git(*args, cwd=None, env=None, check=True) -> subprocess.CompletedProcess:
    full = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        **(env or {}),
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=full, capture_output=True, text=True, check=check, timeout=60
    )


@pytest.fixture
def fake_github(tmp_path):
    fake = FakeGitHub(tmp_path / "github", fork_delay=0.2, generate_delay=0.1)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def template(fake_github):
    """The course template ``imad-course/imad-app`` (a template repository)."""
    return fake_github.create_repo(
        "imad-course", "imad-app", TEMPLATE_FILES, is_template=True, description="IMAD course app"
    )


@pytest.fixture
def student(fake_github):
    """Alice on the fake GitHub, with an OAuth token (``public_repo``)."""
    fake_github.add_user("alice", email="alice@example.invalid")
    return fake_github.issue_token("alice")["access_token"]


@pytest.fixture
def github_host(fake_github, template):
    """A ``GitHubRepoHost`` on the fake, with test-sized waits."""
    return GitHubRepoHost(
        github_url=fake_github.url,
        api_url=fake_github.api_url,
        template_repo=template.full_name,
        repo_name="imad-app",
        provision_timeout=5,
        poll_interval=0.05,
        poll_max_interval=0.4,
        retry_max_wait=10,
        retry_base=0.05,
        secondary_min_wait=0.2,
        write_interval=0.0,
    )


class FakeHubAPI:
    """``GET /hub/api/user`` and ``/hub/api/users/<name>`` of a JupyterHub 6: the first
    answers who the token's owner is (``auth_state`` always ``None``, as JupyterHub's
    whoami does), the second fills in ``auth_state`` for a token allowed to read it.

    ``tokens`` maps server tokens to user names; ``auth_states`` user names to their auth
    state (what GitHubOAuthenticator keeps); ``share_auth_state=False`` acts like a token
    without ``admin:auth_state!user``.
    """

    def __init__(self):
        self.tokens: dict[str, str] = {}
        self.auth_states: dict[str, dict] = {}
        self.share_auth_state = True
        self.calls = 0
        api = self

        class UserHandler(tornado.web.RequestHandler):
            def get(self, asked=None):
                api.calls += 1
                scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
                name = api.tokens.get(token) if scheme.lower() == "token" else None
                if name is None or (asked is not None and asked != name):
                    self.set_status(403 if name is None else 404)
                    self.finish({"status": self.get_status(), "message": "Not allowed"})
                    return
                model = {"kind": "user", "name": name, "auth_state": None}
                if asked is not None and api.share_auth_state:
                    model["auth_state"] = api.auth_states.get(name)
                self.set_header("Content-Type", "application/json")
                self.finish(json.dumps(model))

        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/hub/api"
        ready = threading.Event()

        def run():
            import asyncio

            asyncio.set_event_loop(asyncio.new_event_loop())
            self.loop = tornado.ioloop.IOLoop.current()
            server = tornado.httpserver.HTTPServer(
                tornado.web.Application(
                    [(r"/hub/api/user", UserHandler), (r"/hub/api/users/([^/]+)", UserHandler)]
                )
            )
            server.add_sockets(sockets)
            ready.set()
            self.loop.start()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)

    def stop(self):
        self.loop.add_callback(self.loop.stop)
        self.thread.join(10)

    def environ(self, server_token: str, github_url: str) -> dict:
        """The workspace environment the credential helper reads."""
        return {
            "JUPYTERHUB_API_URL": self.url,
            "JUPYTERHUB_API_TOKEN": server_token,
            "JUPYTERHUB_USER": self.tokens.get(server_token, ""),
            "IMAD_GITHUB_URL": github_url,
        }


@pytest.fixture
def fake_hub():
    hub = FakeHubAPI()
    yield hub
    hub.stop()
