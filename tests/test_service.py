"""The classroom service under a real JupyterHub, with real tokens, git, node and proxies.

The hub runs the service as a managed service (``python -m imad_extension.service``);
tests call it through the hub's proxy at ``/services/imad/``. The authorization
function is also checked directly against a table of caller models.
"""

import time

import pytest

from imad_extension.publisher.local import LocalPublisher
from imad_extension.service.auth import can_act_on

from .publisher_helpers import StudentRepo, app_files, get_app
from .service_helpers import ServiceHub

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    hub = ServiceHub(tmp_path_factory.mktemp("service-hub"))
    state = hub.root / "state"
    hub.repos = {name: StudentRepo(state, name) for name in ("alice", "bob", "carol")}
    hub.start()
    yield hub
    hub.stop()
    # the apps outlive the hub by design: stop them for good
    import asyncio

    async def shutdown():
        publisher = LocalPublisher(hub.settings)
        await publisher.start()
        await publisher.shutdown_all()

    asyncio.run(shutdown())


def publish(hub, owner, message, token=None):
    commit = hub.repos[owner].commit(app_files(message))
    r = hub.call("POST", f"api/apps/{owner}", token or hub.token(owner), json={"commit": commit})
    return commit, r


def test_health_is_open(hub):
    r = hub.call("GET", "health")
    assert r.status_code == 200 and r.json() == {"ok": True}


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_no_or_bad_token_is_401(hub, method):
    r = hub.call(method, "api/apps/alice")
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"
    r = hub.call(method, "api/apps/alice", token="not-a-token")
    assert r.status_code == 401
    assert hub.call("GET", "api/apps").status_code == 401


def test_a_token_without_service_access_is_403(hub):
    token = hub.token("alice", scopes=["read:users:name!user"])
    r = hub.call("GET", "api/apps/alice", token)
    assert r.status_code == 403
    assert "access:services!service=imad" in r.json()["message"]


def test_owner_publishes_views_and_unpublishes(hub):
    alice = hub.token("alice")
    r = hub.call("GET", "api/apps/alice", alice)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "unpublished"

    began = time.monotonic()
    commit, r = publish(hub, "alice", "alice via the service")
    took = time.monotonic() - began
    assert r.status_code == 200, r.text
    app = r.json()
    assert app["status"] == "live", app
    assert app["commit"] == commit and app["owner"] == "alice"
    assert app["url"] == f"http://alice.apps.localhost:{hub.settings['apps']['port']}/"
    assert took < 3, took
    assert get_app(hub.settings, "alice") == (200, "alice via the service")

    listed = hub.call("GET", "api/apps", alice).json()["apps"]
    assert [a["owner"] for a in listed] == ["alice"]

    r = hub.call("DELETE", "api/apps/alice", alice)
    assert r.status_code == 200 and r.json()["status"] == "unpublished"
    status, body = get_app(hub.settings, "alice")
    assert status == 404 and "No app here" in body


def test_a_minimal_token_like_a_workspace_server_can_publish(hub):
    token = hub.token("bob", scopes=["access:services!service=imad"])
    _, r = publish(hub, "bob", "bob minimal", token=token)
    assert r.status_code == 200 and r.json()["status"] == "live", r.text
    assert hub.call("DELETE", "api/apps/bob", token).status_code == 200


def test_bob_cannot_touch_alices_app(hub):
    _, r = publish(hub, "alice", "alice's own")
    assert r.status_code == 200
    bob = hub.token("bob")
    commit = hub.repos["alice"].commit(app_files("bob was here"))
    assert hub.call("GET", "api/apps/alice", bob).status_code == 403
    r = hub.call("POST", "api/apps/alice", bob, json={"commit": commit})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert hub.call("DELETE", "api/apps/alice", bob).status_code == 403
    # a student gets 403 for any other name, existing or not: names do not leak
    assert hub.call("GET", "api/apps/nobody", bob).status_code == 403
    assert "alice" not in [a["owner"] for a in hub.call("GET", "api/apps", bob).json()["apps"]]
    assert get_app(hub.settings, "alice") == (200, "alice's own")


