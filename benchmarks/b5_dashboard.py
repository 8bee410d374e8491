"""5. Dashboard: a cohort's page and JSON for 1,000 students (target ≤ 300 ms server time).

A classroom whose roster has one cohort of 1,000 students (the hub creates them at
start); the first 200 have a repository with a commit of their own (the biggest page's
rows look up their last commit). The instructor's token calls:

- the cohort page (HTML, 50 rows, sorted by name) and the students JSON (50 rows; 200
  rows sorted by app status), and the cohorts JSON;
- "warm": right after another request (the hub's groups and active users, and the apps,
  are cached for 2 s); "cold": after those caches expired, so the request asks the hub.

Server time is what the service's own access log says (tornado's request time, ms);
the client's time through the hub's proxy is reported beside it.
"""

import re
import shutil
import subprocess
import time
from pathlib import Path

import requests

from .common import LogTail, start_room, wait_until
from .report import Row, Section

NUMBER = 5
TITLE = "Dashboard: cohort page and JSON, 1,000 students"
TARGET_MS = 300
COHORT = "web-2027"


def student_names(n: int) -> list[str]:
    return [f"student{i:04d}" for i in range(n)]


def make_repositories(state_dir: Path, names: list[str]):
    """Repositories with one commit of their own each (as after a first commit)."""
    from imad_extension.repohost.local import LocalRepoHost
    from imad_extension.settings import DEFAULTS

    repos = state_dir / "repos"
    host = LocalRepoHost(root=str(repos), template=DEFAULTS["repos"]["template"], branch="main")
    import asyncio

    asyncio.run(host.provision(names[0]))
    base = repos / f"{names[0]}.git"
    env = {"GIT_AUTHOR_NAME": "Student", "GIT_AUTHOR_EMAIL": "s@imad.invalid",
           "GIT_COMMITTER_NAME": "Student", "GIT_COMMITTER_EMAIL": "s@imad.invalid", "PATH": "/usr/bin:/bin"}  # fmt: skip
    for name in names[1:]:
        dest = repos / f"{name}.git"
        if not dest.exists():
            shutil.copytree(base, dest, symlinks=True)
        git = ["git", "--git-dir", str(dest)]
        sha = subprocess.run([*git, "commit-tree", "main^{tree}", "-p", "main", "-m", f"Work of {name}"],
                             env=env, check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
        subprocess.run([*git, "update-ref", "refs/heads/main", sha], check=True)


def server_ms(log: LogTail, nonce: str) -> float | None:
    rx = re.compile(r"tornado\.access\] \d+ GET \S*[?&]_b=" + re.escape(nonce) + r"\b.*?([\d.]+)ms")
    for line in log.new_lines():
        m = rx.search(line)
        if m:
            return float(m.group(1))
    return None


def run(ctx) -> Section:
    students = 50 if ctx.quick else 1_000
    with_repos = 10 if ctx.quick else 200
    runs = 2 if ctx.quick else 7
    state = ctx.scratch("dashboard")
    names = student_names(students)
    began = time.monotonic()
    room = ctx.track(start_room(state, names, cohort=COHORT, timeout=600))
    hub_start = time.monotonic() - began
    make_repositories(state, names[:with_repos])
    s = room.login("instructor")
    token = room.token(s, "instructor")
    http = requests.Session()
    http.headers["Authorization"] = f"token {token}"
    log = LogTail(room.log_path)
    base = room.url("services/imad/")
    requests_ = [
        ("cohort page (HTML, 50 rows)", f"cohorts/{COHORT}?"),
        ("students JSON (50 rows)", f"api/cohorts/{COHORT}/students?"),
        (
            "students JSON (200 rows, sorted by app)",
            f"api/cohorts/{COHORT}/students?limit=200&sort=app&",
        ),
        ("cohorts JSON", "api/cohorts?"),
    ]
    # first call: every cache cold, and the last commits of the rows read once (kept: commits never change)
    r = http.get(base + f"api/cohorts/{COHORT}/students?limit=200", timeout=120)
    if r.status_code != 200 or r.json().get("cohort_size") != students:
        raise RuntimeError(f"dashboard JSON answered {r.status_code}: {r.text[:300]}")
    results = {(name, mode): ([], []) for name, _ in requests_ for mode in ("warm", "cold")}
    n = 0
    for _ in range(runs):
        for mode in ("cold", "warm"):
            for name, path in requests_:
                if mode == "cold":
                    time.sleep(2.1)  # the hub and apps caches (2 s) expire
                n += 1
                log.mark()
                t = time.perf_counter()
                r = http.get(base + path + f"_b={n}", timeout=120)
                client = (time.perf_counter() - t) * 1000
                if r.status_code != 200:
                    raise RuntimeError(f"{name} answered {r.status_code}: {r.text[:300]}")
                server = wait_until(
                    lambda n=n: server_ms(log, str(n)), 5, 0.05, "the service's access log line"
                )
                results[(name, mode)][0].append(server)
                results[(name, mode)][1].append(client)
    rows = []
    for name, _ in requests_:
        for mode in ("cold", "warm"):
            server, client = results[(name, mode)]
            rows.append(Row(f"{name}, {mode}", server, "ms", ("<=", TARGET_MS),
                            notes=f"server time; client through the hub proxy {sorted(client)[len(client) // 2]:.0f} ms"))  # fmt: skip
    details = (
        f"One cohort of {students:,} students ({with_repos} with a repository and a commit of their "
        f"own; none with a running workspace or a published app: this machine cannot run 1,000 of "
        f"either, and both are read from in-memory caches). The hub took {hub_start:.0f} s to start "
        f"with this roster. Cold: the 2-s caches of the hub's groups, active users and the apps had "
        f"expired, so the request waited for the hub's REST API (groups, users?state=active)."
    )
    return Section(NUMBER, TITLE, rows, details)
