"""Roles from the roster: students only themselves, TAs their cohort (through ta:C),
instructors everything incl. audit and roster; the hub config stays valid."""

from traitlets.config import Config

from imad_extension.hubconfig import SERVICE_SCOPES, configure, roles_for
from imad_extension.roster_csv import parse_roster_csv
from imad_extension.settings import load_settings


def _roles(tmp_path):
    settings = load_settings(environ={"IMAD_STATE_DIR": str(tmp_path)})
    roster = parse_roster_csv("alice,student,c1\nbob,student,c2\nta1,ta,c1\nta1,ta,c2\n")
    roster.instructors = ["prof"]
    return {r["name"]: r for r in roles_for(settings, roster)}


def test_student_role_is_only_self(tmp_path):
    user = _roles(tmp_path)["user"]
    assert user["scopes"] == ["self", "access:services!service=imad", "custom:imad:apps!user"]


def test_ta_roles_per_cohort_held_by_ta_groups(tmp_path):
    roles = _roles(tmp_path)
    ta = roles["imad-ta-c1"]
    assert ta["groups"] == ["ta:c1"] and "users" not in ta
    for scope in ("admin-ui", "list:users!group=c1", "read:users!group=c1",
                  "admin:servers!group=c1", "access:servers!group=c1",
                  "custom:imad:apps!group=c1", "custom:imad:dashboard!group=c1"):  # fmt: skip
        assert scope in ta["scopes"]
    assert not any(s.startswith(("custom:imad:audit", "custom:imad:roster")) for s in ta["scopes"])
    assert not any("group=c2" in s for s in ta["scopes"])
    assert "imad-ta-c2" in roles


def test_instructor_has_everything(tmp_path):
    inst = _roles(tmp_path)["imad-instructor"]
    assert inst["users"] == ["prof"]
    for scope in (*SERVICE_SCOPES, "admin:servers", "access:servers", "admin-ui", "admin:groups"):
        assert scope in inst["scopes"]


def test_configure_writes_groups_for_cohorts_and_tas(tmp_path):
    c = Config()
    settings = load_settings(environ={"IMAD_STATE_DIR": str(tmp_path), "IMAD_PASSWORD": "x"})
    configure(c, settings)
    assert c.JupyterHub.load_groups == {
        "demo": {"users": ["alice", "bob"], "properties": {"imad": "cohort"}},
        "ta:demo": {"users": ["ta"], "properties": {"imad": "tas", "cohort": "demo"}},
    }
    names = [r["name"] for r in c.JupyterHub.load_roles]
    assert "imad-ta-demo" in names and "imad-instructor" in names