@pytest.mark.parametrize(
    "body, status, message",
    [
        ("not json", 400, "not valid JSON"),
        ("[1, 2]", 400, "JSON object"),
        ("{}", 400, "commit must be"),
        ('{"commit": "abc123"}', 400, "commit must be"),
        ('{"commit": "' + "A" * 40 + '"}', 400, "commit must be"),
        ('{"commit": "' + "a" * 40 + '", "wait": -1}', 400, "wait must be"),
        ('{"commit": "' + "a" * 40 + '", "wait": "soon"}', 400, "wait must be"),
        ('{"commit": "' + "a" * 40 + '", "branch": "main"}', 400, "Unknown field"),
        ('{"commit": "' + "a" * 40 + '"}', 404, "is not in alice's repository"),
    ],
    ids=[
        "not-json",
        "array",
        "no-commit",
        "short",
        "upper-case",
        "negative-wait",
        "text-wait",
        "unknown-field",
        "unknown-commit",
    ],
)
def test_bad_publish_bodies(hub, body, status, message):
    r = hub.call(
        "POST",
        "api/apps/alice",
        hub.token("alice"),
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == status, r.text
    error = r.json()
    assert error["status"] == status and message in error["message"]


def test_bad_unpublish_body(hub):
    r = hub.call("DELETE", "api/apps/alice", hub.token("alice"), json={"reason": 42})
    assert r.status_code == 400 and "reason" in r.json()["message"]


def test_ta_acts_on_their_cohort_only(hub):
    ta = hub.token("ta")
    _, r = publish(hub, "alice", "alice for the ta")
    assert r.status_code == 200
    _, r = publish(hub, "carol", "carol elsewhere")
    assert r.status_code == 200
    assert hub.call("GET", "api/apps/alice", ta).json()["status"] == "live"
    assert hub.call("GET", "api/apps/carol", ta).status_code == 403
    assert hub.call("GET", "api/apps/nobody", ta).status_code == 404
    owners = [a["owner"] for a in hub.call("GET", "api/apps", ta).json()["apps"]]
    assert "alice" in owners and "carol" not in owners
    r = hub.call("DELETE", "api/apps/alice", ta, json={"reason": "inappropriate content"})
    assert r.status_code == 200 and r.json()["status"] == "unpublished"


def test_admin_acts_on_everyone(hub):
    admin = hub.token("instructor")
    _, r = publish(hub, "carol", "carol for the admin")
    assert r.status_code == 200
    assert hub.call("GET", "api/apps/carol", admin).json()["status"] == "live"
    assert "carol" in [a["owner"] for a in hub.call("GET", "api/apps", admin).json()["apps"]]
    commit = hub.repos["carol"].commit(app_files("republished by the instructor"))
    r = hub.call("POST", "api/apps/carol", admin, json={"commit": commit})
    assert r.status_code == 200 and r.json()["commit"] == commit
    assert hub.call("GET", "api/apps/nobody", admin).status_code == 404


def test_apps_survive_a_restart_of_the_hub_and_service(hub):
    commit, r = publish(hub, "bob", "bob survives restarts")
    assert r.json()["status"] == "live"
    hub.stop()
    assert get_app(hub.settings, "bob") == (200, "bob survives restarts")
    hub.start()
    app = hub.call("GET", "api/apps/bob", hub.token("bob")).json()
    assert app["status"] == "live" and app["commit"] == commit
    assert get_app(hub.settings, "bob") == (200, "bob survives restarts")


# --- the authorization function, with caller models as the hub returns them -------------

ALICE = {
    "kind": "user",
    "name": "alice",
    "groups": ["demo"],
    "scopes": ["access:services!service=imad"],
}
BOB = {
    "kind": "user",
    "name": "bob",
    "groups": ["demo"],
    "scopes": ["access:services!service=imad"],
}
TA = {
    "kind": "user",
    "name": "ta",
    "groups": ["ta:demo"],
    "scopes": ["custom:imad:apps!group=demo"],
}
TA_ONE = {"kind": "user", "name": "ta1", "groups": [], "scopes": ["custom:imad:apps!user=alice"]}
INSTRUCTOR = {"kind": "user", "name": "instructor", "groups": [], "scopes": ["custom:imad:apps"]}
ADMIN = {"kind": "user", "name": "root", "admin": True, "groups": [], "scopes": ["admin:users"]}
SERVICE = {"kind": "service", "name": "alice", "scopes": []}  # a service named like a user


@pytest.mark.parametrize(
    "caller, owner, groups, allowed",
    [
        (ALICE, "alice", [], True),
        (BOB, "alice", ["demo"], False),
        (TA, "alice", ["demo"], True),
        (TA, "carol", ["other"], False),
        (TA_ONE, "alice", [], True),
        (TA_ONE, "bob", ["demo"], False),
        (INSTRUCTOR, "carol", ["other"], True),
        (ADMIN, "carol", [], True),
        (SERVICE, "alice", [], False),
        ({}, "alice", [], False),
    ],
    ids=[
        "owner",
        "other-student",
        "ta-own-cohort",
        "ta-other-cohort",
        "user-filter",
        "user-filter-other",
        "unfiltered",
        "admin",
        "service-is-not-the-user",
        "nobody",
    ],
)
@pytest.mark.parametrize("action", ["view", "logs", "publish", "unpublish"])
def test_can_act_on(caller, owner, groups, allowed, action):
    if caller is TA and action == "publish":
        allowed = False  # a cohort-wide grant never publishes in another's name
    assert can_act_on(caller, owner, action, groups) is allowed


def test_can_act_on_rejects_unknown_actions():
    with pytest.raises(ValueError):
        can_act_on(ALICE, "alice", "delete")
