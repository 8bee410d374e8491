"""Roster CSV files: reading them strictly, and what changes between two rosters.

A roster file has one row per (user, cohort): ``username,role,cohort``. ``username`` is
the JupyterHub user name (the GitHub login in GitHub mode; lower-cased, as the hub
does), ``role`` is ``student`` or ``ta``, ``cohort`` a cohort (JupyterHub group) name.
A header row naming the columns is optional; with one, columns are found by name and
extra columns (e.g. ``email``) are ignored. Blank lines and lines starting with ``#``
are skipped. A TA may be listed for several cohorts; a student belongs to one.

Reading is all-or-nothing: ``read_roster_csv`` checks every row and raises one
``RosterError`` listing every bad row with its line number, so an import with a bad
row changes nothing.

Parts: ``COHORT_RE``, ``RosterError``, ``RowProblem``, ``parse_roster_csv``,
``read_roster_csv``, ``roster_to_csv``, ``RosterDiff``, ``diff_rosters``.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BadRequest
from .names import USERNAME_RE
from .roster import Cohort, Roster

# A cohort is a JupyterHub group, and names a role (``imad-ta-<cohort>``), whose names
# JupyterHub wants lower-case and ending in a letter or digit.
COHORT_RE = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")
ROLES = ("student", "ta")
HEADER_NAMES = {
    "username": ("username", "user", "user name", "user_name", "login", "github", "name"),
    "role": ("role",),
    "cohort": ("cohort", "group"),
}
MAX_ROWS = 100_000


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str

    def __str__(self):
        return f"line {self.line}: {self.message}"


class RosterError(BadRequest):
    """A roster file with bad rows; ``problems`` lists each with its line number."""

    reason = "bad_roster"

    def __init__(self, problems: list[RowProblem], source: str = "roster"):
        self.problems = list(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:50])
        more = len(self.problems) - 50
        if more > 0:
            shown += f"\n  ... and {more} more"
        super().__init__(
            f"{source}: {len(self.problems)} bad row(s); nothing was changed.\n{shown}",
            problems=[{"line": p.line, "message": p.message} for p in self.problems],
        )


def _header_columns(row: list[str]) -> dict | None:
    """Column positions when ``row`` is a header, else None."""
    cells = [c.strip().lower() for c in row]
    found = {}
    for key, names in HEADER_NAMES.items():
        for i, cell in enumerate(cells):
            if cell in names:
                found[key] = i
                break
    if "username" in found and "role" in found and "cohort" in found:
        return found
    if any(c in ("username", "role", "cohort") for c in cells):
        return {}  # looks like a header but lacks a column: reported by the caller
    return None


def parse_roster_csv(text: str, source: str = "roster") -> Roster:
    """A ``Roster`` from CSV text (see the module docstring); raises ``RosterError``."""
    problems: list[RowProblem] = []
    columns = {"username": 0, "role": 1, "cohort": 2}
    seen_role: dict[str, tuple[str, int]] = {}  # user -> (role, first line)
    student_cohort: dict[str, tuple[str, int]] = {}
    cohorts: dict[str, Cohort] = {}
    rows = csv.reader(io.StringIO(text, newline=""))
    first, has_header, header_width = True, False, 3
    count = 0
    for row in rows:
        line = rows.line_num
        if not row or not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        if first:
            first = False
            header = _header_columns(row)
            if header == {}:
                problems.append(
                    RowProblem(line, "the header needs the columns username, role and cohort")
                )
                break
            if header is not None:
                columns, has_header, header_width = header, True, len(row)
                continue
        count += 1
        if count > MAX_ROWS:
            problems.append(RowProblem(line, f"more than {MAX_ROWS} rows"))
            break
        width = max(columns.values()) + 1
        if len(row) < width or len(row) > header_width:
            expected = header_width if has_header else "3 columns (username,role,cohort)"
            expected = f"{expected} columns, as the header" if has_header else expected
            problems.append(RowProblem(line, f"expected {expected}, found {len(row)}"))
            continue
        raw_name = row[columns["username"]].strip()
        role = row[columns["role"]].strip().lower()
        cohort = row[columns["cohort"]].strip()
        name = raw_name.lower()
        bad = False
        if not USERNAME_RE.match(name):
            problems.append(
                RowProblem(
                    line,
                    f"bad user name {raw_name!r}: use 1-64 letters, digits, '-', '_' or '.',"
                    " starting with a letter or digit",
                )
            )
            bad = True
        if role not in ROLES:
            problems.append(
                RowProblem(
                    line, f"unknown role {row[columns['role']].strip()!r}: use student or ta"
                )
            )
            bad = True
        if not COHORT_RE.match(cohort):
            problems.append(
                RowProblem(
                    line,
                    f"bad cohort name {cohort!r}: use 1-64 lower-case letters, digits, '-', '_'"
                    " or '.', starting and ending with a letter or digit",
                )
            )
            bad = True
        if bad:
            continue
        if name in seen_role and seen_role[name][0] != role:
            other_role, other_line = seen_role[name]
            problems.append(
                RowProblem(
                    line,
                    f"{name} is listed as {role} here but as {other_role} on line {other_line}",
                )
            )
            continue
        seen_role.setdefault(name, (role, line))
        if role == "student":
            if name in student_cohort and student_cohort[name][0] != cohort:
                other_cohort, other_line = student_cohort[name]
                problems.append(
                    RowProblem(
                        line,
                        f"student {name} is in cohort {cohort} here but in {other_cohort} on"
                        f" line {other_line}; a student belongs to one cohort",
                    )
                )
                continue
            student_cohort.setdefault(name, (cohort, line))
        entry = cohorts.setdefault(cohort, Cohort(cohort))
        members = entry.students if role == "student" else entry.tas
        if name not in members:  # an exact duplicate row is harmless
            members.append(name)
    if problems:
        raise RosterError(problems, source)
    for c in cohorts.values():
        c.students.sort()
        c.tas.sort()
    return Roster(cohorts=dict(sorted(cohorts.items())), instructors=[])


def read_roster_csv(path) -> Roster:
    """The roster in the CSV file at ``path`` (instructors empty); raises ``RosterError``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RosterError([RowProblem(0, f"{path} does not exist")], str(path)) from None
    except UnicodeDecodeError as e:
        raise RosterError([RowProblem(0, f"not UTF-8 text ({e.reason})")], str(path)) from None
    return parse_roster_csv(text, str(path))


