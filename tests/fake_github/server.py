"""A fake GitHub (or GitHub Enterprise Server) over real HTTP, backed by real git.

Laid out like GitHub Enterprise Server on one origin, so oauthenticator's
``GitHubOAuthenticator(github_url=fake.url)`` finds everything by its own defaults:

- OAuth web flow: ``/login/oauth/authorize`` and ``/login/oauth/access_token``;
  ``/session?login=<login>`` signs a browser in (a cookie), standing in for github.com's
  own login page;
- REST API under ``/api/v3``: exactly what IMAD calls (``/user``, repository get, fork,
  generate, Git Data ref and commit, contents get/put), GitHub's status codes and error
  bodies (401 ``Bad credentials``, 404 ``Not Found``, 409 ``Git Repository is empty.``,
  422 ``Validation Failed``, 403 secondary rate limit with ``Retry-After``);
- git smart HTTP at ``/<owner>/<repo>.git``, served by the real ``git http-backend``
  over CGI from bare repositories in a temporary folder; HTTP Basic auth with the token
  as the password, like github.com.

Forks and generated repositories are created empty and filled after ``fork_delay`` /
``generate_delay`` seconds (``None``: never), as GitHub creates copies asynchronously.

Fault knobs: ``inject`` (any status/body/headers for the next N matching requests),
``secondary_rate_limit``, ``revoke``, ``fork_delay``/``generate_delay``,
``content_limit_per_minute`` (GitHub's secondary limit on content-creating requests,
enforced), ``web_edit`` (a commit made on github.com, as the web editor does).

The server runs its own IOLoop in a thread, so sync and async tests can use it alike.

Parts: ``Repo``, ``Fault``, ``FakeGitHub``.
"""

import asyncio
import base64
import binascii
import itertools
import json
import os
import re
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlparse

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web

from . import payloads

GIT_HTTP_BACKEND = (
    subprocess.run(
        ["git", "--exec-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    + "/git-http-backend"
)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "GitHub",
    "GIT_AUTHOR_EMAIL": "noreply@github.com",
    "GIT_COMMITTER_NAME": "GitHub",
    "GIT_COMMITTER_EMAIL": "noreply@github.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    " If you reach out to GitHub Support for help, please include the request ID."
)
SECONDARY_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
_ids = itertools.count(4_200_000)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _git(*args, cwd=None, input=None, check=True) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        env={**os.environ, **GIT_ENV},
        check=False,
    )
    if check and result.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode().strip()


@dataclass
class Repo:
    """One repository: its metadata and a bare git repository on disk."""

    owner: str
    name: str
    path: Path
    private: bool = False
    is_template: bool = False
    parent: str | None = None  # full name of the forked repository
    template_repository: str | None = None  # full name of the template it came from
    default_branch: str = "main"
    description: str | None = None
    id: int = field(default_factory=lambda: next(_ids))
    created_at: str = field(default_factory=_now_iso)
    updated_at: str = field(default_factory=_now_iso)
    pushed_at: str = field(default_factory=_now_iso)
    forks_count: int = 0

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def git(self, *args, **kw) -> str:
        return _git("--git-dir", str(self.path), *args, **kw)

    def empty(self) -> bool:
        return not self.git("for-each-ref", "--count=1", "refs/heads")

    def head(self, branch: str | None = None) -> str | None:
        ref = f"refs/heads/{branch or self.default_branch}"
        sha = self.git("rev-parse", "--verify", "--quiet", ref, check=False)
        return sha or None

    def commit(self, sha: str) -> dict | None:
        fmt = "%H%n%T%n%P%n%an%n%ae%n%aI%n%cn%n%ce%n%cI%n%B"
        if self.git("cat-file", "-t", sha, check=False) != "commit":
            return None
        lines = self.git("show", "-s", f"--format={fmt}", sha).split("\n")
        return {
            "sha": lines[0],
            "tree": lines[1],
            "parents": lines[2].split(),
            "author": {"name": lines[3], "email": lines[4], "date": lines[5]},
            "committer": {"name": lines[6], "email": lines[7], "date": lines[8]},
            "message": "\n".join(lines[9:]),
        }


@dataclass
class Fault:
    """Answer the next ``times`` requests matching ``method`` and ``path`` (a regex)."""

    method: str
    path: str
    status: int
    body: dict | str | None = None
    headers: dict = field(default_factory=dict)
    times: int = 1


@dataclass
class RequestRecord:
    time: float
    method: str
    path: str
    status: int
    login: str | None


