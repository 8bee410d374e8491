"""The workspace logic behind ``<base_url>imad/api/``: no tornado here.

``Workspace`` owns the student's working copy (``app_dir``): it clones it when absent,
reports its state, commits and pushes, and publishes through the classroom service.
Handlers parse JSON and call it; it raises ``imad_extension.errors`` exceptions whose
status and message reach the student unchanged.

Rules it keeps:

- a student's file is never lost or overwritten: an existing ``app_dir`` is never
  deleted or re-cloned; commits are built in a temporary index, so a refused commit
  (bad message, path outside the app, oversized file) leaves the index and files as
  they were; a push the repository rejected because it moved on is rebased in a
  temporary worktree, and the student's files are moved to the result only with
  ``git reset --keep`` (which refuses to touch a file with uncommitted edits); on a
  real conflict the student's commit stays on their branch and is also pushed to
  ``imad/conflict-<time>``, and the answer (409) says what happened and what to do;
- one git operation that writes at a time (``asyncio.Lock``); reads use
  ``--no-optional-locks`` so they never block a commit or a terminal's git;
- fetches for ahead/behind are reused for ``fetch_interval`` seconds.

Parts: ``Head``, ``change_status``, ``Workspace``.
"""

import asyncio
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import (
    BadRequest,
    Conflict,
    NotFound,
    NotReady,
    PayloadTooLarge,
    UpstreamError,
)
from .git import GitError, GitRunner
from .service_client import ServiceClient

READY, CLONING, ERROR = "ready", "cloning", "error"


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


