"""Publish, app status and unpublish: the workspace's client of the classroom service.

The classroom service is another component; here a small real tornado HTTP server
answers exactly as docs/api.md ("Classroom service API") says, so this is the contract
test of the client: what the workspace sends (path, token, body) and how it passes the
service's answers and errors on. The end-to-end test with the real service is elsewhere.
"""

# pytest fixtures are imported by name from workspace_helpers:
# ruff: noqa: F401, F811

import json
import re
import socket

import pytest
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from .workspace_helpers import (
    api,
    app_dir,
    bare_repo,
    branch_sha,
    git,
    jp_asyncio_loop,
    jp_server_config,
    push_change,
    wait_ready,
    workspace_config,
    workspace_overrides,
)

pytestmark = pytest.mark.timeout(60)

HUB_TOKEN = "server-hub-token-0123"
APP_URL = "http://alice.apps.localhost:8080/"


class FakeService:
    """State of the fake classroom service: apps by owner, and the calls it got."""

    def __init__(self):
        self.apps = {}
        self.calls = []
        self.fail_with = None  # (status, message) to answer every call with


class AppHandler(tornado.web.RequestHandler):
    def initialize(self, service):
        self.service = service

    def answer(self, status, body):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def error(self, status, reason, message):
        self.answer(status, {"error": reason, "message": message, "status": status})

    def prepare(self):
        self.service.calls.append(
            (self.request.method, self.request.path, self.request.headers.get("Authorization"))
        )
        if self.service.fail_with:
            status, message = self.service.fail_with
            self.error(status, "failed", message)
        elif self.request.headers.get("Authorization") != f"token {HUB_TOKEN}":
            self.error(401, "unauthorized", "no or invalid token")

    def check_owner(self, owner):
        if owner != "alice":
            self.error(403, "forbidden", f"you may not act on the app of {owner}")
            return False
        return True

    def get(self, owner):
        if not self.check_owner(owner):
            return
        if owner not in self.service.apps:
            return self.error(404, "not_found", f"{owner} has no app")
        self.answer(200, self.service.apps[owner])

    def post(self, owner):
        if not self.check_owner(owner):
            return
        try:
            body = json.loads(self.request.body)
        except ValueError:
            return self.error(400, "bad_request", "body is not JSON")
        commit = body.get("commit") if isinstance(body, dict) else None
        if not isinstance(commit, str) or not re.fullmatch(r"[0-9a-f]{40}", commit):
            return self.error(400, "bad_request", "commit must be 40 hex digits")
        app = {
            "owner": owner,
            "slug": owner,
            "url": APP_URL,
            "status": "live",
            "commit": commit,
            "logs": ["> node server.js", "listening on 8080"],
            "published_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }
        self.service.apps[owner] = app
        self.answer(200, app)

    def delete(self, owner):
        if not self.check_owner(owner):
            return
        self.service.apps.pop(owner, None)
        self.answer(
            200,
            {
                "owner": owner,
                "slug": owner,
                "url": APP_URL,
                "status": "unpublished",
                "commit": None,
                "logs": [],
                "published_at": None,
                "updated_at": "2024-01-01T00:00:01Z",
            },
        )


@pytest.fixture
async def fake_service():
    service = FakeService()
    app = tornado.web.Application(
        [(r"/services/imad/api/apps/([^/]+)", AppHandler, {"service": service})]
    )
    sock, port = bind_unused_port()
    server = HTTPServer(app)
    server.add_sockets([sock])
    service.url = f"http://127.0.0.1:{port}/services/imad/"
    yield service
    server.stop()
    await server.close_all_connections()


@pytest.fixture
def workspace_overrides(fake_service, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", HUB_TOKEN)
    return {"service_url": fake_service.url, "service_timeout": 10.0}


async def test_publish_commits_pushes_and_calls_the_service(
    jp_fetch, fake_service, app_dir, bare_repo
):
    await wait_ready(jp_fetch)
    code, app = await api(jp_fetch, "GET", "app")
    assert code == 200, app
    assert app["status"] == "unpublished" and app["commit"] is None and app["url"] == APP_URL

    (app_dir / "server.js").write_text("// published\n")
    code, answer = await api(jp_fetch, "POST", "publish", {"message": "Ready to go"})
    assert code == 200, answer
    head = branch_sha(bare_repo)  # committed and pushed before publishing
    assert answer["committed"] == head
    assert git("--git-dir", bare_repo, "log", "-1", "--format=%s", "main") == "Ready to go"
    assert answer["status"] == "live" and answer["commit"] == head
    assert answer["url"] == APP_URL and answer["logs"][-1] == "listening on 8080"
    method, path, auth = fake_service.calls[-1]
    assert (method, path, auth) == ("POST", "/services/imad/api/apps/alice", f"token {HUB_TOKEN}")

    code, app = await api(jp_fetch, "GET", "app")
    assert code == 200 and app["status"] == "live" and app["commit"] == head

    code, app = await api(jp_fetch, "DELETE", "app")
    assert code == 200, app
    assert app == {**app, "status": "unpublished", "commit": None, "logs": [], "url": APP_URL}
    assert fake_service.calls[-1][0] == "DELETE"


async def test_publish_without_message_pushes_local_commits(
    jp_fetch, fake_service, app_dir, bare_repo
):
    await wait_ready(jp_fetch)
    (app_dir / "server.js").write_text("// committed in a terminal\n")
    git("commit", "-qam", "from the terminal", cwd=app_dir)
    (app_dir / "draft.txt").write_text("not committed\n")
    code, answer = await api(jp_fetch, "POST", "publish")  # no body at all
    assert code == 200, answer
    local = git("rev-parse", "HEAD", cwd=app_dir)
    assert answer["commit"] == local == branch_sha(bare_repo)
    assert answer["committed"] is None and answer["uncommitted_changes"] == 1


async def test_publish_rebases_when_the_repository_moved_on(
    jp_fetch, fake_service, app_dir, bare_repo, tmp_path
):
    await wait_ready(jp_fetch)
    push_change(bare_repo, tmp_path / "other", "public/theirs.html", "hi\n", "theirs")
    (app_dir / "server.js").write_text("// mine\n")
    code, answer = await api(jp_fetch, "POST", "publish", {"message": "mine"})
    assert code == 200, answer
    assert answer["commit"] == branch_sha(bare_repo) == git("rev-parse", "HEAD", cwd=app_dir)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(403, 403), (404, 404), (400, 400), (409, 409), (401, 502), (500, 502), (503, 502)],
    ids=["403", "404", "400", "409", "401-is-ours", "500", "503"],
)
async def test_service_errors_are_passed_on(jp_fetch, fake_service, status, expected):
    await wait_ready(jp_fetch)
    fake_service.fail_with = (status, f"the service says {status}")
    code, answer = await api(jp_fetch, "POST", "publish")
    assert code == expected, answer
    assert answer["status"] == expected
    assert f"the service says {status}" in answer["message"]


async def test_bad_publish_requests(jp_fetch, fake_service):
    await wait_ready(jp_fetch)
    for raw in (b"{not json", b"[]", json.dumps({"message": ""}).encode()):
        code, answer = await api(jp_fetch, "POST", "publish", raw=raw)
        assert code == 400, (raw, answer)
    assert fake_service.calls == []


@pytest.fixture
def unreachable_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}/services/imad/"


@pytest.mark.parametrize("where", ["down", "unset"])
async def test_service_unreachable_is_502(jp_fetch, jp_serverapp, unreachable_url, where):
    workspace = jp_serverapp.web_app.settings["imad_workspace"]
    workspace.service.base_url = unreachable_url if where == "down" else ""
    await wait_ready(jp_fetch)
    for method in ("GET", "DELETE"):
        code, answer = await api(jp_fetch, method, "app")
        assert code == 502, answer
        assert answer["error"] == "upstream_error" and answer["message"]
