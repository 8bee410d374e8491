"""Dashboard data without a hub: a fake hub API and publisher, 1,000 students, the audit log."""

import json
import subprocess
import time

import pytest

from imad_extension.audit import AuditLog
from imad_extension.errors import BadRequest, NotFound
from imad_extension.service.dashboard_data import DashboardData, LastCommits, visible_cohorts
from imad_extension.settings import load_settings

N = 1000


class FakeHub:
    """``paged`` like ``roster_sync.HubAPI``: groups, and users with active servers."""

    def __init__(self, n=N):
        self.calls = []
        students = [f"s{i:04d}" for i in range(n)]
        self.groups = [
            {"name": "big", "users": students, "properties": {"imad": "cohort"}},
            {"name": "ta:big", "users": ["ta1"], "properties": {"imad": "tas", "cohort": "big"}},
            {"name": "small", "users": ["amy"], "properties": {"imad": "cohort"}},
            {"name": "not-ours", "users": ["x"], "properties": {}},
        ]
        self.active = [
            {"name": s, "servers": {"": {"ready": i % 3 != 2, "pending": None if i % 3 != 2 else "spawn",
                                          "url": f"/user/{s}/", "last_activity": f"2025-01-01T00:{i % 60:02d}:00Z"}}}
            for i, s in enumerate(students) if i % 3
        ]  # fmt: skip

    async def paged(self, path, params=None):
        self.calls.append((path, params))
        return self.groups if path == "groups" else self.active


class FakePublisher:
    def __init__(self, owners):
        self.apps = [
            {"owner": o, "url": f"http://{o}.apps.localhost:8080/",
             "status": ("live", "crashed", "starting")[i % 3], "commit": "a" * 40,
             "published_at": f"2025-01-02T{i % 24:02d}:00:00Z", "updated_at": None, "logs": []}
            for i, o in enumerate(owners)
        ]  # fmt: skip
        self.asked: list[int] = []  # how many owners each ``statuses`` call asked about

    async def list_apps(self):
        return self.apps

    async def statuses(self, owners):
        self.asked.append(len(owners))
        by_owner = {a["owner"]: a for a in self.apps}
        return [
            by_owner.get(o) or {"owner": o, "status": "unpublished", "logs": []} for o in owners
        ]


@pytest.fixture
def data(tmp_path):
    settings = load_settings(environ={"IMAD_STATE_DIR": str(tmp_path)})
    hub = FakeHub()
    return DashboardData(settings, hub, FakePublisher([f"s{i:04d}" for i in range(0, N, 2)]))


