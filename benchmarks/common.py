"""What the benchmarks share: a real local classroom with a roster, a student's
workspace API, and an HTTP client of an app host.

- ``start_room(state_dir, students, cohort)``: a ``tests.classroom.Classroom`` whose
  roster file lists ``students`` in ``cohort`` (plus TA ``ta``; the default instructor
  ``instructor``), started.
- ``Student``: one logged-in student with a token: ``api`` (the workspace API),
  ``write`` (a file through the Jupyter contents API), ``spawn``.
- ``AppClient``: keep-alive GETs of ``<user>.apps.localhost`` through the apps proxy
  (Python cannot resolve ``*.localhost``: it connects to 127.0.0.1 with a Host header).
- ``wait_until``: a bounded poll.

- ``LogTail``/``log_time``: new lines of the hub's log (workspaces and the service log
  there too) and the times they were written.

Parts: ``start_room``, ``Student``, ``AppClient``, ``wait_until``, ``Timer``, ``LogTail``,
``log_time``.
"""

import datetime
import http.client
import re
import time
from pathlib import Path

import requests

from tests.classroom import Classroom


def wait_until(predicate, timeout: float, every: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout:g} s")
        time.sleep(every)


def roster_csv(students, cohort="bench", tas=("ta",)) -> str:
    lines = ["username,role,cohort"]
    lines += [f"{s},student,{cohort}" for s in students]
    lines += [f"{t},ta,{cohort}" for t in tas]
    return "\n".join(lines) + "\n"


def start_room(
    state_dir: Path, students, cohort: str = "bench", timeout: float = 180, **env
) -> Classroom:
    """A started classroom whose roster is ``students`` in ``cohort`` (+ TA ``ta``)."""
    room = Classroom(Path(state_dir), extra_env=env, roster=roster_csv(students, cohort))
    try:
        room.start(timeout=timeout)
    except BaseException:
        room.stop()
        raise
    return room


class Student:
    """A student logged in through the form, with a token for the APIs."""

    def __init__(self, room: Classroom, name: str):
        self.room, self.name = room, name
        self.session = room.login(name)
        if self.session.login_response.status_code != 302:
            raise RuntimeError(f"login of {name} failed: {self.session.login_response.status_code}")
        self.token = room.token(self.session, name)
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {self.token}"

    def spawn(self, timeout: float = 180):
        self.room.spawn(self.token, self.name, timeout=timeout)
        wait_until(
            lambda: self.workspace().get("state") == "ready", timeout, 0.2, "workspace ready"
        )

    def url(self, path: str) -> str:
        return self.room.url(f"user/{self.name}/{path}")

    def api(self, method: str, path: str, **kw):
        kw.setdefault("timeout", 120)
        return self.http.request(method, self.url(f"imad/api/{path}"), **kw)

    def workspace(self) -> dict:
        r = self.api("GET", "workspace")
        return r.json() if r.status_code == 200 else {}

    def write(self, path: str, content: str):
        r = self.http.put(
            self.url(f"api/contents/app/{path}"),
            json={"type": "file", "format": "text", "content": content},
            timeout=60,
        )
        if r.status_code not in (200, 201):
            raise RuntimeError(f"writing {path} failed: {r.status_code} {r.text[:200]}")

    def read(self, path: str) -> str:
        r = self.http.get(self.url(f"api/contents/app/{path}"), timeout=60)
        r.raise_for_status()
        return r.json()["content"]


class AppClient:
    """Keep-alive GETs of a student's app host through the apps proxy."""

    def __init__(self, room: Classroom, user: str, timeout: float = 5.0):
        self.port = room.apps_port
        self.host = f"{user}.apps.localhost:{self.port}"
        self.timeout = timeout
        self.conn = None
        self.reconnects = 0  # kept-alive connections the proxy had closed (retried once)

    def get(self, path: str = "/") -> tuple[int, str]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request("GET", path, headers={"Host": self.host})
                r = self.conn.getresponse()
                body = r.read().decode("utf-8", "replace")
                if r.getheader("connection", "").lower() == "close":
                    self.close()
                return r.status, body
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # a kept-alive connection the proxy closed meanwhile: reconnect once, as
                # browsers do for an idempotent request; counted in ``reconnects``
                self.close()
                if attempt == 2:
                    raise
                self.reconnects += 1
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Timer:
    """Named timestamps (``time.time``, comparable with log lines) and spans between them."""

    def __init__(self):
        self.marks: dict[str, float] = {}

    def mark(self, name: str, at: float | None = None):
        self.marks.setdefault(name, time.time() if at is None else at)

    def span(self, a: str, b: str) -> float | None:
        if a in self.marks and b in self.marks:
            return self.marks[b] - self.marks[a]
        return None


LOG_TIME = re.compile(r"^\[\w (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[.,](\d{3})")


def log_time(line: str) -> float | None:
    """Epoch seconds of a hub/server/service log line (``[I 2026-01-01 10:00:00.123 ...``)."""
    m = LOG_TIME.match(line)
    if not m:
        return None
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")  # local time, as logged
    return t.timestamp() + int(m.group(2)) / 1000


class LogTail:
    """The lines a log file gained since the last ``mark()``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0

    def mark(self):
        try:
            self.offset = self.path.stat().st_size
        except OSError:
            self.offset = 0

    def new_lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        return data.decode("utf-8", "replace").splitlines()

    def first(self, pattern: str, lines=None) -> float | None:
        """Epoch time of the first new line matching ``pattern`` (a regex)."""
        rx = re.compile(pattern)
        for line in lines if lines is not None else self.new_lines():
            if rx.search(line):
                return log_time(line)
        return None
