"""What the classroom dashboard shows, computed without tornado: cohorts, their students'
workspaces, repositories and apps, the gallery of live apps.

``DashboardData`` reads three sources and keeps each for ``ttl`` seconds, so a page
costs the same for 10 or 1,000 students:

- the hub (as the classroom service): ``GET groups`` (cohorts and their members) and
  ``GET users?state=active`` (only users with a running or pending server);
- the publisher's in-memory state, one cohort at a time (``statuses`` of its students:
  the cost follows the cohort, not the classroom);
- the students' repositories' last commits (``LastCommits``), looked up only for the
  rows on the page and cached by commit, since commits never change.

Who may see what is decided by the caller's scopes (``visible_cohorts``): the
classroom's ``custom:imad:dashboard`` (every cohort) or ``custom:imad:dashboard!group=C``.

Parts: ``SORT_KEYS``, ``WORKSPACE_STATES``, ``APP_STATES``, ``visible_cohorts``,
``has_scope``, ``LastCommits``, ``DashboardData``.
"""

import asyncio
import os
import time
from pathlib import Path

from ..errors import BadRequest, NotFound
from ..repohost import repo_host_for
from ..roster import cohort_of_ta_group
from ..roster_sync import HubAPI, roster_from_groups

SORT_KEYS = ("name", "workspace", "app", "published", "activity")
WORKSPACE_STATES = ("running", "pending", "stopped")
APP_STATES = ("live", "starting", "crashed", "unpublished")
MAX_LIMIT = 200


def has_scope(model: dict, scope: str) -> bool:
    """The caller holds ``scope`` unfiltered (e.g. an instructor's ``custom:imad:audit``)."""
    return scope in (model or {}).get("scopes", [])


def visible_cohorts(model: dict, scope: str = "custom:imad:dashboard") -> set | None:
    """Cohorts the caller may see: None for all, else the ``!group=`` filters held."""
    cohorts = set()
    for s in (model or {}).get("scopes", []):
        if s == scope:
            return None
        if s.startswith(scope + "!group="):
            cohorts.add(s.split("!group=", 1)[1])
    return cohorts


class _Cached:
    """One value refreshed at most every ``ttl`` seconds (one refresh at a time)."""

    def __init__(self, ttl: float, load):
        self.ttl, self.load = ttl, load
        self.value, self.at = None, 0.0
        self.lock = asyncio.Lock()

    async def get(self):
        if time.monotonic() - self.at < self.ttl:
            return self.value
        async with self.lock:
            if time.monotonic() - self.at >= self.ttl:
                self.value = await self.load()
                self.at = time.monotonic()
        return self.value

    def invalidate(self):
        self.at = 0.0


class LastCommits:
    """Last commit of each student's branch, for local repositories (bare git).

    The branch's ref is read from the repository's files (no process); a commit's
    message and time come from one ``git log -1`` per commit ever seen (cached), at most
    ``concurrency`` at a time. Other repository hosts answer None (not known here).
    """

    def __init__(self, settings: dict, concurrency: int = 8):
        self.enabled = settings["repos"]["host"] == "local"
        self.root = Path(settings["state_dir"]) / "repos"
        self.branch = settings["repos"]["branch"]
        self.cache: dict[str, dict] = {}
        self.semaphore = asyncio.Semaphore(concurrency)

    def head(self, user: str) -> str | None:
        repo = self.root / f"{user}.git"
        try:
            return (repo / "refs" / "heads" / self.branch).read_text().strip() or None
        except OSError:
            pass
        try:
            for line in (repo / "packed-refs").read_text().splitlines():
                if line.endswith(f" refs/heads/{self.branch}"):
                    return line.split(" ", 1)[0]
        except OSError:
            pass
        return None

    async def _describe(self, user: str, sha: str) -> dict | None:
        async with self.semaphore:
            proc = await asyncio.create_subprocess_exec(
                "git", "--git-dir", str(self.root / f"{user}.git"), "log", "-1",
                "--format=%H%x00%cI%x00%an%x00%s", sha,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            )  # fmt: skip
            out, _ = await proc.communicate()
        if proc.returncode != 0:
            return None
        full, when, author, message = out.decode(errors="replace").rstrip("\n").split("\0", 3)
        return {"sha": full, "short": full[:7], "time": when, "author": author, "message": message}

    async def get(self, users: list[str]) -> dict[str, dict | None]:
        if not self.enabled:
            return {u: None for u in users}
        heads = {u: self.head(u) for u in users}
        missing = {sha: u for u, sha in heads.items() if sha and sha not in self.cache}
        found = await asyncio.gather(*(self._describe(u, sha) for sha, u in missing.items()))
        for sha, info in zip(missing, found, strict=True):
            if info:
                self.cache[sha] = info
        return {u: self.cache.get(sha) if sha else None for u, sha in heads.items()}