async def test_cohorts_counts(data):
    cohorts = {c["name"]: c for c in await data.cohorts(None)}
    assert set(cohorts) == {"big", "small"}  # not the TA group, not unmanaged groups
    big = cohorts["big"]
    assert big["students"] == N and big["tas"] == ["ta1"]
    assert big["running"] == len([i for i in range(N) if i % 3 == 1])
    assert big["live"] == len([i for i in range(0, N, 2) if (i // 2) % 3 == 0])
    assert [c["name"] for c in await data.cohorts({"small"})] == ["small"]


async def test_students_page_sort_filter_search_fast(data):
    started = time.monotonic()
    page = await data.students("big", limit=50)
    assert page["total"] == N and len(page["items"]) == 50
    assert page["items"][0]["name"] == "s0000"
    for kw in ({"sort": "app", "order": "desc"}, {"sort": "published"}, {"sort": "activity"},
               {"workspace": "running"}, {"app": "live", "offset": 100}, {"q": "s09"}):  # fmt: skip
        await data.students("big", **kw)
    elapsed = time.monotonic() - started
    assert elapsed < 0.3 * 7, elapsed
    running = await data.students("big", workspace="running", limit=200)
    assert all(r["workspace"]["status"] == "running" for r in running["items"])
    live = await data.students("big", app="live", limit=200)
    assert all(r["app"]["status"] == "live" for r in live["items"])
    found = await data.students("big", q="s09")
    assert found["total"] == 100
    desc = await data.students("big", sort="name", order="desc", limit=1)
    assert desc["items"][0]["name"] == "s0999"
    # the hub was asked once per cached source, not once per student
    assert len(data.hub.calls) == 2


async def test_app_states_are_asked_for_the_cohort_only(data):
    page = await data.students("small")
    assert data.publisher.asked == [1]  # amy alone, not the 1,000 of "big" nor every app
    assert page["items"][0]["app"]["status"] == "unpublished"
    assert page["items"][0]["app"]["url"] is None  # an unpublished app has no link
    await data.students("small", sort="app")
    assert data.publisher.asked == [1]  # cached for the ttl
    await data.students("big")
    assert data.publisher.asked == [1, N]
    student = await data.student("s0002")
    assert student["app"]["status"] == "crashed" and data.publisher.asked[-1] == 1
    with pytest.raises(NotFound):
        await data.gallery("nope")
    assert "nope" not in data._apps


async def test_bad_arguments(data):
    with pytest.raises(BadRequest):
        await data.students("big", sort="secret")
    with pytest.raises(BadRequest):
        await data.students("big", workspace="exploded")
    with pytest.raises(NotFound):
        await data.students("nope")


async def test_gallery_only_live_apps_of_the_cohort(data):
    gallery = await data.gallery("big", limit=500)
    assert gallery["total"] == len([i for i in range(0, N, 2) if (i // 2) % 3 == 0])
    assert all(a["url"].startswith("http://s") for a in gallery["items"])
    stamps = [a["published_at"] for a in gallery["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert (await data.gallery("small"))["total"] == 0


def test_visible_cohorts():
    assert visible_cohorts({"scopes": ["custom:imad:dashboard"]}) is None
    assert visible_cohorts({"scopes": ["custom:imad:dashboard!group=a", "read:users"]}) == {"a"}
    assert visible_cohorts({"scopes": ["self"]}) == set()
    assert visible_cohorts(None) == set()


async def test_last_commits_from_bare_repos(tmp_path):
    settings = load_settings(environ={"IMAD_STATE_DIR": str(tmp_path)})
    work = tmp_path / "w"
    env = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "A",
           "GIT_COMMITTER_EMAIL": "a@x", "PATH": "/usr/bin:/bin"}  # fmt: skip
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True, env=env)
    (work / "f").write_text("x")
    subprocess.run(["git", "-C", str(work), "add", "f"], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "commit", "-qm", "Hello there"], check=True, env=env)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(tmp_path / "repos" / "amy.git")],
                   check=True, env=env)  # fmt: skip
    commits = LastCommits(settings)
    got = await commits.get(["amy", "nobody"])
    assert got["nobody"] is None
    assert got["amy"]["message"] == "Hello there" and len(got["amy"]["sha"]) == 40
    assert got["amy"]["short"] == got["amy"]["sha"][:7]


def test_audit_log_pages_newest_first(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(120):
        log.record(f"actor{i % 2}", "publish" if i % 3 else "takedown", f"s{i}", cohort="c",
                   reason=f"r{i}")  # fmt: skip
    first = log.page(limit=50)
    assert [e["target"] for e in first["events"][:2]] == ["s119", "s118"]
    assert first["next_offset"] == 50
    last = log.page(offset=100, limit=50)
    assert len(last["events"]) == 20 and last["next_offset"] is None
    takedowns = log.page(action="takedown", limit=500)["events"]
    assert len(takedowns) == 40 and all(e["details"]["reason"] for e in takedowns)
    assert log.page(actor="actor1", target="s1")["events"][0]["action"] == "publish"
    assert log.page(cohorts={"other"})["events"] == []
    with pytest.raises(ValueError):
        log.record("a", "delete-everything")
    # a torn last line is skipped, not fatal
    with open(tmp_path / "audit.jsonl", "a") as f:
        f.write('{"actor": "half')
    assert log.page(limit=1)["events"][0]["target"] == "s119"
    assert all(
        json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()[:-1]
    )


def test_audit_log_reads_a_large_log_quickly(tmp_path):
    path = tmp_path / "audit.jsonl"
    line = json.dumps({"time": "t", "actor": "a", "action": "publish", "target": "s"}) + "\n"
    path.write_text(line * 200_000)
    log = AuditLog(path)
    started = time.monotonic()
    assert len(log.page(limit=50)["events"]) == 50
    assert time.monotonic() - started < 0.1
