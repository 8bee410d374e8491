"""The authorization matrix, over real HTTP against a running hub + classroom service.

Actors: the student (alice, cohort demo), another student of the same cohort (bob), the
TA of demo (ta), the TA of another cohort (ta2), an instructor, anonymous.
Actions, all on alice's things: open workspace, start/stop workspace, view repository
info, publish, view app status, view logs, unpublish (a takedown when not hers), view the
cohort's dashboard page, import the roster, read the audit log.
Every cell has an expected allow/deny; each cell is one test.
"""

import re

import pytest
import requests

from .dashboard_room import ROSTER, head_commit, people, start_room, start_workspace, wait_for

ACTORS = {
    "student": "alice",
    "other-student": "bob",
    "ta-of-cohort": "ta",
    "ta-of-other-cohort": "ta2",
    "instructor": "instructor",
    "anonymous": None,
}
Y, N = True, False
#                         student other  TA    otherTA instr  anon
EXPECTED = {
    "open-workspace":      (Y,     N,     Y,    N,      Y,     N),
    "start-stop-workspace": (Y,    N,     Y,    N,      Y,     N),
    "view-repo-info":      (Y,     N,     Y,    N,      Y,     N),
    "publish":             (Y,     N,     N,    N,      Y,     N),
    "view-app-status":     (Y,     N,     Y,    N,      Y,     N),
    "view-logs":           (Y,     N,     Y,    N,      Y,     N),
    "unpublish":           (Y,     N,     Y,    N,      Y,     N),
    "view-dashboard-page": (N,     N,     Y,    N,      Y,     N),
    "import-roster":       (N,     N,     N,    N,      Y,     N),
    "view-audit-log":      (N,     N,     N,    N,      Y,     N),
}  # fmt: skip
CELLS = [
    (action, actor, EXPECTED[action][i]) for action in EXPECTED for i, actor in enumerate(ACTORS)
]


def denied(r) -> bool:
    """401/403, or a redirect to the hub's login / OAuth (a caller without a session)."""
    if r.status_code in (401, 403):
        return True
    location = r.headers.get("Location", "")
    return r.status_code in (302, 303) and ("login" in location or "oauth2/authorize" in location)


def open_in_browser(room, who) -> bool:
    """Open alice's workspace as a browser would: the hub session, then JupyterHub's
    OAuth to her server (confirming access when the hub asks, as a TA does once)."""
    if who.name is None:
        r = requests.get(room.url("user/alice/api/status"), timeout=30, allow_redirects=False)
        assert denied(r), r.status_code
        r = requests.get(room.url("user/alice/"), timeout=30)
        assert "/hub/login" in r.url, r.url
        return False
    session = room.login(who.name)
    r = session.get(room.url("user/alice/lab"), timeout=60)
    if r.status_code == 200 and "oauth2/authorize" in r.url:  # "Authorize access" page
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', r.text).group(1)
        scopes = re.findall(r'name="scopes" value="([^"]+)"', r.text)
        r = session.post(r.url, data={"_xsrf": xsrf, "scopes": scopes}, timeout=60)
    if r.status_code == 403:
        return False
    assert r.status_code == 200 and "/user/alice/" in r.url, (r.status_code, r.url)
    status = session.get(room.url("user/alice/api/status"), timeout=30)
    assert status.status_code == 200, status.status_code
    return True


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    room = start_room(tmp_path_factory.mktemp("authz"))
    yield room
    room.stop()


@pytest.fixture(scope="module")
def actors(room):
    who = people(room, [u for u in ACTORS.values() if u])
    start_workspace(room, who["alice"].token, "alice")
    return {role: who[user] for role, user in ACTORS.items()}


@pytest.fixture(scope="module")
def alice(actors):
    return actors["student"]


def server_state(room, instructor, user="alice"):
    model = instructor.call("GET", f"hub/api/users/{user}").json()
    server = (model.get("servers") or {}).get("")
    return "stopped" if not server else ("running" if server.get("ready") else "pending")


def ensure_running(room, alice, instructor):
    if server_state(room, instructor) != "running":
        start_workspace(room, alice.token, "alice")


def ensure_published(room, alice):
    """Setup for a cell: alice's app is live."""
    if alice.service("GET", "api/apps/alice").json()["status"] == "live":
        return
    commit = head_commit(room, "alice")
    r = alice.service("POST", "api/apps/alice", json={"commit": commit, "wait": 45})
    assert r.status_code == 200 and r.json()["status"] == "live", r.text


