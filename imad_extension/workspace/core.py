"""The workspace logic behind ``<base_url>imad/api/``: no tornado here.

``Workspace`` answers each API call: it clones the student's working copy when it is
absent, reports its state, checks commit requests, commits and pushes (the git
mechanics are ``WorkingCopy``'s, working_copy.py), and publishes through the classroom
service (``ServiceClient``). Handlers parse JSON and call it; it raises
``imad_extension.errors`` exceptions whose status and message reach the student.

Rules it keeps:

- a student's file is never lost: an existing ``app_dir`` is never deleted or
  re-cloned (a folder that is not a working copy is reported, not touched); a clone
  goes to a temporary folder renamed into place, so a failed one leaves nothing;
- a refused request (bad message, path outside the app, oversized file) changes
  nothing: inputs are checked before git runs, and commits use a temporary index;
- one writing git operation at a time (``asyncio.Lock``);
- fetches for ahead/behind are reused for ``fetch_interval`` seconds, and skipped while
  a commit or publish holds the lock.

Parts: ``Workspace``.
"""

import asyncio
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from ..errors import (
    BadRequest,
    Conflict,
    NotFound,
    NotReady,
)
from .git import GitError, GitRunner
from .service_client import ServiceClient
from .working_copy import WorkingCopy

READY, CLONING, ERROR = "ready", "cloning", "error"


# Files JupyterLab writes beside the student's own, never meant for their repository.
WORKSPACE_IGNORES = (".ipynb_checkpoints/", ".virtual_documents/", "node_modules/")


def ignore_workspace_files(app_dir: Path):
    """Keep JupyterLab's own files out of commits: list them in ``.git/info/exclude``
    (local to this working copy; the student's ``.gitignore`` stays theirs)."""
    exclude = app_dir / ".git" / "info" / "exclude"
    try:
        present = exclude.read_text().splitlines() if exclude.exists() else []
        missing = [p for p in WORKSPACE_IGNORES if p not in present]
        if missing:
            exclude.parent.mkdir(parents=True, exist_ok=True)
            with open(exclude, "a") as f:
                f.write("".join(f"{p}\n" for p in missing))
    except OSError:
        pass  # an unreadable .git is reported by the git commands themselves


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
        self._lock = asyncio.Lock()  # one writing git operation at a time
        self.copy = WorkingCopy(self.app_dir, self.git, config, self.log)

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
            if self.state != READY:
                ignore_workspace_files(self.app_dir)
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
            ignore_workspace_files(copy)
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

    async def _maybe_fetch(self, force: bool):
        fresh = (
            self.copy.fetched_at is not None
            and time.monotonic() - self.copy.fetched_at < self.config.fetch_interval
        )
        if (fresh and not force) or self._lock.locked():
            return  # a commit or publish is under way: use what we know
        async with self._lock:
            try:
                await self.copy.fetch()
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
            head = await self.copy.head()
            answer.update(
                head=head.to_json() if head else None,
                current_branch=await self.copy.current_branch(),
                changes=await self.copy.changes(),
                fetch_error=self.copy.fetch_error,
            )
            answer["ahead"], answer["behind"] = await self.copy.ahead_behind()
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

    async def commit(self, message, paths=None) -> dict:
        """The answer of ``POST commit``: commit (all or ``paths``) and push."""
        message = self.check_message(message)
        pathspecs = self.check_paths(paths) if paths is not None else None
        self._require_ready()
        async with self._lock:
            git_dir = await self.copy.check_branch()
            head = await self.copy.commit(git_dir, message, pathspecs)
            if head is None:
                ahead, _ = await self.copy.ahead_behind()
                pushed = False
                if ahead:  # an earlier push failed: push now
                    await self.copy.push()
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
            rebased = await self.copy.push()
            head = await self.copy.head()
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
            git_dir = await self.copy.check_branch()
            if message is not None:
                committed = await self.copy.commit(git_dir, message, None)
            head = await self.copy.head()
            if head is None:
                raise Conflict("Your repository has no commit yet: commit your app first.")
            ahead, _ = await self.copy.ahead_behind()
            if ahead or not await self.copy.has_remote_branch():
                await self.copy.push()
                head = await self.copy.head()
            uncommitted = len(await self.copy.changes())
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
