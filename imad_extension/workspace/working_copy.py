"""The student's git working copy: reading it, committing, pushing. No tornado here.

``WorkingCopy`` does the git mechanics for ``Workspace`` (core.py), which holds the lock,
checks the requests and shapes the answers. Its rules:

- a commit is built in a temporary index started from HEAD, so a refused commit
  (oversized file, unknown path) leaves the student's index and files as they were;
  file sizes are checked on disk before ``git add`` (no huge blob is written) and again
  on the staged blobs;
- a push the repository rejected because it moved on is rebased in a temporary
  worktree, and the student's branch and files are moved to the result only with
  ``git reset --keep`` (which refuses to touch a file with uncommitted edits);
- on a real conflict the student's commit stays on their branch and is also pushed to
  ``imad/conflict-<time>``; the ``Conflict`` (409) says what happened and what to do;
- reads use ``--no-optional-locks``, so they never block a commit or a terminal's git.

Parts: ``Head``, ``change_status``, ``WorkingCopy``.
"""

import re
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import BadRequest, Conflict, PayloadTooLarge, Unauthorized, UpstreamError
from ..github.credentials import LOGIN_AGAIN, is_auth_failure
from .git import GitError, GitRunner


@dataclass
class Head:
    sha: str
    short: str
    message: str
    author: str
    time: str

    def to_json(self) -> dict:
        return asdict(self)


def change_status(x: str, y: str) -> str | None:
    """Map a ``git status --porcelain`` XY pair to the API's status (None: no change).

    The API shows what a commit of everything would record, so index and worktree
    columns are folded into one status against HEAD.
    """
    if x == "!":
        return None
    if x == "?":
        return "added"
    if "U" in (x, y) or (x, y) in (("A", "A"), ("D", "D")):
        return "modified"  # an unfinished merge: the file needs the student's attention
    if x == "A":
        return None if y == "D" else "added"
    if x == "R":
        return "deleted" if y == "D" else "renamed"
    if x == "C":
        return None if y == "D" else "added"
    if "D" in (x, y):
        return "deleted"
    return "modified"


def _human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


