"""Roster CSV: good files, every kind of bad row (with line numbers), diffs, 1,000 rows."""

import pytest

from imad_extension.roster import Roster, saved_roster_path
from imad_extension.roster_csv import (
    RosterError,
    diff_rosters,
    parse_roster_csv,
    read_roster_csv,
    roster_to_csv,
)
from imad_extension.settings import load_settings


def test_good_file_with_header_extra_columns_comments_and_case(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(
        "\ufeffUsername,Role,Cohort,Email\n"
        "# staff\n"
        "Grace-H,ta,c1,g@example.org\n"
        "grace-h,ta,c2,\n"
        "\n"
        "alice,student,c1,a@example.org\n"
        "alice,student,c1,a@example.org\n"  # an exact duplicate is harmless
        "bob,Student,c2,\n"
    )
    roster = read_roster_csv(path)
    assert sorted(roster.cohorts) == ["c1", "c2"]
    assert roster.cohorts["c1"].students == ["alice"]
    assert roster.cohorts["c1"].tas == ["grace-h"]
    assert roster.cohorts["c2"].tas == ["grace-h"]
    assert roster.cohorts["c2"].students == ["bob"]
    assert roster.cohort_of("bob") == "c2"
    assert parse_roster_csv(roster_to_csv(roster)).cohorts == roster.cohorts


def test_no_header():
    roster = parse_roster_csv("alice,student,demo\nta,ta,demo\n")
    assert roster.cohorts["demo"].students == ["alice"]
    assert roster.cohorts["demo"].tas == ["ta"]


BAD_ROWS = [
    ("bad name", "al ice,student,demo", "bad user name 'al ice'"),
    ("bad name chars", "al/ice,student,demo", "bad user name"),
    ("too long", "a" * 65 + ",student,demo", "bad user name"),
    ("unknown role", "carol,teacher,demo", "unknown role 'teacher'"),
    ("bad cohort", "carol,student,Demo X", "bad cohort name 'Demo X'"),
    ("empty cohort", "carol,student,", "bad cohort name ''"),
    ("columns", "carol,student", "found 2"),
    ("too many columns", "carol,student,demo,x", "expected 3 columns, as the header, found 4"),
    (
        "duplicate with another role",
        "alice,ta,demo",
        "alice is listed as ta here but as student on line 2",
    ),
    ("student in two cohorts", "alice,student,other", "a student belongs to one cohort"),
]


@pytest.mark.parametrize("row,expected", [r[1:] for r in BAD_ROWS], ids=[r[0] for r in BAD_ROWS])
def test_each_kind_of_bad_row_is_reported_with_its_line(row, expected):
    text = "username,role,cohort\nalice,student,demo\n" + row + "\nbob,student,demo\n"
    with pytest.raises(RosterError) as e:
        parse_roster_csv(text)
    assert len(e.value.problems) == 1
    assert e.value.problems[0].line == 3
    assert expected in e.value.problems[0].message
    assert "line 3" in e.value.message and "nothing was changed" in e.value.message
    assert e.value.status == 400


def test_every_bad_row_is_listed():
    text = "x y,student,demo\nalice,boss,demo\nalice,student,demo\nbob,student,Demo\n"
    with pytest.raises(RosterError) as e:
        parse_roster_csv(text)
    assert [p.line for p in e.value.problems] == [1, 2, 4]


def test_header_missing_a_column():
    with pytest.raises(RosterError, match="header needs"):
        parse_roster_csv("username,cohort\nalice,demo\n")


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(RosterError, match="does not exist"):
        read_roster_csv(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(RosterError, match="UTF-8"):
        read_roster_csv(tmp_path / "bin.csv")


def test_diff_moved_student_new_cohort_ta_change():
    old = parse_roster_csv("alice,student,c1\nbob,student,c1\nta1,ta,c1\n")
    new = parse_roster_csv("alice,student,c2\nbob,student,c1\nta2,ta,c1\ncarol,student,c2\n")
    diff = diff_rosters(old, new)
    assert diff.moved == {"alice": ("c1", "c2")}
    assert diff.added_cohorts == ["c2"]
    assert diff.added_users == ["carol", "ta2"]
    assert diff.removed_users == ["ta1"]
    assert diff.tas_in == {"c1": ["ta2"]} and diff.tas_out == {"c1": ["ta1"]}
    lines = diff.lines()
    assert "student alice moved from c1 to c2" in lines
    assert diff_rosters(new, new).empty and diff_rosters(new, new).lines() == []


def test_thousand_rows_fast(tmp_path):
    import time

    rows = ["username,role,cohort"] + [f"s{i:04d},student,c{i % 3}" for i in range(1000)]
    rows += ["ta-a,ta,c0", "ta-a,ta,c1", "ta-b,ta,c2"]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(rows) + "\n")
    started = time.monotonic()
    roster = read_roster_csv(path)
    assert time.monotonic() - started < 1.0
    assert len(roster.students) == 1000
    assert sum(len(c.students) for c in roster.cohorts.values()) == 1000


def test_settings_roster_file_and_saved_roster(tmp_path):
    settings = load_settings(environ={"IMAD_STATE_DIR": str(tmp_path)})
    assert sorted(Roster.from_settings(settings).cohorts) == ["demo"]
    saved = saved_roster_path(settings)
    assert saved == tmp_path / "roster.csv"
    saved.write_text("zed,student,later\n")
    roster = Roster.from_settings(settings)
    assert sorted(roster.cohorts) == ["later"] and roster.instructors == ["instructor"]
    other = tmp_path / "file.csv"
    other.write_text("amy,student,c9\n")
    settings["roster"]["file"] = str(other)
    assert sorted(Roster.from_settings(settings).cohorts) == ["c9"]
    assert saved_roster_path(settings) == other