class FakeGitHub:
    """State and knobs of the fake; ``start()`` serves it on ``127.0.0.1``."""

    def __init__(
        self,
        root,
        *,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",
        callback_url: str = "",
        fork_delay: float | None = 0.3,
        generate_delay: float | None = 0.1,
        content_limit_per_minute: int = 80,
        secondary_retry_after: int = 60,
        expiring_tokens: bool = False,
    ):
        self.root = Path(root)
        (self.root / "repos").mkdir(parents=True, exist_ok=True)
        self.client_id = client_id
        self.client_secret = client_secret
        self.callback_url = callback_url  # the OAuth app's registered callback
        self.fork_delay = fork_delay
        self.generate_delay = generate_delay
        self.content_limit_per_minute = content_limit_per_minute
        self.secondary_retry_after = secondary_retry_after
        self.expiring_tokens = expiring_tokens
        self.default_login: str | None = None  # who /login/oauth/authorize signs in
        self.users: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.refresh_tokens: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self.repos: dict[str, Repo] = {}
        self.faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self.writes: dict[str, list[float]] = {}  # login -> times of content-creating requests
        self.lock = threading.RLock()
        self.url = ""
        self.api_url = ""
        self._loop = None
        self._thread = None
        self._server = None

    # --- lifecycle -------------------------------------------------------------------
    def start(self):
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        port = sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.api_url = f"{self.url}/api/v3"
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(asyncio.new_event_loop())
            self._loop = tornado.ioloop.IOLoop.current()
            from .handlers import make_app

            self._server = tornado.httpserver.HTTPServer(make_app(self))
            self._server.add_sockets(sockets)
            ready.set()
            self._loop.start()

        self._thread = threading.Thread(target=run, name="fake-github", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake GitHub did not start")
        return self

    def stop(self):
        if self._loop is None:
            return

        def shutdown():
            self._server.stop()
            self._loop.stop()

        self._loop.add_callback(shutdown)
        self._thread.join(10)
        self._loop = None

    def call_later(self, delay: float, callback):
        """Run ``callback`` on the fake's loop after ``delay`` s (from any thread)."""
        self._loop.add_callback(self._loop.call_later, delay, callback)

    # --- accounts and tokens ---------------------------------------------------------
    def add_user(self, login: str, email: str | None = None, name: str | None = None) -> dict:
        with self.lock:
            account = {"login": login, "id": next(_ids), "email": email, "name": name}
            self.users[login.lower()] = account
            return account

    def issue_token(self, login: str, scopes=("public_repo",)) -> dict:
        """A token as the OAuth exchange answers it: ``{"access_token", "scope", ...}``."""
        with self.lock:
            token = "gho_" + secrets.token_urlsafe(27)
            self.tokens[token] = {
                "login": self.users[login.lower()]["login"],
                "scopes": list(scopes),
            }
            answer = {"access_token": token, "token_type": "bearer", "scope": ",".join(scopes)}
            if self.expiring_tokens:
                refresh = "ghr_" + secrets.token_urlsafe(60)
                self.refresh_tokens[refresh] = {"login": login, "scopes": list(scopes)}
                answer.update(
                    expires_in=28800, refresh_token=refresh, refresh_token_expires_in=15811200
                )
            return answer

    def revoke(self, token: str):
        """The student revoked the app's access (or the token expired)."""
        with self.lock:
            self.tokens.pop(token, None)

    def token_owner(self, token: str) -> dict | None:
        return self.tokens.get(token)

    # --- repositories ----------------------------------------------------------------
    def get_repo(self, full_name: str) -> Repo | None:
        return self.repos.get(full_name.lower())

    def _new_repo(self, owner: str, name: str, **kw) -> Repo:
        owner = self.users[owner.lower()]["login"]
        path = self.root / "repos" / owner.lower() / f"{name.lower()}.git"
        path.parent.mkdir(parents=True, exist_ok=True)
        _git("init", "--quiet", "--bare", "-b", kw.get("default_branch", "main"), str(path))
        _git("--git-dir", str(path), "config", "http.receivepack", "true")
        repo = Repo(owner=owner, name=name, path=path, **kw)
        self.repos[repo.full_name.lower()] = repo
        return repo

    def create_repo(self, owner: str, name: str, files: dict | None = None, **kw) -> Repo:
        """A repository with one commit holding ``files`` ({path: str|bytes}) if given."""
        with self.lock:
            if owner.lower() not in self.users:
                self.add_user(owner)
            repo = self._new_repo(owner, name, **kw)
        if files:
            self._commit_files(repo, repo.default_branch, files, "Initial commit", parent=None)
        return repo

    def _commit_files(
        self, repo: Repo, branch: str, files: dict, message: str, parent, author=None
    ):
        """Write ``files`` over ``parent``'s tree as one commit on ``branch``; its sha."""
        index = self.root / f"index-{secrets.token_hex(4)}"
        env_index = {"GIT_INDEX_FILE": str(index)}
        try:

            def run(*a, input=None):
                return (
                    subprocess.run(
                        ["git", "--git-dir", str(repo.path), *a],
                        input=input,
                        capture_output=True,
                        check=True,
                        env={**os.environ, **GIT_ENV, **env_index, **(author or {})},
                    )
                    .stdout.decode()
                    .strip()
                )

            if parent:
                run("read-tree", parent)
            for path, data in files.items():
                data = data.encode() if isinstance(data, str) else data
                blob = run("hash-object", "-w", "--stdin", input=data)
                run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
            tree = run("write-tree")
            args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
            sha = run(*args)
            run("update-ref", f"refs/heads/{branch}", sha, *([parent] if parent else []))
            repo.pushed_at = repo.updated_at = _now_iso()
            return sha
        finally:
            index.unlink(missing_ok=True)

    def fork(self, source: Repo, login: str, name: str | None, default_branch_only: bool) -> Repo:
        """Create the fork now (empty) and fill it after ``fork_delay`` seconds."""
        with self.lock:
            for repo in self.repos.values():  # GitHub answers an existing fork
                if repo.owner.lower() == login.lower() and repo.parent == source.full_name:
                    return repo
            fork = self._new_repo(
                login,
                name or source.name,
                parent=source.full_name,
                default_branch=source.default_branch,
                description=source.description,
                private=source.private,
            )
            source.forks_count += 1

        def fill():
            refspecs = (
                [f"+refs/heads/{source.default_branch}:refs/heads/{source.default_branch}"]
                if default_branch_only
                else ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
            )
            fork.git("fetch", "--quiet", str(source.path), *refspecs)

        if self.fork_delay is not None:
            self.call_later(self.fork_delay, fill)
        return fork

    def generate(
        self, template: Repo, owner: str, name: str, private: bool, all_branches: bool
    ) -> Repo:
        """A new repository whose first commit has the template's tree (no history)."""
        with self.lock:
            repo = self._new_repo(
                owner,
                name,
                template_repository=template.full_name,
                default_branch=template.default_branch,
                description=template.description,
                private=private,
            )

        def fill():
            head = template.head()
            if head is None:
                return
            repo.git("fetch", "--quiet", str(template.path), head)
            tree = repo.git("rev-parse", f"{head}^{{tree}}")
            sha = repo.git("commit-tree", tree, "-m", "Initial commit")
            repo.git("update-ref", f"refs/heads/{repo.default_branch}", sha)

        if self.generate_delay is not None:
            self.call_later(self.generate_delay, fill)
        return repo

    def web_edit(
        self, full_name: str, path: str, content: str, message: str = "Update from github.com"
    ) -> str:
        """A commit made on github.com (the web editor): returns its sha."""
        repo = self.get_repo(full_name)
        parent = repo.head()
        author = {
            "GIT_AUTHOR_NAME": repo.owner,
            "GIT_AUTHOR_EMAIL": f"{repo.owner}@users.noreply.github.com",
        }
        return self._commit_files(
            repo, repo.default_branch, {path: content}, message, parent, author
        )

    def read_file(self, full_name: str, path: str, ref: str | None = None) -> str:
        repo = self.get_repo(full_name)
        return repo.git("show", f"{ref or repo.head()}:{path}")

    # --- faults ----------------------------------------------------------------------
    def inject(self, method: str, path: str, status: int, body=None, headers=None, times: int = 1):
        with self.lock:
            self.faults.append(
                Fault(method.upper(), path, status, body, dict(headers or {}), times)
            )

    def secondary_rate_limit(
        self, method: str, path: str, retry_after: int | None = 1, times: int = 1
    ):
        headers = {"X-RateLimit-Remaining": "4999", "X-RateLimit-Limit": "5000"}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        body = payloads.error(SECONDARY_MESSAGE, 403, SECONDARY_DOCS)
        self.inject(method, path, 403, body, headers, times)

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method in (method, "*") and re.search(fault.path, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def note_write(self, login: str) -> bool:
        """Count a content-creating request; False when over GitHub's per-minute limit."""
        now = time.monotonic()
        with self.lock:
            times = [t for t in self.writes.get(login, []) if now - t < 60]
            over = len(times) >= self.content_limit_per_minute
            if not over:
                times.append(now)
            self.writes[login] = times
            return not over

    # --- OAuth -----------------------------------------------------------------------
    def authorize(self, login: str, client_id: str, redirect_uri: str, scope: str) -> str:
        code = binascii.hexlify(os.urandom(10)).decode()
        with self.lock:
            self.codes[code] = {
                "login": login,
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "scopes": [s for s in re.split(r"[ ,]+", scope or "") if s],
                "time": time.monotonic(),
            }
        return code

    def redirect_uri_ok(self, redirect_uri: str) -> bool:
        """GitHub's rule: same host and port as the callback, path under its path."""
        if not self.callback_url:
            return True
        want, got = urlparse(self.callback_url), urlparse(redirect_uri)
        return (want.scheme, want.netloc) == (got.scheme, got.netloc) and got.path.startswith(
            want.path
        )

    @staticmethod
    def redirect(url: str, **params) -> str:
        return url + ("&" if "?" in url else "?") + urlencode(params)

    def basic_token(self, header: str) -> str | None:
        if not header.lower().startswith("basic "):
            return None
        try:
            user_pass = base64.b64decode(header.split(None, 1)[1]).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user_pass.partition(":")[2] or None

    def logins_seen(self):
        return {r.login for r in self.requests if r.login}

    def all_state_text(self) -> str:
        return json.dumps([r.__dict__ for r in self.requests])
