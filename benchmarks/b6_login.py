"""6. Hub: login to a ready workspace in local mode, one student at a time (median), and
50 students logging in at once (p50/p95, and where the time goes).

Each student does what a browser does, timed from the first request of the login page:
the login form (which provisions their repository), a token, the spawn request, then
polling until the workspace extension answers ``GET imad/api/workspace`` with ``state:
ready`` (their app cloned into ``~/app``).

Where the time goes comes from the hub's log, where every workspace also writes, using
only lines that name the student:
- login: the form request, including the repository's provisioning (client side);
- spawn request → pre-spawn hook done ("Workspace of <user>": the hub side of the spawn);
- server process start (Python start and imports of Jupyter Server, JupyterLab and the
  extensions) → "IMAD workspace: app .../<user>/app" (our extension loading);
- → the hub sees the server answer ("User <user> took N seconds to start": rest of the
  server's start plus the hub's polling);
- → the workspace answers ready (clone done, proxy route, our polling every 0.2 s).
"""

import re
import statistics
import threading
import time

import requests

from .common import LogTail, start_room
from .report import Row, Section, percentile

NUMBER = 6
TITLE = "Hub: login to a ready workspace"

MARKS = [
    ("login form (incl. repository provisioning) + token", "begin", "logged_in"),
    ("hub spawn: request → pre-spawn hook done", "logged_in", "hook_done"),
    ("server process: launch + Python start + Jupyter imports", "hook_done", "extension"),
    ("server start → hub sees it up", "extension", "hub_ready"),
    ("→ workspace ready (clone, route, polling)", "hub_ready", "ready"),
]


def login_to_ready(room, user: str, marks: dict, timeout: float = 300):
    """A student's login → ready workspace; fills ``marks`` (time.time()) as it goes."""
    marks["begin"] = time.time()
    s = room.login(user)
    if s.login_response.status_code != 302:
        raise RuntimeError(f"login of {user}: {s.login_response.status_code}")
    token = room.token(s, user)
    marks["logged_in"] = time.time()
    h = {"Authorization": f"token {token}"}
    r = requests.post(room.url(f"hub/api/users/{user}/server"), headers=h, timeout=timeout)
    if r.status_code not in (201, 202):
        raise RuntimeError(f"spawn of {user}: {r.status_code} {r.text[:200]}")
    deadline = time.monotonic() + timeout
    with requests.Session() as http:
        http.headers.update(h)
        while time.monotonic() < deadline:
            try:
                w = http.get(
                    room.url(f"user/{user}/imad/api/workspace"), timeout=30, allow_redirects=False
                )
                if w.status_code == 200 and w.json().get("state") == "ready":
                    marks["ready"] = time.time()
                    return token
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.2)
    raise TimeoutError(f"{user}'s workspace was not ready in {timeout:g} s")


def log_marks(lines: list[str], user: str, marks: dict):
    from .common import log_time

    patterns = {
        "hook_done": rf"Workspace of {re.escape(user)}: repository",
        "extension": rf"IMAD workspace: app \S*/homes/{re.escape(user)}/app\b",
        "hub_ready": rf"User {re.escape(user)} took [\d.]+ seconds to start",
    }
    for mark, pattern in patterns.items():
        rx = re.compile(pattern)
        for line in lines:
            if rx.search(line):
                t = log_time(line)
                if t is not None:
                    marks.setdefault(mark, t)
                break


def stop_servers(room, tokens: dict):
    for user, token in tokens.items():
        try:
            requests.delete(
                room.url(f"hub/api/users/{user}/server"),
                headers={"Authorization": f"token {token}"},
                timeout=60,
            )
        except requests.RequestException:
            pass


def _steps(all_marks: list[dict]) -> list[tuple[str, list[float]]]:
    out = []
    for name, a, b in MARKS:
        out.append((name, [m[b] - m[a] for m in all_marks if a in m and b in m]))
    return out


