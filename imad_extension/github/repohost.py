"""GitHub repository host: each student's copy of the course app is their own repository.

``GitHubRepoHost.provision(username, token, progress=None)`` runs with the student's own
OAuth token (from JupyterHub's auth state) at first login or spawn:

1. ``GET /user``: whose token this is (it must be ``username``'s);
2. ``GET /repos/<login>/<name>``: an existing copy of the template (a fork of it, or a
   repository generated from it) is reused; a same-named repository that is not from
   the template is an error with a clear message, never overwritten;
3. otherwise ``POST /repos/<template>/forks`` (``strategy = "fork"``, the seed's way and
   the default) or ``POST /repos/<template>/generate`` (``"generate"``);
4. GitHub makes copies asynchronously: poll the copy's branch
   (``GET .../git/ref/heads/<branch>``, 409 while empty) with backoff, for at most
   ``provision_timeout`` s, until it exists and, for a fresh copy, its commit has the
   template's tree (``GET .../git/commits/<sha>``).

Progress goes to the ``progress`` callback as JupyterHub spawn-progress events
(``{"progress": 0-100, "message": str}``), including "GitHub is busy, retrying" while
rate limits are waited out (see ``api``/``ratelimit``).

Parts: ``GitHubRepoHost``.
"""

import asyncio
import time

from traitlets import Bool, CaselessStrEnum, Float, Int, Unicode

from ..errors import Conflict, Forbidden, ImadError, NotFound, Unauthorized, UpstreamError
from ..names import validate_username
from ..repohost import RepoHost, RepoInfo
from . import api_url_for
from .api import GitHubAPI
from .ratelimit import RetryPolicy, WritePacer


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and a.lower() == b.lower()