def act(action, who, room, alice, instructor):
    """Do ``action`` on alice's things as ``who``; answer True when it was allowed."""
    if action == "open-workspace":
        ensure_running(room, alice, instructor)
        via_dashboard = who.service("GET", "open/alice")
        allowed_dash = via_dashboard.status_code == 302 and via_dashboard.headers[
            "Location"
        ].endswith("/user/alice/")
        assert allowed_dash or denied(via_dashboard), via_dashboard.status_code
        allowed_browser = open_in_browser(room, who)
        assert allowed_dash == allowed_browser, (via_dashboard.status_code, allowed_browser)
        return allowed_dash
    if action == "start-stop-workspace":
        ensure_running(room, alice, instructor)
        r = who.service("DELETE", "api/students/alice/server")
        if denied(r):
            assert server_state(room, instructor) == "running"
            return False
        assert r.status_code == 200, r.text
        wait_for(lambda: server_state(room, instructor) == "stopped", 60, what="stopped")
        r = who.service("POST", "api/students/alice/server")
        assert r.status_code == 200, r.text
        wait_for(lambda: server_state(room, instructor) == "running", 90, what="running")
        return True
    if action == "view-repo-info":
        r = who.service("GET", "api/students/alice")
        if denied(r):
            return False
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["repository"]["name"] == "alice/imad-app"
        assert body["last_commit"]["sha"] == head_commit(room, "alice")
        return True
    if action == "publish":
        commit = head_commit(room, "alice")
        r = who.service("POST", "api/apps/alice", json={"commit": commit, "wait": 45})
        if denied(r):
            return False
        assert r.status_code == 200 and r.json()["status"] == "live", r.text
        return True
    if action in ("view-app-status", "view-logs"):
        ensure_published(room, alice)
        r = who.service("GET", "api/apps/alice")
        if denied(r):
            return False
        assert r.status_code == 200 and r.json()["status"] == "live", r.text
        assert isinstance(r.json()["logs"], list)
        return True
    if action == "unpublish":
        ensure_published(room, alice)
        r = who.service("DELETE", "api/apps/alice", json={"reason": "matrix test"})
        if denied(r):
            assert alice.service("GET", "api/apps/alice").json()["status"] == "live"
            return False
        assert r.status_code == 200 and r.json()["status"] == "unpublished", r.text
        return True
    if action == "view-dashboard-page":
        r = who.service("GET", "cohorts/demo")
        if denied(r):
            return False
        assert r.status_code == 200 and 'data-user="alice"' in r.text, r.text[:500]
        return True
    if action == "import-roster":
        r = who.service("POST", "api/roster", data=ROSTER.encode())
        if denied(r):
            return False
        assert r.status_code == 200 and r.json()["changed"] is False, r.text
        return True
    if action == "view-audit-log":
        r = who.service("GET", "api/audit")
        if denied(r):
            return False
        assert r.status_code == 200 and "events" in r.json(), r.text
        return True
    raise AssertionError(action)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("action,actor,expected", CELLS, ids=[f"{a}-{b}" for a, b, _ in CELLS])
def test_matrix(room, actors, alice, action, actor, expected):
    allowed = act(action, actors[actor], room, alice, actors["instructor"])
    assert allowed == expected, f"{actor} {'may' if allowed else 'may not'} {action}"


def test_audit_log_after_the_matrix(actors):
    """Runs after the matrix: who opened, took down, published is on record."""
    events = actors["instructor"].service("GET", "api/audit?limit=500").json()["events"]
    seen = {(e["actor"], e["action"], e.get("target")) for e in events}
    assert ("ta", "open-workspace", "alice") in seen
    assert ("instructor", "open-workspace", "alice") in seen
    assert ("alice", "open-workspace", "alice") not in seen  # her own: not an audit event
    assert ("ta", "stop-workspace", "alice") in seen
    assert ("alice", "publish", "alice") in seen
    assert ("ta", "takedown", "alice") in seen
    assert ("instructor", "takedown", "alice") in seen
    assert ("alice", "unpublish", "alice") in seen
    takedown = next(e for e in events if e["action"] == "takedown")
    assert takedown["details"].get("reason") == "matrix test"


def test_hub_admin_keeps_working_within_scopes(room, actors):
    ta = actors["ta-of-cohort"]
    names = {u["name"] for u in ta.call("GET", "hub/api/users").json()}
    assert names == {"alice", "bob"}
    assert ta.call("GET", "hub/api/users/carol").status_code in (403, 404)
    assert ta.call("GET", "hub/api/groups/demo").status_code == 200
    session = room.login("ta")
    assert session.get(room.url("hub/admin"), timeout=30).status_code == 200
    student = room.login("bob")
    assert student.get(room.url("hub/admin"), timeout=30, allow_redirects=False).status_code == 403