class Workspace:
    """One student's working copy and what can be done with it."""

    def __init__(self, config, *, log=None, contents_root=None, service=None, git=None):
        self.config = config
        self.log = log or logging.getLogger(__name__)
        self.app_dir = Path(os.path.expanduser(config.app_dir)).absolute()
        self.contents_root = Path(contents_root).absolute() if contents_root else None
        self.git = git or GitRunner(
            identity=(config.git_author_name, config.git_author_email),
            extra_env={**config.git_env, "GIT_EDITOR": "true"},
            timeout=config.git_timeout,
            credential_provider=self._credential_provider(config.credential_provider),
            log=self.log,
        )
        self.service = service or ServiceClient(
            config.service_url, timeout=config.service_timeout, log=self.log
        )
        self.state = None
        self.error = None
        self._clone_task = None
        self._clone_failed_at = None
        self._lock = asyncio.Lock()
        self._fetched_at = None
        self._fetch_error = None

    @staticmethod
    def _credential_provider(value):
        if isinstance(value, str) and value:
            from importlib import import_module

            module, _, name = value.replace(":", ".").rpartition(".")
            return getattr(import_module(module), name)
        return value or None

    # ---- state and cloning ---------------------------------------------------------

    def start(self):
        """Decide the state; start cloning in the background when there is no copy.

        Idempotent and cheap: called at load and before every request.
        """
        if self._clone_task is not None and not self._clone_task.done():
            self._set(CLONING)
            return
        if (self.app_dir / ".git").exists():
            self._set(READY)
            return
        if self.app_dir.exists() or self.app_dir.is_symlink():
            if not self.app_dir.is_dir() or any(self.app_dir.iterdir()):
                self._set(
                    ERROR,
                    f"{self.app_dir} exists but is not a git working copy, so your "
                    "repository was not copied into it (nothing was deleted). Move it "
                    f"aside in a terminal (mv {self.app_dir} {self.app_dir}-old), then "
                    "reload: your repository will be copied into a fresh folder.",
                )
                return
        if not self.config.repo_url:
            self._set(
                ERROR,
                "This workspace has no repository configured (IMAD_REPO_URL is empty). "
                "Tell your instructor.",
            )
            return
        if (
            self.state == ERROR
            and self._clone_failed_at is not None
            and time.monotonic() - self._clone_failed_at < self.config.clone_retry_interval
        ):
            return  # keep showing the last clone error; try again a bit later
        self._set(CLONING)
        self._clone_task = asyncio.ensure_future(self._clone())

    def _set(self, state, error=None):
        self.state = state
        self.error = error

    async def wait_cloned(self):
        """Wait for a clone in progress (tests, shutdown)."""
        if self._clone_task is not None:
            await asyncio.shield(self._clone_task)

    async def _clone(self):
        url, branch = self.config.repo_url, self.config.branch
        parent = self.app_dir.parent
        self.log.info("Cloning %s (branch %s) into %s", url, branch, self.app_dir)
        try:
            parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{self.app_dir.name}.cloning-", dir=parent))
        except OSError as e:
            self._clone_failed(f"Could not create {self.app_dir}: {e.strerror}.")
            return
        try:
            copy = tmp / "copy"
            await self.git.run(
                "clone", "--quiet", "--origin", "origin", "--branch", branch,
                "--", url, str(copy),
                cwd=parent, network_url=url,
            )  # fmt: skip
            try:
                # atomic; allowed onto an empty folder, refused onto a non-empty one
                os.rename(copy, self.app_dir)
            except OSError:
                self._clone_failed(
                    f"{self.app_dir} was created while your repository was being copied; "
                    "nothing was changed in it. Move it aside and reload."
                )
                return
            self._clone_failed_at = None
            self._set(READY)
            self.log.info("Cloned %s into %s", url, self.app_dir)
        except GitError as e:
            self._clone_failed(
                f"Your repository could not be copied into {self.app_dir}: {e}. "
                f"It will be tried again in {self.config.clone_retry_interval:g} s; if "
                "this persists, tell your instructor."
            )
        except Exception as e:  # never leave the state at 'cloning' forever
            self.log.exception("Cloning into %s failed", self.app_dir)
            self._clone_failed(f"Your repository could not be copied: {e}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _clone_failed(self, message):
        self.log.error("Clone into %s failed: %s", self.app_dir, message)
        self._clone_failed_at = time.monotonic()
        self._set(ERROR, message)

    def _require_ready(self):
        self.start()
        if self.state == CLONING:
            raise NotReady(
                "Your app is still being copied into your workspace; try again in a few seconds."
            )
        if self.state != READY:
            raise NotReady(self.error or "The workspace is not ready.")

    # ---- reading ---------------------------------------------------------------------

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

    async def _ahead_behind(self) -> tuple[int, int]:
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

    async def _fetch(self):
        """Update ``origin/<branch>``; call with the lock held."""
        branch = self.config.branch
        try:
            await self._git(
                "fetch", "--quiet", "--no-tags", "origin",
                f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
                network_url=self.config.repo_url,
            )  # fmt: skip
            self._fetch_error = None
        except GitError as e:
            self._fetch_error = f"Could not fetch from your repository: {e}"
            self.log.warning("Fetch in %s failed: %s", self.app_dir, e)
            raise
        finally:
            self._fetched_at = time.monotonic()

    async def _maybe_fetch(self, force: bool):
        fresh = (
            self._fetched_at is not None
            and time.monotonic() - self._fetched_at < self.config.fetch_interval
        )
        if (fresh and not force) or self._lock.locked():
            return  # a commit or publish is under way: use what we know
        async with self._lock:
            try:
                await self._fetch()
            except GitError:
                pass  # reported as fetch_error; ahead/behind from the last fetch

    def _contents_path(self) -> str:
        if self.contents_root is not None:
            try:
                return self.app_dir.relative_to(self.contents_root).as_posix()
            except ValueError:
                pass
        return str(self.app_dir)

    async def status(self, fetch: bool = False) -> dict:
        """The answer of ``GET workspace``."""
        self.start()
        answer = {
            "state": self.state,
            "error": self.error,
            "repository": {
                "name": self.config.repo_name,
                "clone_url": self.config.repo_url,
                "web_url": self.config.repo_web_url or None,
            },
            "branch": self.config.branch,
            "current_branch": None,
            "head": None,
            "changes": [],
            "ahead": 0,
            "behind": 0,
            "fetch_error": None,
            "app_url": self.config.app_url,
            "app_dir": self._contents_path(),
            "app_path": str(self.app_dir),
        }
        if self.state != READY:
            return answer
        try:
            await self._maybe_fetch(force=fetch)
            head = await self.head()
            current = await self._read("symbolic-ref", "--short", "-q", "HEAD", check=False)
            answer.update(
                head=head.to_json() if head else None,
                current_branch=current.stdout.strip() or None,
                changes=await self.changes(),
                fetch_error=self._fetch_error,
            )
            answer["ahead"], answer["behind"] = await self._ahead_behind()
        except GitError as e:
            self.log.error("Reading the working copy %s failed: %s", self.app_dir, e)
            answer.update(state=ERROR, error=f"git could not read {self.app_dir}: {e}")
        return answer

    # ---- validation ------------------------------------------------------------------

    def check_message(self, message) -> str:
        if not isinstance(message, str):
            raise BadRequest("The commit message must be text.")
        if not message.strip():
            raise BadRequest("Write a commit message: say what you changed.")
        if len(message) > self.config.max_message_chars:
            raise BadRequest(
                f"The commit message has {len(message)} characters; the limit is "
                f"{self.config.max_message_chars}. Shorten it."
            )
        if "\0" in message:
            raise BadRequest("The commit message contains a NUL character.")
        return message

    def check_paths(self, paths) -> list[str]:
        """Return git pathspecs for ``paths``, each proven to stay inside ``app_dir``."""
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise BadRequest("'paths' must be a list of file paths (text).")
        if not paths:
            raise BadRequest("'paths' is empty; leave it out to commit every change.")
        root = self.app_dir.resolve()
        specs = []
        for path in paths:
            if not path or "\0" in path:
                raise BadRequest(f"{path!r} is not a file path.")
            if os.path.isabs(path) or path.startswith("~"):
                raise BadRequest(
                    f"{path!r} is not inside your app folder; give paths relative to it."
                )
            normal = os.path.normpath(path)
            parts = Path(normal).parts
            if parts[:1] == ("..",) or ".git" in parts:
                raise BadRequest(f"{path!r} is not inside your app folder.")
            # follows symlinks: a link (or a folder on the way) pointing out is refused
            resolved = (self.app_dir / normal).resolve()
            if resolved != root and root not in resolved.parents:
                raise BadRequest(f"{path!r} leads outside your app folder (a symbolic link?).")
            specs.append(":(literal)" + Path(normal).as_posix())
        return specs

    # ---- committing and pushing ------------------------------------------------------

    async def _check_branch(self):
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

    async def _commit(self, git_dir: Path, message: str, pathspecs) -> Head | None:
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

    async def _push(self) -> bool:
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
                self._fetched_at = None  # ahead/behind changed
                return rebased
            if not re.search(r"\t\[rejected\]", res.stdout):
                short = (await self.head()).short
                detail = (res.stderr.strip().splitlines() or ["no details"])[-1]
                self.log.error("Push of %s to origin/%s failed: %s", short, branch, res.stderr)
                raise UpstreamError(
                    f"Your repository refused the push ({detail}). Your commit {short} is "
                    f"saved in {self.app_dir}; commit again later to push it.",
                    commit=short,
                )
            self.log.info("Push to origin/%s rejected (it moved on): fetching and rebasing", branch)
            try:
                await self._fetch()
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

    async def commit(self, message, paths=None) -> dict:
        """The answer of ``POST commit``: commit (all or ``paths``) and push."""
        message = self.check_message(message)
        pathspecs = self.check_paths(paths) if paths is not None else None
        self._require_ready()
        async with self._lock:
            git_dir = await self._check_branch()
            head = await self._commit(git_dir, message, pathspecs)
            if head is None:
                ahead, _ = await self._ahead_behind()
                pushed = False
                if ahead:  # an earlier push failed: push now
                    await self._push()
                    pushed = True
                return {
                    "commit": None,
                    "nothing_to_commit": True,
                    "pushed": pushed,
                    "message": "Nothing to commit: "
                    + ("your files are the same as your last commit." if not paths else
                       "those files are the same as in your last commit.")
                    + (" Your earlier commits were pushed." if pushed else ""),
                }  # fmt: skip
            rebased = await self._push()
            head = await self.head()
        return {
            "commit": head.sha,
            "short": head.short,
            "pushed": True,
            "rebased": rebased,
            "head": head.to_json(),
        }

    # ---- publishing ------------------------------------------------------------------

    async def publish(self, message=None) -> dict:
        """The answer of ``POST publish``: commit (when ``message``), push, publish HEAD."""
        if message is not None:
            message = self.check_message(message)
        self._require_ready()
        committed = None
        async with self._lock:
            git_dir = await self._check_branch()
            if message is not None:
                committed = await self._commit(git_dir, message, None)
            head = await self.head()
            if head is None:
                raise Conflict("Your repository has no commit yet: commit your app first.")
            ahead, _ = await self._ahead_behind()
            known = await self._read(
                "rev-parse", "-q", "--verify", f"refs/remotes/origin/{self.config.branch}",
                check=False,
            )  # fmt: skip
            if ahead or known.returncode != 0:
                await self._push()
                head = await self.head()
            uncommitted = len(await self.changes())
        self.log.info("Publishing %s of %s", head.short, self.config.user)
        app = await self.service.publish(self.config.user, head.sha)
        self.log.info("Published %s of %s: %s", head.short, self.config.user, app.get("status"))
        return {
            **app,
            "url": app.get("url") or self.config.app_url,
            "status": app.get("status"),
            "commit": app.get("commit", head.sha),
            "logs": app.get("logs") or [],
            "committed": committed.sha if committed else None,
            "uncommitted_changes": uncommitted,
        }

    async def app(self) -> dict:
        """The answer of ``GET app`` (an app the service does not know: unpublished)."""
        try:
            app = await self.service.get_app(self.config.user)
        except NotFound:
            app = {"status": "unpublished", "commit": None, "logs": []}
        return self._app_answer(app)

    async def unpublish(self) -> dict:
        """The answer of ``DELETE app``."""
        self.log.info("Unpublishing the app of %s", self.config.user)
        app = await self.service.unpublish(self.config.user)
        return self._app_answer(app)

    def _app_answer(self, app: dict) -> dict:
        return {
            **app,
            "status": app.get("status"),
            "url": app.get("url") or self.config.app_url,
            "commit": app.get("commit"),
            "logs": app.get("logs") or [],
            "published_at": app.get("published_at"),
        }