class GitHubRepoHost(RepoHost):
    """Students' repositories on GitHub (or GitHub Enterprise Server)."""

    github_url = Unicode(
        "https://github.com",
        config=True,
        help="GitHub's web URL (GitHub Enterprise Server: its URL). Clone URLs are made from it.",
    )
    api_url = Unicode(
        "",
        config=True,
        help="GitHub's REST API root. Default: https://api.github.com, or <github_url>/api/v3.",
    )
    template_repo = Unicode(
        "imad-course/imad-app", config=True, help="The course template, as owner/name."
    )
    repo_name = Unicode("imad-app", config=True, help="Name of each student's repository.")
    strategy = CaselessStrEnum(
        ["fork", "generate"],
        "fork",
        config=True,
        help="fork the template (default) or generate from it (it must be a template repository).",
    )
    private = Bool(
        False,
        config=True,
        help="Generated repositories are private (needs the 'repo' scope). Forks keep the template's visibility.",
    )
    provision_timeout = Float(
        120.0, config=True, help="Seconds to wait for GitHub to fill a new copy with content."
    )
    poll_interval = Float(1.0, config=True, help="First wait (s) between checks of a new copy.")
    poll_max_interval = Float(8.0, config=True, help="Longest wait (s) between checks.")
    retry_max_wait = Float(
        120.0, config=True, help="Seconds one request may spend waiting out rate limits."
    )
    retry_base = Float(1.0, config=True, help="First exponential backoff step (s).")
    secondary_min_wait = Float(
        60.0,
        config=True,
        help="Wait (s) after a secondary rate limit that gave no Retry-After (GitHub: at least a minute).",
    )
    writes_per_minute = Int(
        80, config=True, help="Content-creating requests per token per minute (GitHub's limit: 80)."
    )
    write_interval = Float(
        1.0, config=True, help="Seconds between content-creating requests of one token."
    )
    request_timeout = Float(20.0, config=True, help="Seconds for one HTTP request to GitHub.")

    @classmethod
    def from_settings(cls, settings: dict, **kwargs):
        gh = settings["auth"]["github"]
        repos = settings["repos"]
        values = dict(
            github_url=(gh["url"] or "https://github.com").rstrip("/"),
            api_url=api_url_for(gh["url"], gh["api_url"]),
            template_repo=repos["template_repo"],
            repo_name=repos["name"],
            strategy=repos["strategy"],
            private=bool(gh["private_repos"]),
            provision_timeout=float(repos["provision_timeout"]),
            branch=repos["branch"],
        )
        values.update(kwargs)
        return cls(**values)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._pacer = WritePacer(self.writes_per_minute, self.write_interval)
        self._known: dict[str, RepoInfo] = {}  # username -> last provisioned copy

    @property
    def _api_root(self) -> str:
        return api_url_for(self.github_url, self.api_url)

    def _client(self, token: str, on_retry=None) -> GitHubAPI:
        policy = RetryPolicy(
            max_wait=self.retry_max_wait,
            base=self.retry_base,
            secondary_min=self.secondary_min_wait,
        )
        return GitHubAPI(
            self._api_root,
            token,
            pacer=self._pacer,
            policy=policy,
            on_retry=on_retry,
            timeout=self.request_timeout,
            log=self.log,
        )

    # --- the interface ------------------------------------------------------------------
    def info(self, username: str) -> RepoInfo:
        """The student's repository, by name (no network): ``<username>/<repo_name>``."""
        validate_username(username)
        if username in self._known:
            return self._known[username]
        return self._info(username, f"{username}/{self.repo_name}", None, self.branch)

    def _info(self, username, full_name, web_url, branch) -> RepoInfo:
        base = self.github_url.rstrip("/")
        return RepoInfo(
            owner=username,
            name=full_name,
            clone_url=f"{base}/{full_name}.git",
            web_url=web_url or f"{base}/{full_name}",
            default_branch=branch,
        )

    async def provision(self, username: str, token: str | None = None, progress=None) -> RepoInfo:
        """Make (or find) ``username``'s copy of the template and wait until it has content."""
        validate_username(username)
        if not token:
            raise Unauthorized(
                "IMAD needs your GitHub login to make your repository, and has none for "
                "you. Log out and log in again with GitHub."
            )
        started = time.monotonic()

        def report(message: str, fraction: float | None = None):
            if fraction is None:
                fraction = min(0.9, (time.monotonic() - started) / max(self.provision_timeout, 1))
            event = {"progress": int(10 + 80 * fraction), "message": message}
            self.log.info("Provisioning %s: %s", username, message)
            if progress is not None:
                progress(event)

        gh = self._client(token, on_retry=report)
        report("Checking your GitHub account", 0)
        status, me = await gh.request("GET", "/user")
        self._expect(status, me, 200, "reading your GitHub account")
        login = me["login"]
        if not _same(login, username):
            raise Forbidden(
                f"The GitHub login in use ({login}) is not {username}'s; log out and log in "
                "again with your own GitHub account."
            )
        full_name = f"{login}/{self.repo_name}"
        report(f"Looking for your repository {full_name}", 0.02)
        repo, fresh = None, False
        for _ in range(2):  # a second look if someone made the same name meanwhile
            status, repo = await gh.request("GET", f"/repos/{full_name}")
            if status == 200:
                self._check_origin(repo)
                report(f"Found your repository {repo['full_name']}", 0.05)
                break
            self._expect(status, repo, 404, f"looking for {full_name}")
            repo = await self._create(gh, login, report)
            if repo is not None:
                fresh = True
                break
        else:
            raise Conflict(f"GitHub kept refusing to create {full_name}; try again in a minute.")
        branch = repo.get("default_branch") or self.branch
        await self._wait_for_content(gh, repo["full_name"], branch, fresh, report, started)
        info = self._info(username, repo["full_name"], repo.get("html_url"), branch)
        self._known[username] = info
        report(f"Your repository {repo['full_name']} is ready", 1)
        return info

    # --- steps ----------------------------------------------------------------------------
    def _from_template(self, repo: dict) -> bool:
        template = self.template_repo
        for key in ("parent", "source", "template_repository"):
            if isinstance(repo.get(key), dict) and _same(repo[key].get("full_name"), template):
                return True
        return _same(repo.get("full_name"), template)  # the template's own owner

    def _check_origin(self, repo: dict):
        if not self._from_template(repo):
            web = repo.get("html_url") or repo.get("full_name")
            raise Conflict(
                f"You already have a repository named {repo.get('full_name')} on GitHub that "
                f"was not made from the course template {self.template_repo}, so IMAD will "
                f"not touch it. Rename it on GitHub ({web}/settings), then start your "
                "server again: IMAD will make a fresh copy of the template."
            )

    async def _create(self, gh: GitHubAPI, login: str, report) -> dict | None:
        """Fork or generate; the new repository, or None when the name got taken meanwhile."""
        template = self.template_repo
        if self.strategy == "fork":
            report(f"Forking {template} into your GitHub account", 0.08)
            status, repo = await gh.request(
                "POST",
                f"/repos/{template}/forks",
                {"name": self.repo_name, "default_branch_only": True},
            )
            ok = 202
        else:
            report(f"Creating your repository from the template {template}", 0.08)
            status, repo = await gh.request(
                "POST",
                f"/repos/{template}/generate",
                {
                    "owner": login,
                    "name": self.repo_name,
                    "private": self.private,
                    "include_all_branches": False,
                },
            )
            ok = 201
        if status == 422 and "already exists" in self._details(repo).lower():
            return None
        if status == 404:
            raise UpstreamError(
                f"The course template {template} was not found on GitHub, or your login may "
                "not copy it (a private template needs the course to ask for the 'repo' "
                "scope). Tell your instructor."
            )
        self._expect(status, repo, ok, f"copying {template}")
        if not _same(repo["full_name"], f"{login}/{self.repo_name}"):
            # GitHub answers a fork request with the fork you already have, whatever its name
            report(f"Using your existing fork {repo['full_name']}", 0.1)
            self._check_origin(repo)
        return repo

    async def _tree_of(self, gh: GitHubAPI, full_name: str, branch: str) -> str | None:
        status, ref = await gh.request("GET", f"/repos/{full_name}/git/ref/heads/{branch}")
        if status in (404, 409):  # no such branch yet / repository still empty
            return None
        self._expect(status, ref, 200, f"reading {full_name}")
        sha = ref["object"]["sha"]
        status, commit = await gh.request("GET", f"/repos/{full_name}/git/commits/{sha}")
        if status in (404, 409):
            return None
        self._expect(status, commit, 200, f"reading {full_name}")
        return commit["tree"]["sha"]

    async def _wait_for_content(self, gh, full_name, branch, fresh, report, started):
        """Poll (with backoff, bounded) until ``full_name`` has its content."""
        want = None
        if fresh and not _same(full_name, self.template_repo):
            template_branch = branch
            status, template = await gh.request("GET", f"/repos/{self.template_repo}")
            if status == 200:
                template_branch = template.get("default_branch") or branch
            want = await self._tree_of(gh, self.template_repo, template_branch)
        deadline = started + self.provision_timeout
        interval = self.poll_interval
        while True:
            tree = await self._tree_of(gh, full_name, branch)
            if tree is not None and (want is None or tree == want):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise UpstreamError(
                    f"GitHub has not finished copying the course template into {full_name} "
                    f"after {self.provision_timeout:.0f} s. GitHub may still be working on "
                    "it: start your server again in a minute. If it still fails, delete "
                    f"the empty repository on GitHub ({self.github_url}/{full_name}/settings) "
                    "and start again: IMAD will make a fresh copy.",
                    repository=full_name,
                )
            waited = time.monotonic() - started
            report(f"Waiting for GitHub to copy the template into {full_name} ({waited:.0f} s)")
            await asyncio.sleep(min(interval, left))
            interval = min(self.poll_max_interval, interval * 2)

    @staticmethod
    def _details(body) -> str:
        if not isinstance(body, dict):
            return ""
        parts = [str(body.get("message", ""))]
        for err in body.get("errors") or []:
            if isinstance(err, dict):
                parts.append(str(err.get("message") or err.get("code") or ""))
        return "; ".join(p for p in parts if p)

    def _expect(self, status: int, body, ok: int, doing: str):
        if status == ok:
            return
        details = self._details(body) or f"HTTP {status}"
        error: type[ImadError] = UpstreamError
        if status == 403:
            error = Forbidden
        elif status == 404:
            error = NotFound
        elif status in (409, 422):
            error = Conflict
        raise error(f"GitHub refused {doing}: {details}.", github_status=status)
