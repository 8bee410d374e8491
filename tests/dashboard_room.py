"""Helpers for the dashboard, roster and authorization tests: a classroom with a roster
file, people with tokens, and calls to the classroom service as them.

Parts: ``ROSTER``, ``start_room``, ``Person``, ``people``, ``head_commit``.
"""

import subprocess
import time

import requests

from .classroom import Classroom

# Two cohorts: alice and bob study in demo (TA: ta), carol in other (TA: ta2).
ROSTER = """username,role,cohort
alice,student,demo
bob,student,demo
ta,ta,demo
carol,student,other
ta2,ta,other
"""


def start_room(state_dir, roster: str = ROSTER, **env) -> Classroom:
    """A classroom whose roster is ``roster`` (CSV text), started."""
    return Classroom(state_dir, extra_env=env, roster=roster).start(timeout=90)


def start_workspace(room: Classroom, token: str, user: str, timeout: float = 120):
    """Start ``user``'s workspace and wait until it answers (a slow spawn is fine)."""
    h = {"Authorization": f"token {token}"}
    r = requests.post(room.url(f"hub/api/users/{user}/server"), headers=h, timeout=60)
    assert r.status_code in (201, 202, 400), r.text
    wait_for(
        lambda: requests.get(room.url(f"user/{user}/api/status"), headers=h, timeout=10,
                             allow_redirects=False).status_code == 200,
        timeout, what=f"{user}'s workspace",
    )  # fmt: skip


class Person:
    """One actor: a token (None: anonymous) and calls as them."""

    def __init__(self, room: Classroom, name: str | None, token: str | None):
        self.room, self.name, self.token = room, name, token

    @property
    def headers(self) -> dict:
        return {"Authorization": f"token {self.token}"} if self.token else {}

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def call(self, method, path, **kw):
        kw.setdefault("timeout", 60)
        kw.setdefault("allow_redirects", False)
        return requests.request(method, self.room.url(path), headers=self.headers, **kw)

    def service(self, method, path, **kw):
        return self.call(method, "services/imad/" + path, **kw)


def people(room: Classroom, names) -> dict:
    out = {}
    for name in names:
        session = room.login(name)
        assert session.login_response.status_code == 302, (name, session.login_response.text[:300])
        out[name] = Person(room, name, room.token(session, name))
    out[None] = Person(room, None, None)
    return out


def head_commit(room: Classroom, user: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(room.state_dir / "repos" / f"{user}.git"), "rev-parse", "main"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def wait_for(predicate, timeout: float = 60, every: float = 0.3, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"{what} not reached in {timeout}s")