def roster_to_csv(roster: Roster) -> str:
    """The CSV text of ``roster`` (header, then one row per membership, sorted)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["username", "role", "cohort"])
    for name, cohort in sorted(roster.cohorts.items()):
        for ta in sorted(cohort.tas):
            writer.writerow([ta, "ta", name])
        for student in sorted(cohort.students):
            writer.writerow([student, "student", name])
    return out.getvalue()


@dataclass
class RosterDiff:
    """What changes from one roster to another, per cohort and per user.

    ``added_users``/``removed_users``: users who join / leave the roster (students and
    TAs; instructors are not part of a CSV roster). ``added_cohorts``/``removed_cohorts``:
    cohorts that appear / disappear. ``students_in`` / ``students_out`` / ``tas_in`` /
    ``tas_out``: cohort -> sorted user names joining / leaving it. ``moved``: student ->
    (old cohort, new cohort).
    """

    added_users: list[str] = field(default_factory=list)
    removed_users: list[str] = field(default_factory=list)
    added_cohorts: list[str] = field(default_factory=list)
    removed_cohorts: list[str] = field(default_factory=list)
    students_in: dict[str, list[str]] = field(default_factory=dict)
    students_out: dict[str, list[str]] = field(default_factory=dict)
    tas_in: dict[str, list[str]] = field(default_factory=dict)
    tas_out: dict[str, list[str]] = field(default_factory=dict)
    moved: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(
            (self.added_users, self.removed_users, self.added_cohorts, self.removed_cohorts,
             self.students_in, self.students_out, self.tas_in, self.tas_out)
        )  # fmt: skip

    def to_json(self) -> dict:
        return {
            "added_users": self.added_users,
            "removed_users": self.removed_users,
            "added_cohorts": self.added_cohorts,
            "removed_cohorts": self.removed_cohorts,
            "students_in": self.students_in,
            "students_out": self.students_out,
            "tas_in": self.tas_in,
            "tas_out": self.tas_out,
            "moved": {k: list(v) for k, v in self.moved.items()},
        }

    def lines(self) -> list[str]:
        """What changed, for people, one line per fact (``[]`` when nothing does)."""
        out = []
        for c in self.added_cohorts:
            out.append(f"new cohort {c}")
        for c in self.removed_cohorts:
            out.append(f"cohort {c} is no longer on the roster")
        if self.added_users:
            out.append(f"{len(self.added_users)} new user(s): {_short(self.added_users)}")
        if self.removed_users:
            out.append(
                f"{len(self.removed_users)} user(s) left the roster: {_short(self.removed_users)}"
            )
        for s, (old, new) in sorted(self.moved.items()):
            out.append(f"student {s} moved from {old} to {new}")
        moved = set(self.moved)
        for c, users in sorted(self.students_in.items()):
            users = [u for u in users if u not in moved]
            if users:
                out.append(f"cohort {c}: +{len(users)} student(s): {_short(users)}")
        for c, users in sorted(self.students_out.items()):
            users = [u for u in users if u not in moved]
            if users:
                out.append(f"cohort {c}: -{len(users)} student(s): {_short(users)}")
        for c, users in sorted(self.tas_in.items()):
            out.append(f"cohort {c}: +TA {', '.join(users)}")
        for c, users in sorted(self.tas_out.items()):
            out.append(f"cohort {c}: -TA {', '.join(users)}")
        return out


def _short(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def diff_rosters(old: Roster, new: Roster) -> RosterDiff:
    """What applying ``new`` over ``old`` changes (students and TAs; not instructors)."""

    def members(roster: Roster, attr: str) -> dict[str, set[str]]:
        return {name: set(getattr(c, attr)) for name, c in roster.cohorts.items()}

    diff = RosterDiff()
    old_users = set(old.students) | set(old.tas)
    new_users = set(new.students) | set(new.tas)
    diff.added_users = sorted(new_users - old_users)
    diff.removed_users = sorted(old_users - new_users)
    diff.added_cohorts = sorted(set(new.cohorts) - set(old.cohorts))
    diff.removed_cohorts = sorted(set(old.cohorts) - set(new.cohorts))
    for attr, into, out_of in (
        ("students", diff.students_in, diff.students_out),
        ("tas", diff.tas_in, diff.tas_out),
    ):
        before, after = members(old, attr), members(new, attr)
        for cohort in sorted(set(before) | set(after)):
            joined = after.get(cohort, set()) - before.get(cohort, set())
            left = before.get(cohort, set()) - after.get(cohort, set())
            if joined:
                into[cohort] = sorted(joined)
            if left:
                out_of[cohort] = sorted(left)
    old_home = {s: c for c, ss in members(old, "students").items() for s in ss}
    new_home = {s: c for c, ss in members(new, "students").items() for s in ss}
    for student, cohort in sorted(new_home.items()):
        if student in old_home and old_home[student] != cohort:
            diff.moved[student] = (old_home[student], cohort)
    return diff
