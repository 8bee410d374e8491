"""The whole local loop over HTTP, as a student does it (issue: local classroom end to end).

Log in through the login form, the workspace starts with ``~/app``, write a file through
the Jupyter contents API, commit, publish, fetch the subdomain and see the change,
republish while a client polls the app (no failed request), unpublish. Plus what other
users must not be able to do.
"""

import subprocess
import time
import uuid

import pytest
import requests

from .classroom import AppPoller, Classroom

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """This module's own classroom: its assertions on alice's repository need a fresh one."""
    room = Classroom(tmp_path_factory.mktemp("e2e")).start()
    yield room
    room.stop()


def write_file(classroom, token, user, path, content):
    r = classroom.server_api(
        token, user, "PUT", f"api/contents/app/{path}",
        json={"type": "file", "format": "text", "content": content},
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text


def read_file(classroom, token, user, path):
    r = classroom.server_api(token, user, "GET", f"api/contents/app/{path}")
    assert r.status_code == 200, r.text
    return r.json()["content"]


@pytest.fixture(scope="module")
def alice(classroom):
    session = classroom.login("alice")
    assert session.login_response.status_code == 302, session.login_response.text
    token = classroom.token(session, "alice")
    classroom.spawn(token, "alice")
    return session, token


@pytest.fixture(scope="module")
def bob(classroom):
    session = classroom.login("bob")
    token = classroom.token(session, "bob")
    classroom.spawn(token, "bob")
    return session, token


def test_staff_land_on_the_dashboard_students_in_their_workspace(classroom):
    for user, where in [("instructor", "/services/imad/"), ("ta", "/services/imad/"),
                        ("bob", "/hub/spawn")]:  # fmt: skip
        session = classroom.login(user)
        r = session.get(classroom.url("hub/"), allow_redirects=False, timeout=10)
        assert r.status_code == 302 and r.headers["Location"].endswith(where), (user, r.headers)


def test_wrong_password_and_unknown_user_cannot_log_in(classroom):
    assert classroom.login("alice", "wrong-password").login_response.status_code == 403
    assert classroom.login("mallory").login_response.status_code == 403


def test_login_provisions_repository_and_workspace(classroom, alice):
    _, token = alice
    bare = classroom.state_dir / "repos" / "alice.git"
    assert (bare / "HEAD").exists()
    # the workspace has a working copy of the repository at ~/app
    assert "http.createServer" in read_file(classroom, token, "alice", "server.js")
    r = classroom.server_api(token, "alice", "GET", "imad/api/workspace")
    assert r.status_code == 200, r.text
    ws = r.json()
    assert ws["state"] == "ready"
    assert ws["branch"] == "main"
    assert ws["changes"] == []
    assert ws["app_url"] == f"http://alice.apps.localhost:{classroom.apps_port}/"
    head = subprocess.run(
        ["git", "--git-dir", str(bare), "rev-parse", "main"], capture_output=True, text=True
    ).stdout.strip()
    assert ws["head"]["sha"] == head


def test_edit_commit_publish_republish_unpublish(classroom, alice):
    _, token = alice
    api = lambda method, path, **kw: classroom.server_api(token, "alice", method, f"imad/api/{path}", **kw)  # noqa: E731
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    page = read_file(classroom, token, "alice", "public/index.html")
    write_file(classroom, token, "alice", "public/index.html", page.replace("Hello", marker))

    changes = api("GET", "workspace").json()["changes"]
    assert {"path": "public/index.html", "status": "modified"} in changes

    r = api("POST", "commit", json={"message": "Say hello my way"})
    assert r.status_code == 200, r.text
    sha = r.json()["commit"]
    bare = classroom.state_dir / "repos" / "alice.git"
    pushed = subprocess.run(["git", "--git-dir", str(bare), "rev-parse", "main"], capture_output=True, text=True)
    assert pushed.stdout.strip() == sha

    r = api("POST", "commit", json={"message": "again"})
    assert r.status_code == 200 and r.json()["nothing_to_commit"] is True

    started = time.monotonic()
    r = api("POST", "publish")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "live", body
    assert body["commit"] == sha
    assert body["url"] == f"http://alice.apps.localhost:{classroom.apps_port}/"
    page = classroom.fetch_app("alice")
    elapsed = time.monotonic() - started
    assert page.status_code == 200 and marker in page.text
    assert elapsed < 5, f"publish took {elapsed:.2f}s"  # generous bound; benchmarks measure
    app = api("GET", "app").json()
    assert app["status"] == "live" and app["commit"] == sha
    assert any("listening" in line for line in app["logs"])

    # Republish a new version while a client polls: no failed request.
    marker2 = f"second-{uuid.uuid4().hex[:8]}"
    page = read_file(classroom, token, "alice", "public/index.html")
    write_file(classroom, token, "alice", "public/index.html", page.replace(marker, marker2))
    sha2 = api("POST", "commit", json={"message": "Second version"}).json()["commit"]
    with AppPoller(lambda: classroom.fetch_app("alice"), marker2) as poller:
        time.sleep(0.3)
        r = api("POST", "publish")
        poller.wait_for_marker(5)
        time.sleep(1.2)  # past the old version's drain and stop
    assert r.status_code == 200 and r.json()["status"] == "live" and r.json()["commit"] == sha2
    assert poller.failed == [], poller
    assert poller.ok > 20 and poller.saw_marker, poller

    # Unpublish: a clear "no app here" page, at once.
    r = api("DELETE", "app")
    assert r.status_code == 200 and r.json()["status"] == "unpublished", r.text
    gone = classroom.fetch_app("alice", timeout=3)
    assert gone.status_code == 404
    assert "No app here" in gone.text
    assert api("GET", "app").json()["status"] == "unpublished"


@pytest.mark.parametrize(
    "body, status",
    [
        ({"message": ""}, 400),
        ({"message": "x" * 10_000}, 400),
        ({"message": 42}, 400),
        ({"message": "ok", "paths": ["../../etc/passwd"]}, 400),
        ({"message": "ok", "paths": ["/etc/passwd"]}, 400),
        ("not json", 400),
    ],
    ids=["empty-message", "10kB-message", "message-not-text", "dotdot-path", "absolute-path", "malformed"],
)
def test_bad_commit_requests_change_nothing(classroom, alice, body, status):
    _, token = alice
    write_file(classroom, token, "alice", "notes.txt", f"draft {uuid.uuid4()}")
    bare = classroom.state_dir / "repos" / "alice.git"
    before = subprocess.run(["git", "--git-dir", str(bare), "rev-parse", "main"], capture_output=True, text=True).stdout
    kw = {"data": body} if isinstance(body, str) else {"json": body}
    r = classroom.server_api(token, "alice", "POST", "imad/api/commit", **kw)
    assert r.status_code == status, r.text
    assert r.json()["message"]  # a message a person can act on
    after = subprocess.run(["git", "--git-dir", str(bare), "rev-parse", "main"], capture_output=True, text=True).stdout
    assert before == after
    assert "draft" in read_file(classroom, token, "alice", "notes.txt")  # the draft is still there


def test_bob_cannot_touch_alices_things(classroom, alice, bob):
    bob_session, bob_token = bob
    # at the hub: bob's token cannot reach alice's server or her hub API records
    for method, path in [("GET", "imad/api/workspace"), ("POST", "imad/api/commit"),
                         ("POST", "imad/api/publish"), ("DELETE", "imad/api/app"),
                         ("GET", "api/contents/app/server.js")]:  # fmt: skip
        r = classroom.server_api(bob_token, "alice", method, path, json={"message": "x"}, allow_redirects=False)
        assert r.status_code in (403, 404), (method, path, r.status_code)
    r = classroom.hub_api(bob_session, "POST", "users/alice/tokens", json={})
    assert r.status_code in (403, 404)
    # at the service: bob's own token cannot publish, read or unpublish alice's app
    service = classroom.url("services/imad/api/apps/alice")
    h = {"Authorization": f"token {bob_token}"}
    assert requests.get(service, headers=h, timeout=10).status_code == 403
    assert requests.post(service, headers=h, json={"commit": "0" * 40}, timeout=10).status_code == 403
    assert requests.delete(service, headers=h, timeout=10).status_code == 403
    assert requests.get(service, timeout=10).status_code in (401, 403)
    # and the service lists only bob's own app to bob
    apps = requests.get(classroom.url("services/imad/api/apps"), headers=h, timeout=10).json()["apps"]
    assert {a["owner"] for a in apps} <= {"bob"}


def test_crashing_app_reports_crashed_then_a_fix_goes_live(classroom, bob):
    _, token = bob
    api = lambda method, path, **kw: classroom.server_api(token, "bob", method, f"imad/api/{path}", **kw)  # noqa: E731
    good = read_file(classroom, token, "bob", "server.js")
    write_file(classroom, token, "bob", "server.js", good + "\nthis is not javascript(\n")
    r = api("POST", "publish", json={"message": "Break it"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "crashed", body
    assert any("SyntaxError" in line for line in body["logs"]), body["logs"]
    write_file(classroom, token, "bob", "server.js", good)
    r = api("POST", "publish", json={"message": "Fix it"})
    assert r.json()["status"] == "live", r.text
    assert classroom.fetch_app("bob").status_code == 200


def test_dashboard_cookie_actions_need_the_xsrf_token(classroom, bob):
    """A page elsewhere cannot make an instructor's browser take an app down."""
    _, bob_token = bob
    h = {"Authorization": f"token {bob_token}"}
    commit = classroom.server_api(bob_token, "bob", "GET", "imad/api/workspace").json()["head"]["sha"]
    r = requests.post(classroom.url("services/imad/api/apps/bob"), headers=h, json={"commit": commit}, timeout=60)
    assert r.json()["status"] == "live", r.text
    instructor = classroom.login("instructor")
    page = instructor.get(classroom.url("services/imad/"), timeout=30)  # the service's OAuth
    assert page.status_code == 200 and "/services/imad/" in page.url, page.url
    forged = instructor.delete(classroom.url("services/imad/api/apps/bob"), json={"reason": "x"}, timeout=30)
    assert forged.status_code in (401, 403), forged.status_code
    assert requests.get(classroom.url("services/imad/api/apps/bob"), headers=h, timeout=10).json()["status"] == "live"
    xsrf = instructor.cookies.get("_xsrf", path="/services/imad/")
    real = instructor.delete(
        classroom.url("services/imad/api/apps/bob"), json={"reason": "test takedown"},
        headers={"X-XSRFToken": xsrf}, timeout=30,
    )  # fmt: skip
    assert real.status_code == 200 and real.json()["status"] == "unpublished", real.text