def run(ctx) -> Section:
    singles = 2 if ctx.quick else 5
    crowd = 5 if ctx.quick else 50
    solo_users = [f"solo{i}" for i in range(singles)]
    crowd_users = [f"crowd{i:02d}" for i in range(crowd)]
    room = ctx.track(start_room(ctx.scratch("login"), solo_users + crowd_users, timeout=300))
    log = LogTail(room.log_path)
    # one student at a time
    solo_marks, tokens = [], {}
    for user in solo_users:
        marks = {}
        log.mark()
        tokens[user] = login_to_ready(room, user, marks)
        time.sleep(0.3)
        log_marks(log.new_lines(), user, marks)
        solo_marks.append(marks)
        stop_servers(room, {user: tokens[user]})
    # everyone at once
    crowd_marks = {u: {} for u in crowd_users}
    errors = {}
    crowd_tokens = {}
    log.mark()

    def one(user):
        try:
            crowd_tokens[user] = login_to_ready(room, user, crowd_marks[user], timeout=600)
        except Exception as e:
            errors[user] = f"{type(e).__name__}: {e}"[:200]

    began = time.monotonic()
    threads = [threading.Thread(target=one, args=(u,)) for u in crowd_users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    crowd_seconds = time.monotonic() - began
    time.sleep(0.5)
    lines = log.new_lines()
    for user in crowd_users:
        log_marks(lines, user, crowd_marks[user])
    stop_servers(room, crowd_tokens)

    solo_total = [m["ready"] - m["begin"] for m in solo_marks]
    crowd_ok = [m for u, m in crowd_marks.items() if "ready" in m]
    crowd_total = [m["ready"] - m["begin"] for m in crowd_ok]
    rows = [
        Row(
            "one student: login → workspace ready",
            solo_total,
            "s",
            baseline="a node hello-world answers 0.07 s after spawn",
        )
    ]
    for name, values in _steps(solo_marks):
        rows.append(Row(f"  one: {name}", values, "s"))
    rows += [
        Row(
            f"{crowd} students at once: login → ready, p50",
            [percentile(crowd_total, 50)],
            "s",
            notes=f"{len(crowd_ok)}/{crowd} ready; all done in {crowd_seconds:.0f} s"
            + (
                f"; {len(errors)} failed: {sorted(set(errors.values()))[0][:100]}" if errors else ""
            ),
        ),
        Row(f"{crowd} students at once: login → ready, p95", [percentile(crowd_total, 95)], "s"),
        Row(
            f"{crowd} students at once: failed logins/spawns",
            [len(errors)],
            "count",
            ("==", 0),
            target_on="sum",
        ),
    ]
    for name, values in _steps(crowd_ok):
        rows.append(
            Row(
                f"  {crowd} at once, median: {name}",
                [statistics.median(values)] if values else [],
                "s",
                notes=f"p95 {percentile(values, 95):.2f} s" if values else "",
            )
        )
    details = _details(singles, crowd, _steps(solo_marks), _steps(crowd_ok), crowd_total, errors)
    return Section(NUMBER, TITLE, rows, details)


def _details(singles, crowd, solo_steps, crowd_steps, crowd_total, errors) -> str:
    med = {name: statistics.median(v) for name, v in solo_steps if v}
    cmed = {name: statistics.median(v) for name, v in crowd_steps if v}
    imports = med.get(MARKS[2][0], float("nan"))
    seen = med.get(MARKS[3][0], float("nan"))
    c_imports = cmed.get(MARKS[2][0], float("nan"))
    c_login = cmed.get(MARKS[0][0], float("nan"))
    c_hook = cmed.get(MARKS[1][0], float("nan"))
    out = [
        f"{singles} students one after the other (each server stopped before the next), then {crowd} "
        f"students in {crowd} threads at once. Steps are medians; in the crowd, each student's steps.",
        "",
        "Where the time goes, one student:",
        "",
        f"- the workspace's own start: a Jupyter Server process importing Jupyter Server, JupyterLab "
        f"and the server extensions before our extension loads, {imports:.1f} s;",
        f"- the hub noticing it is up, {seen:.1f} s: after `Spawner.start()` returns, JupyterHub polls "
        "the server's URL with exponential backoff (`exponential_backoff`: waits drawn up to 0.2, 0.4, "
        "0.8, 1.6, 3.2 s...), so a server that answers after ~2 s is seen up to ~1.6 s late. Fix: a "
        "local spawner whose `start()` itself waits for the port (every 50 ms) before returning, so the "
        "hub's first poll succeeds at once;",
        "- login (with the repository's provisioning), the hub's spawn bookkeeping and the clone are "
        "tens of ms each.",
        "",
        f"{crowd} at once (p50 {percentile(crowd_total, 50):.0f} s, p95 {percentile(crowd_total, 95):.0f} s): "
        f"the machine has 2 cores and each workspace needs ~{imports:.0f} CPU-seconds of Python imports, "
        f"so {crowd} of them queue for the CPU (~{crowd * imports / 2:.0f} s of imports on 2 cores); the "
        f"server process step grows to {c_imports:.0f} s. The hub's own event loop is busy with it all: "
        f"the login form takes {c_login:.1f} s and the spawn request {c_hook:.1f} s before the process is "
        "even launched. The hub's `Spawner.http_timeout` (60 s, from the launch) was not reached here, "
        "but more students at once, or a slower machine, would hit it. What would help: fewer imports "
        "per workspace (disable server extensions the course does not use, e.g. jupyter_lsp, "
        "notebook_shim), starting workspaces ahead of class for a cohort (a pre-warmed pool), and "
        "more cores or nodes (Kubernetes mode spreads workspaces over nodes).",
    ]
    if errors:
        out += ["", f"Failures: {errors}."]
    return "\n".join(out)
