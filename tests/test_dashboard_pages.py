"""Dashboard pages and JSON API on a running classroom with a cohort of 1,000 students.

Seeded through the roster sync (users and groups in bulk through the hub API), two
students logged in and published; pages must render fast (server time well under
300 ms) and the JSON API must say the same as the pages.
"""

import asyncio
import statistics
import time

import pytest

from imad_extension.roster_csv import parse_roster_csv
from imad_extension.roster_sync import HubAPI, sync_roster

from .dashboard_room import ROSTER, head_commit, people, start_room

pytestmark = pytest.mark.timeout(300)
N = 1000


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    room = start_room(tmp_path_factory.mktemp("dash"))
    yield room
    room.stop()


@pytest.fixture(scope="module")
def who(room):
    who = people(room, ["instructor", "ta", "ta2", "alice", "bob"])
    text = ROSTER + "".join(f"s{i:04d},student,big\n" for i in range(N))
    hub = HubAPI(room.url("hub/api/"), who["instructor"].token)
    result = asyncio.run(sync_roster(hub, parse_roster_csv(text)))
    assert len(result.created_users) == N
    for name in ("alice", "bob"):  # logged in: repositories provisioned; publish
        commit = head_commit(room, name)
        r = who[name].service("POST", f"api/apps/{name}", json={"commit": commit, "wait": 45})
        assert r.status_code == 200 and r.json()["status"] == "live", r.text
    return who


def timed(person, path, n=5):
    person.service("GET", path)  # warm the caches
    times, r = [], None
    for _ in range(n):
        started = time.monotonic()
        r = person.service("GET", path)
        times.append(time.monotonic() - started)
        assert r.status_code == 200, r.text[:300]
    return r, statistics.median(times)


def test_cohorts_page_and_api(who):
    r, t = timed(who["instructor"], "")
    assert t < 0.3, t
    assert 'data-cohort="big"' in r.text and 'data-cohort="demo"' in r.text
    api = {c["name"]: c for c in who["instructor"].service("GET", "api/cohorts").json()["cohorts"]}
    assert api["big"]["students"] == N
    assert api["demo"] == {"name": "demo", "students": 2, "tas": ["ta"], "running": 0, "live": 2}
    # a TA sees only their cohort
    ta = [c["name"] for c in who["ta"].service("GET", "api/cohorts").json()["cohorts"]]
    assert ta == ["demo"]
    assert who["alice"].service("GET", "").status_code == 403


def test_cohort_page_of_a_thousand_students_is_fast(who):
    inst = who["instructor"]
    r, t = timed(inst, "cohorts/big")
    assert t < 0.3, f"cohort page median {t:.3f}s"
    assert r.text.count("<tr data-user=") == 50 and "1–50 of 1000" in r.text
    r, t = timed(inst, "cohorts/big?offset=950&limit=100&sort=name&order=desc")
    assert t < 0.3, t
    assert r.text.count("<tr data-user=") == 50 and 'data-user="s0049"' in r.text
    r, t = timed(inst, "api/cohorts/big/students?limit=200&sort=app&order=desc")
    assert t < 0.3, t
    assert r.json()["total"] == N and len(r.json()["items"]) == 200
    r = inst.service("GET", "api/cohorts/big/students?q=s012")
    assert r.json()["total"] == 10
    r = inst.service("GET", "cohorts/big?workspace=running")
    assert "No students match" in r.text


def test_cohort_page_shows_repository_commit_app(room, who):
    inst = who["instructor"]
    r = inst.service("GET", "cohorts/demo")
    assert 'data-user="alice"' in r.text and 'data-app="live"' in r.text
    commit = head_commit(room, "alice")
    assert commit[:7] in r.text and "alice/imad-app" in r.text
    assert f"http://alice.apps.localhost:{room.apps_port}/" in r.text
    row = inst.service("GET", "api/cohorts/demo/students?app=live").json()["items"][0]
    assert row["last_commit"]["sha"] == commit
    assert row["app"]["status"] == "live" and row["app"]["published_at"]
    # filtering and sorting by status
    assert inst.service("GET", "api/cohorts/demo/students?app=crashed").json()["total"] == 0
    assert who["ta2"].service("GET", "cohorts/demo").status_code == 403
    assert who["ta"].service("GET", "cohorts/demo").status_code == 200


def test_gallery(room, who):
    r = who["ta"].service("GET", "cohorts/demo/gallery")
    assert r.status_code == 200
    assert r.text.count('class="card imad-card"') == 2
    gallery = who["ta"].service("GET", "api/cohorts/demo/gallery").json()
    assert {a["owner"] for a in gallery["items"]} == {"alice", "bob"}
    assert room.fetch_app("alice").status_code == 200
    assert who["instructor"].service("GET", "cohorts/big/gallery").status_code == 200


def test_bad_queries_are_400(who):
    inst = who["instructor"]
    assert inst.service("GET", "api/cohorts/big/students?sort=password").status_code == 400
    assert inst.service("GET", "api/cohorts/big/students?limit=x").status_code == 400
    assert inst.service("GET", "api/cohorts/nope/students").status_code == 404
    assert inst.service("GET", "cohorts/big?workspace=exploded").status_code == 400


def test_static_and_hub_stylesheet(room, who):
    r = who["instructor"].service("GET", "dashboard-static/dashboard.js")
    assert r.status_code == 200
    page = who["instructor"].service("GET", "").text
    assert "/hub/static/css/style.min.css" in page
    import requests

    assert requests.get(room.url("hub/static/css/style.min.css"), timeout=10).status_code == 200