class WorkingCopy:
    """Git operations on the working copy at ``app_dir``."""

    def __init__(self, app_dir: Path, git: GitRunner, config, log):
        self.app_dir = app_dir
        self.git = git
        self.config = config  # branch, repo_url, max_file_bytes
        self.log = log
        self.fetched_at = None  # time.monotonic() of the last fetch
        self.fetch_error = None

    async def _git(self, *args, **kwargs):
        return await self.git.run(*args, cwd=self.app_dir, **kwargs)

    async def _read(self, *args, **kwargs):
        return await self._git("--no-optional-locks", *args, **kwargs)

    async def head(self, env=None) -> Head | None:
        res = await self._read(
            "log", "-1", "--format=%H%x00%h%x00%s%x00%an%x00%aI", check=False, env=env
        )
        if res.returncode != 0 or not res.stdout.strip():
            return None
        sha, short, subject, author, when = res.stdout.rstrip("\n").split("\0")
        return Head(sha, short, subject, author, when)

    async def changes(self, env=None, pathspecs=()) -> list[dict]:
        res = await self._read(
            "-c", "core.quotepath=off",
            "status", "--porcelain=v1", "-z", "--untracked-files=all",
            "--", *pathspecs,
            env=env,
        )  # fmt: skip
        entries = res.stdout.split("\0")
        changes = []
        i = 0
        while i < len(entries):
            entry = entries[i]
            i += 1
            if len(entry) < 4:
                continue
            x, y, path = entry[0], entry[1], entry[3:]
            change = {"path": path}
            if x in "RC":
                change["from"] = entries[i]
                i += 1
            status = change_status(x, y)
            if status:
                change["status"] = status
                changes.append(change)
        return changes

    async def ahead_behind(self) -> tuple[int, int]:
        res = await self._read(
            "rev-list", "--left-right", "--count",
            f"HEAD...refs/remotes/origin/{self.config.branch}",
            check=False,
        )  # fmt: skip
        if res.returncode != 0:
            count = await self._read("rev-list", "--count", "HEAD", check=False)
            return (int(count.stdout.strip() or 0) if count.returncode == 0 else 0), 0
        ahead, behind = res.stdout.split()
        return int(ahead), int(behind)

    async def fetch(self):
        """Update ``origin/<branch>`` (the caller holds the workspace lock)."""
        branch = self.config.branch
        try:
            await self._git(
                "fetch", "--quiet", "--no-tags", "origin",
                f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
                network_url=self.config.repo_url,
            )  # fmt: skip
            self.fetch_error = None
        except GitError as e:
            self.fetch_error = f"Could not fetch from your repository: {e}"
            self.log.warning("Fetch in %s failed: %s", self.app_dir, e)
            raise
        finally:
            self.fetched_at = time.monotonic()

    async def check_branch(self):
        git_dir = Path((await self._read("rev-parse", "--absolute-git-dir")).stdout.strip())
        for marker, what, verb in (
            ("rebase-merge", "rebase", "rebase"),
            ("rebase-apply", "rebase", "rebase"),
            ("MERGE_HEAD", "merge", "merge"),
            ("CHERRY_PICK_HEAD", "cherry-pick", "cherry-pick"),
        ):
            if (git_dir / marker).exists():
                raise Conflict(
                    f"A git {what} is in progress in {self.app_dir} (started in a terminal). "
                    f"Finish it (git {verb} --continue) or abort it (git {verb} --abort), "
                    "then try again."
                )
        res = await self._read("symbolic-ref", "--short", "-q", "HEAD", check=False)
        current = res.stdout.strip()
        if current != self.config.branch:
            raise Conflict(
                f"{self.app_dir} is on {('branch ' + current) if current else 'a detached HEAD'}, "
                f"not {self.config.branch}. In a terminal run: cd {self.app_dir} && "
                f"git switch {self.config.branch}; then try again."
            )
        return git_dir

    async def _check_worktree_sizes(self, env, pathspecs):
        """Refuse before ``git add`` writes a huge blob: look at the files themselves."""
        limit = self.config.max_file_bytes
        too_big = []
        for change in await self.changes(env=env, pathspecs=pathspecs):
            if change["status"] == "deleted":
                continue
            full = self.app_dir / change["path"]
            try:
                st = full.lstat()
            except OSError:
                continue
            if st.st_size > limit and not full.is_symlink():
                too_big.append((change["path"], st.st_size))
        self._refuse_too_big(too_big)

    async def _check_blob_sizes(self, entries):
        """Check what was really staged (a file may have grown since it was looked at)."""
        wanted = [(path, sha) for path, sha, mode in entries if mode != "160000"]
        if not wanted:
            return
        res = await self._read(
            "cat-file", "--batch-check=%(objectsize)", input="".join(f"{s}\n" for _, s in wanted)
        )
        sizes = res.stdout.split()
        too_big = [
            (path, int(size))
            for (path, _), size in zip(wanted, sizes, strict=False)
            if size.isdigit() and int(size) > self.config.max_file_bytes
        ]
        self._refuse_too_big(too_big)

    def _refuse_too_big(self, too_big):
        if not too_big:
            return
        limit = self.config.max_file_bytes
        names = ", ".join(f"{p} ({_human_size(n)})" for p, n in too_big)
        raise PayloadTooLarge(
            f"Too big to commit: {names}. The largest file a commit accepts is "
            f"{_human_size(limit)}. Remove it, or list it in .gitignore, then commit again. "
            "Nothing was committed.",
            files=[p for p, _ in too_big],
            limit=limit,
        )

    async def _staged_entries(self, env, has_head):
        """(path, new blob sha, new mode) of every added or modified path in the index."""
        args = ["diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev"]
        if has_head:
            args.append("HEAD")
        res = await self._read(*args, env=env)
        tokens = res.stdout.split("\0")
        entries, total = [], 0
        for i in range(0, len(tokens) - 1, 2):
            meta, path = tokens[i], tokens[i + 1]
            if not meta.startswith(":"):
                continue
            total += 1
            _old_mode, new_mode, _old, new_sha, status = meta[1:].split(" ")[:5]
            if status != "D":
                entries.append((path, new_sha, new_mode))
        return entries, total

    async def commit(self, git_dir: Path, message: str, pathspecs) -> Head | None:
        """Commit the changes (of ``pathspecs``, or all); None when there are none.

        Built in a temporary index started from HEAD, so nothing the student staged or
        typed changes unless the commit is made; then the real index is brought in line
        with the new HEAD for the committed paths only.
        """
        has_head = (
            await self._read("rev-parse", "-q", "--verify", "HEAD", check=False)
        ).returncode == 0
        index = git_dir / f"imad-index-{uuid.uuid4().hex}"
        env = {"GIT_INDEX_FILE": str(index)}
        specs = list(pathspecs or [])
        try:
            if has_head:
                await self._git("read-tree", "HEAD", env=env)
            await self._check_worktree_sizes(env, specs)
            try:
                await self._git("add", "-A", "--", *(specs or ["."]), env=env)
            except GitError as e:
                if "did not match any files" in e.output:
                    raise BadRequest(
                        f"Not a file of your app: {e}. Check the paths; nothing was committed."
                    ) from None
                raise
            entries, total = await self._staged_entries(env, has_head)
            if total == 0:
                return None
            await self._check_blob_sizes(entries)
            await self._git("commit", "--quiet", "--no-edit", "-F", "-", input=message, env=env)
        finally:
            for leftover in (index, index.with_name(index.name + ".lock")):
                leftover.unlink(missing_ok=True)
        await self._git("reset", "--quiet", "HEAD", "--", *specs)
        head = await self.head()
        self.log.info("Committed %s in %s: %s", head.short, self.app_dir, head.message)
        return head

    async def push(self) -> bool:
        """Push HEAD to ``origin/<branch>``; rebase when the repository moved on.

        Returns whether a rebase was needed. Raises ``Conflict`` (with the student's
        commit kept on a pushed ``imad/conflict-*`` branch) or ``UpstreamError``.
        """
        branch = self.config.branch
        rebased = False
        for _attempt in range(3):
            res = await self._git(
                "push", "--porcelain", "origin", f"HEAD:refs/heads/{branch}",
                check=False, network_url=self.config.repo_url,
            )  # fmt: skip
            if res.returncode == 0:
                self.log.info("Pushed %s to origin/%s", self.app_dir, branch)
                self.fetched_at = None  # ahead/behind changed
                return rebased
            if not re.search(r"\t\[rejected\]", res.stdout):
                short = (await self.head()).short
                if is_auth_failure(res.stderr):
                    self.log.warning("Push of %s refused: credentials not accepted", short)
                    raise Unauthorized(f"{LOGIN_AGAIN} (Your commit {short} is saved.)", commit=short)
                detail = (res.stderr.strip().splitlines() or ["no details"])[-1]
                self.log.error("Push of %s to origin/%s failed: %s", short, branch, res.stderr)
                raise UpstreamError(
                    f"Your repository refused the push ({detail}). Your commit {short} is "
                    f"saved in {self.app_dir}; commit again later to push it.",
                    commit=short,
                )
            self.log.info("Push to origin/%s rejected (it moved on): fetching and rebasing", branch)
            try:
                await self.fetch()
            except GitError as e:
                raise UpstreamError(
                    f"Your repository moved on and could not be fetched: {e}. Your commit "
                    "is saved in your workspace; try again later."
                ) from None
            await self._rebase_onto_origin()
            rebased = True
        raise Conflict(
            f"Your repository kept changing while pushing to {branch}; your commit is saved "
            f"in {self.app_dir}. Try again in a moment."
        )

    async def _rebase_onto_origin(self):
        upstream = f"refs/remotes/origin/{self.config.branch}"
        old = (await self._read("rev-parse", "HEAD")).stdout.strip()
        tmp = Path(tempfile.mkdtemp(prefix="imad-rebase-"))
        tree = tmp / "tree"
        conflicts = None
        try:
            await self._git("worktree", "add", "--quiet", "--detach", str(tree), old)
            res = await self.git.run("rebase", upstream, cwd=tree, check=False)
            if res.returncode != 0:
                unmerged = await self.git.run(
                    "diff", "--name-only", "--diff-filter=U", cwd=tree, check=False
                )
                conflicts = unmerged.stdout.split() or ["(see git's output)"]
                await self.git.run("rebase", "--abort", cwd=tree, check=False)
            else:
                new = (await self.git.run("rev-parse", "HEAD", cwd=tree)).stdout.strip()
        finally:
            await self._git("worktree", "remove", "--force", str(tree), check=False)
            shutil.rmtree(tmp, ignore_errors=True)
            await self._git("worktree", "prune", check=False)
        if conflicts is not None:
            await self._keep_on_conflict_branch(old, conflicts, uncommitted=False)
        # Move the branch and the files others changed; refuses (changing nothing) when
        # one of those files has uncommitted edits.
        res = await self._git("reset", "--quiet", "--keep", new, check=False)
        if res.returncode != 0:
            files = re.findall(r"^error: Entry '(.+)' not uptodate", res.stderr, re.M)
            await self._keep_on_conflict_branch(
                old, files or ["(see git status)"], uncommitted=True
            )
        self.log.info("Rebased %s onto %s: %s -> %s", self.app_dir, upstream, old[:7], new[:7])

    async def _keep_on_conflict_branch(self, commit: str, files, uncommitted: bool):
        branch = self.config.branch
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        name = f"imad/conflict-{stamp}"
        if (
            await self._read("rev-parse", "-q", "--verify", f"refs/heads/{name}", check=False)
        ).returncode == 0:
            name += f"-{uuid.uuid4().hex[:4]}"
        await self._git("branch", name, commit)
        res = await self._git(
            "push", "--quiet", "origin", f"refs/heads/{name}:refs/heads/{name}",
            check=False, network_url=self.config.repo_url,
        )  # fmt: skip
        pushed = res.returncode == 0
        short = commit[:7]
        listed = ", ".join(files)
        self.log.warning(
            "Conflict pushing %s to %s (%s); kept on %s (pushed: %s)",
            short, branch, listed, name, pushed,
        )  # fmt: skip
        if uncommitted:
            what = (
                f"someone else pushed to {branch} and changed files you have uncommitted "
                f"edits in ({listed})"
            )
        else:
            what = f"someone else pushed to {branch} and changed the same lines as you in {listed}"
        where = (
            f"a copy was pushed to the branch {name} of your repository"
            if pushed
            else f"it is also on the local branch {name} (pushing that copy failed: {res.stderr.strip()})"
        )
        raise Conflict(
            f"Your commit {short} could not be pushed: {what}. Nothing was lost: your "
            f"commit stays on {branch} in {self.app_dir}, your files are as you left them, "
            f"and {where}. To combine the changes, open a terminal and run: "
            f"cd {self.app_dir} && git pull --rebase origin {branch}; fix the parts marked "
            "<<<<<<< and >>>>>>>, then git add those files and git rebase --continue; "
            "then press Commit (it pushes).",
            commit=commit,
            branch=name,
            pushed=pushed,
            conflicts=list(files),
        )

    async def current_branch(self) -> str | None:
        res = await self._read("symbolic-ref", "--short", "-q", "HEAD", check=False)
        return res.stdout.strip() or None

    async def has_remote_branch(self) -> bool:
        ref = f"refs/remotes/origin/{self.config.branch}"
        return (await self._read("rev-parse", "-q", "--verify", ref, check=False)).returncode == 0