class DashboardData:
    """The dashboard's data for one classroom (see the module docstring)."""

    def __init__(self, settings: dict, hub: HubAPI, publisher=None, ttl: float = 2.0):
        self.settings = settings
        self.hub = hub
        self.publisher = publisher
        self.repo_host = repo_host_for(settings)
        self.commits = LastCommits(settings)
        self.ttl = ttl
        self._groups = _Cached(ttl, lambda: hub.paged("groups"))
        self._active = _Cached(ttl, self._load_active)
        self._apps: dict[str, _Cached] = {}  # cohort -> {student: app}

    async def _load_active(self) -> dict:
        users = await self.hub.paged("users", params={"state": "active"})
        return {u["name"]: u for u in users}

    async def _load_apps(self, students) -> dict:
        """``{student: app}`` of the published apps of ``students``."""
        if self.publisher is None or not students:
            return {}
        return {
            app["owner"]: app
            for app in await self.publisher.statuses(students)
            if app["status"] != "unpublished"
        }

    async def _cohort_apps(self, cohort: str) -> dict:
        """The published apps of ``cohort``'s students (cached ``ttl`` seconds per cohort)."""
        cached = self._apps.get(cohort)
        if cached is None:
            await self._members(cohort)  # NotFound for a cohort that is not (no entry kept)

            async def load():
                return await self._load_apps(await self._members(cohort))

            cached = self._apps[cohort] = _Cached(self.ttl, load)
        return await cached.get()

    def invalidate(self):
        """Forget cached hub and app state (after an action changed it)."""
        for cached in (self._groups, self._active, *self._apps.values()):
            cached.invalidate()

    async def roster(self):
        return roster_from_groups(await self._groups.get())

    # --- reading ---------------------------------------------------------------------------

    @staticmethod
    def _workspace(user: dict | None) -> dict:
        server = ((user or {}).get("servers") or {}).get("")
        if not server:
            return {"status": "stopped", "url": None, "started": None, "last_activity": None}
        status = "running" if server.get("ready") else "pending"
        return {
            "status": status,
            "url": server.get("url"),
            "started": server.get("started"),
            "last_activity": server.get("last_activity"),
        }

    @staticmethod
    def _app(app: dict | None) -> dict:
        app = app or {}
        return {
            "status": app.get("status", "unpublished"),
            "url": app.get("url"),
            "commit": app.get("commit"),
            "published_at": app.get("published_at"),
            "updated_at": app.get("updated_at"),
        }

    def _repository(self, name: str) -> dict:
        info = self.repo_host.info(name)
        return {"name": info.name, "web_url": info.web_url, "clone_url": info.clone_url}

    async def cohorts(self, visible: set | None) -> list[dict]:
        """Every cohort the caller sees, with counts of students, running workspaces and
        live apps."""
        roster = await self.roster()
        active = await self._active.get()
        out = []
        for name, cohort in roster.cohorts.items():
            if visible is not None and name not in visible:
                continue
            students = cohort.students
            apps = await self._cohort_apps(name)
            out.append(
                {
                    "name": name,
                    "students": len(students),
                    "tas": cohort.tas,
                    "running": sum(
                        1 for s in students if self._workspace(active.get(s))["status"] == "running"
                    ),
                    "live": sum(1 for s in students if apps.get(s, {}).get("status") == "live"),
                }
            )
        return out

    async def cohort_of(self, student: str) -> str | None:
        return (await self.roster()).cohort_of(student)

    async def _members(self, cohort: str) -> list[str]:
        roster = await self.roster()
        if cohort not in roster.cohorts:
            raise NotFound(f"No cohort {cohort!r}.")
        return roster.cohorts[cohort].students

    async def students(
        self,
        cohort: str,
        *,
        offset: int = 0,
        limit: int = 50,
        sort: str = "name",
        order: str = "asc",
        workspace: str = "",
        app: str = "",
        q: str = "",
    ) -> dict:
        """One page of a cohort's students, sorted and filtered (see ``SORT_KEYS``)."""
        if sort not in SORT_KEYS:
            raise BadRequest(f"Unknown sort {sort!r}: use one of {', '.join(SORT_KEYS)}.")
        if order not in ("asc", "desc"):
            raise BadRequest("order is asc or desc.")
        if workspace and workspace not in WORKSPACE_STATES:
            raise BadRequest(f"workspace filter is one of {', '.join(WORKSPACE_STATES)}.")
        if app and app not in APP_STATES:
            raise BadRequest(f"app filter is one of {', '.join(APP_STATES)}.")
        try:
            offset, limit = max(0, int(offset)), max(1, min(int(limit), MAX_LIMIT))
        except (TypeError, ValueError):
            raise BadRequest("offset and limit are integers.") from None
        members = await self._members(cohort)
        active, apps = await self._active.get(), await self._cohort_apps(cohort)
        rows = []
        q = q.strip().lower()
        for name in members:
            if q and q not in name:
                continue
            ws = self._workspace(active.get(name))
            ap = self._app(apps.get(name))
            if workspace and ws["status"] != workspace:
                continue
            if app and ap["status"] != app:
                continue
            rows.append({"name": name, "workspace": ws, "app": ap})
        key = {
            "name": lambda r: r["name"],
            "workspace": lambda r: (WORKSPACE_STATES.index(r["workspace"]["status"]), r["name"]),
            "app": lambda r: (APP_STATES.index(r["app"]["status"]), r["name"]),
            "published": lambda r: (r["app"]["published_at"] or "", r["name"]),
            "activity": lambda r: (r["workspace"]["last_activity"] or "", r["name"]),
        }[sort]
        rows.sort(key=key, reverse=order == "desc")
        page = rows[offset : offset + limit]
        commits = await self.commits.get([r["name"] for r in page])
        for row in page:
            row["cohort"] = cohort
            row["repository"] = self._repository(row["name"])
            row["last_commit"] = commits[row["name"]]
        return {
            "cohort": cohort,
            "items": page,
            "total": len(rows),
            "cohort_size": len(members),
            "offset": offset,
            "limit": limit,
            "sort": sort,
            "order": order,
        }

    async def student(self, name: str) -> dict:
        """One student: cohort, repository and last commit, workspace, app."""
        cohort = await self.cohort_of(name)
        active, apps = await self._active.get(), await self._load_apps([name])
        commits = await self.commits.get([name])
        return {
            "name": name,
            "cohort": cohort,
            "repository": self._repository(name),
            "last_commit": commits[name],
            "workspace": self._workspace(active.get(name)),
            "app": self._app(apps.get(name)),
        }

    async def gallery(self, cohort: str, offset: int = 0, limit: int = 48) -> dict:
        """The cohort's live apps, most recently published first."""
        apps = await self._cohort_apps(cohort)
        live = [
            {"owner": a["owner"], "url": a["url"], "published_at": a.get("published_at"),
             "commit": a.get("commit")}
            for a in apps.values()
            if a.get("status") == "live"
        ]  # fmt: skip
        live.sort(key=lambda a: (a["published_at"] or "", a["owner"]), reverse=True)
        offset, limit = max(0, int(offset)), max(1, min(int(limit), MAX_LIMIT))
        return {
            "cohort": cohort,
            "items": live[offset : offset + limit],
            "total": len(live),
            "offset": offset,
            "limit": limit,
        }

    async def ta_cohorts(self) -> dict[str, list[str]]:
        """TA -> cohorts they help (from the ``ta:C`` groups)."""
        out: dict[str, list[str]] = {}
        for g in await self._groups.get():
            cohort = cohort_of_ta_group(g["name"])
            if cohort:
                for user in g["users"]:
                    out.setdefault(user, []).append(cohort)
        return out
