"""The roster: cohorts, their students and TAs, and the instructors.

A cohort is a JupyterHub group. The roster comes from the settings (``roster.cohorts``
and ``roster.instructors``: the demo classroom by default) or from a CSV file
(``roster.file``: columns ``username,role,cohort``; role ``student`` or ``ta``;
instructors from the settings).

Parts: ``Roster`` (``from_settings``, ``users``, ``cohorts_of``, ``is_ta_of``).
"""

from dataclasses import dataclass, field

from .names import validate_username


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
        if conf.get("file"):
            from .roster_csv import read_roster_csv

            roster = read_roster_csv(conf["file"])
            roster.instructors = list(conf["instructors"])
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

    def cohorts_of(self, username: str) -> list[str]:
        return sorted(
            name
            for name, c in self.cohorts.items()
            if username in c.students or username in c.tas
        )

    def is_ta_of(self, username: str, cohort: str) -> bool:
        return cohort in self.cohorts and username in self.cohorts[cohort].tas
