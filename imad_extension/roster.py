"""The roster: cohorts, their students and TAs, and the instructors.

A cohort is a JupyterHub group holding its students; the TAs of cohort ``C`` are the
group ``ta:C``, which holds the role ``imad-ta-C`` (JupyterHub has no REST API for role
membership, but it has one for groups, so TAs change at runtime through their group).

Where the roster comes from, first found wins:

1. ``roster.file``: a CSV file (``roster_csv``: columns ``username,role,cohort``; role
   ``student`` or ``ta``);
2. ``<state_dir>/roster.csv``: the last roster imported into the running hub (the
   dashboard's upload and ``imad roster import`` save it there when ``roster.file`` is
   unset), so a restarted hub loads the same roster;
3. ``roster.cohorts`` in the settings (the demo classroom by default).

Instructors always come from the settings (``roster.instructors``).

Parts: ``Cohort``, ``Roster`` (``from_settings``, ``users``, ``cohorts_of``,
``cohort_of``, ``is_ta_of``, ``hub_groups``), ``TA_GROUP_PREFIX``, ``ta_group``, ``cohort_of_ta_group``,
``saved_roster_path``.
"""

from dataclasses import dataclass, field
from pathlib import Path

from .names import validate_username

TA_GROUP_PREFIX = "ta:"  # ':' is never in a cohort name, so no group is both


def ta_group(cohort: str) -> str:
    """The JupyterHub group of cohort ``cohort``'s TAs."""
    return TA_GROUP_PREFIX + cohort


def cohort_of_ta_group(group: str) -> str | None:
    """``C`` for the TA group ``ta:C``, else None."""
    return group[len(TA_GROUP_PREFIX) :] if group.startswith(TA_GROUP_PREFIX) else None


def saved_roster_path(settings: dict) -> Path:
    """Where an imported roster is kept: ``roster.file``, else ``<state_dir>/roster.csv``."""
    if settings["roster"].get("file"):
        return Path(settings["roster"]["file"])
    return Path(settings["state_dir"]) / "roster.csv"


@dataclass
class Cohort:
    name: str
    students: list[str] = field(default_factory=list)
    tas: list[str] = field(default_factory=list)


@dataclass
class Roster:
    cohorts: dict[str, Cohort] = field(default_factory=dict)
    instructors: list[str] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: dict) -> "Roster":
        conf = settings["roster"]
        path = saved_roster_path(settings)
        if conf.get("file") or path.exists():
            from .roster_csv import read_roster_csv

            roster = read_roster_csv(path)
            roster.instructors = list(conf["instructors"])
            for user in roster.instructors:
                validate_username(user)
            return roster
        cohorts = {
            name: Cohort(name, list(c.get("students", [])), list(c.get("tas", [])))
            for name, c in conf["cohorts"].items()
        }
        roster = cls(cohorts=cohorts, instructors=list(conf["instructors"]))
        for user in roster.users:
            validate_username(user)
        return roster

    @property
    def students(self) -> list[str]:
        return sorted({s for c in self.cohorts.values() for s in c.students})

    @property
    def tas(self) -> list[str]:
        return sorted({t for c in self.cohorts.values() for t in c.tas})

    @property
    def users(self) -> list[str]:
        return sorted(set(self.students) | set(self.tas) | set(self.instructors))

    def hub_groups(self) -> dict:
        """JupyterHub groups (``load_groups`` shape): each cohort with its students, and
        ``ta:C`` with cohort ``C``'s TAs; properties tell the two kinds apart."""
        groups = {}
        for name, cohort in sorted(self.cohorts.items()):
            groups[name] = {"users": sorted(cohort.students), "properties": {"imad": "cohort"}}
            groups[ta_group(name)] = {
                "users": sorted(cohort.tas),
                "properties": {"imad": "tas", "cohort": name},
            }
        return groups

    def cohorts_of(self, username: str) -> list[str]:
        return sorted(
            name for name, c in self.cohorts.items() if username in c.students or username in c.tas
        )

    def cohort_of(self, student: str) -> str | None:
        """The cohort of ``student`` (a student belongs to one), else None."""
        for name, c in self.cohorts.items():
            if student in c.students:
                return name
        return None

    def is_ta_of(self, username: str, cohort: str) -> bool:
        return cohort in self.cohorts and username in self.cohorts[cohort].tas
