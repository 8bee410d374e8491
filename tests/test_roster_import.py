"""Roster import into a running hub: through the CLI and the dashboard's upload.

Good file, each kind of bad row (nothing changes), idempotent re-import, a student moved
to another cohort (the TAs' access follows at once), and a 1,000-row file.
"""

import os
import subprocess
import sys
import time

import pytest

from .dashboard_room import ROSTER, people, start_room

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    room = start_room(tmp_path_factory.mktemp("roster"))
    yield room
    room.stop()


@pytest.fixture(scope="module")
def who(room):
    return people(room, ["instructor", "ta", "ta2", "alice"])


def cli(room, token, *args, timeout=240):
    env = {**room.env, "JUPYTERHUB_API_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "imad_extension", "roster", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def groups(who) -> dict:
    r = who["instructor"].call("GET", "hub/api/groups")
    return {g["name"]: sorted(g["users"]) for g in r.json()}


def test_start_roster_is_loaded_as_groups(who):
    g = groups(who)
    assert g["demo"] == ["alice", "bob"] and g["ta:demo"] == ["ta"]
    assert g["other"] == ["carol"] and g["ta:other"] == ["ta2"]


def test_reimport_is_idempotent(room, who):
    out = cli(room, who["instructor"].token, "import", str(room.state_dir / "roster-start.csv"))
    assert out.returncode == 0, out.stderr
    assert "no changes" in out.stdout
    r = who["instructor"].service("POST", "api/roster", data=ROSTER.encode())
    assert r.status_code == 200 and r.json()["changed"] is False


@pytest.mark.parametrize(
    "bad_row,message",
    [
        ("mallory smith,student,demo", "bad user name"),
        ("mallory,professor,demo", "unknown role"),
        ("alice,ta,other", "listed as ta here but as student"),
    ],
    ids=["bad-name", "unknown-role", "duplicate-other-role"],
)
def test_bad_row_changes_nothing(room, who, tmp_path, bad_row, message):
    before = groups(who)
    text = ROSTER + "dave,student,demo\n" + bad_row + "\n"
    path = tmp_path / "bad.csv"
    path.write_text(text)
    check = cli(room, who["instructor"].token, "check", str(path))
    assert check.returncode == 1 and "line 8" in check.stderr and message in check.stderr
    out = cli(room, who["instructor"].token, "import", str(path))
    assert out.returncode == 1 and "line 8" in out.stderr and "nothing was changed" in out.stderr
    r = who["instructor"].service("POST", "api/roster", files={"file": ("bad.csv", text)})
    assert r.status_code == 400
    assert r.json()["details"]["problems"][0]["line"] == 8
    assert message in r.json()["details"]["problems"][0]["message"]
    assert groups(who) == before
    users = {u["name"] for u in who["instructor"].call("GET", "hub/api/users").json()}
    assert "dave" not in users


def test_only_instructors_import(who):
    for name in ("ta", "alice"):
        assert who[name].service("POST", "api/roster", data=ROSTER.encode()).status_code == 403
    assert who[None].service("POST", "api/roster", data=ROSTER.encode()).status_code == 401


def test_dry_run_then_student_moves_and_roles_follow(room, who, tmp_path):
    ta, ta2 = who["ta"], who["ta2"]
    assert ta.call("GET", "hub/api/users/alice").status_code == 200
    assert ta2.call("GET", "hub/api/users/alice").status_code in (403, 404)
    moved = ROSTER.replace("alice,student,demo", "alice,student,other") + "dave,student,other\n"
    path = tmp_path / "moved.csv"
    path.write_text(moved)
    dry = cli(room, who["instructor"].token, "import", "--dry-run", str(path))
    assert dry.returncode == 0, dry.stderr
    assert "(dry run) student alice moved from demo to other" in dry.stdout
    assert groups(who)["demo"] == ["alice", "bob"]
    r = who["instructor"].service("POST", "api/roster", files={"file": ("moved.csv", moved)})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["changes"]["moved"] == {"alice": ["demo", "other"]}
    assert "dave" in result["created_users"]
    g = groups(who)
    assert g["demo"] == ["bob"] and g["other"] == ["alice", "carol", "dave"]
    # JupyterHub resolves !group= at each request: access follows the move at once
    assert ta.call("GET", "hub/api/users/alice").status_code in (403, 404)
    assert ta2.call("GET", "hub/api/users/alice").status_code == 200
    assert ta2.call("POST", "hub/api/users/dave/server").status_code != 403
    # saved where the hub reads its roster at the next start
    assert "alice,student,other" in (room.state_dir / "roster-start.csv").read_text()
    audit = who["instructor"].service("GET", "api/audit?action=roster-import").json()["events"]
    assert audit and audit[0]["actor"] == "instructor"
    # a student who logs in now is allowed (users the hub knows may log in)
    assert room.login("dave").login_response.status_code == 302


def test_thousand_rows_through_the_cli(room, who, tmp_path):
    rows = ["username,role,cohort"] + [f"big{i:04d},student,big" for i in range(1000)]
    text = (
        ROSTER.replace("alice,student,demo", "alice,student,other")
        + "\n".join(rows[1:])
        + "\ntabig,ta,big\n"
    )
    path = tmp_path / "big.csv"
    path.write_text(text)
    started = time.monotonic()
    out = cli(room, who["instructor"].token, "import", str(path))
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert "new cohort big" in out.stdout and "1001 new user(s)" in out.stdout
    assert "cohort big is new to this hub" in out.stdout  # its TA role needs a restart
    assert len(groups(who)["big"]) == 1000
    assert elapsed < 120, elapsed
    again = cli(room, who["instructor"].token, "import", str(path))
    assert "no changes" in again.stdout, again.stdout
    assert os.path.exists(room.state_dir / "audit.jsonl")
