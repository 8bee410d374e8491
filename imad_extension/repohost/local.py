"""Local repository host: one bare git repository per student under the state dir.

``provision`` makes ``<root>/<username>.git`` from the course template: when the
template is a git repository its history is kept (a bare clone of it); when it is a
plain folder, its files become one initial commit. Provisioning is idempotent and safe
against two logins at once (a file lock per student; the copy is made in a temporary
folder and renamed into place; a repository without commits is treated as absent and made again).
"""

import asyncio
import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from traitlets import Unicode

from ..names import validate_username
from . import RepoHost, RepoInfo

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "IMAD Classroom",
    "GIT_AUTHOR_EMAIL": "classroom@imad.invalid",
    "GIT_COMMITTER_NAME": "IMAD Classroom",
    "GIT_COMMITTER_EMAIL": "classroom@imad.invalid",
}


def _git(*args, cwd=None, env=None):
    full_env = {**os.environ, **GIT_IDENTITY, **(env or {})}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=full_env, check=True, capture_output=True, text=True
    ).stdout.strip()


class LocalRepoHost(RepoHost):
    """Bare repositories under ``root``, made from ``template``."""

    root = Unicode(config=True, help="Folder of the bare repositories (<state_dir>/repos).")
    repo_name = Unicode(
        "imad-app", config=True, help="Name shown for each repository: <user>/<repo_name>."
    )
    template = Unicode(
        config=True,
        help="The course template: a git repository (its history is kept) or a folder.",
    )

    @classmethod
    def from_settings(cls, settings: dict, **kwargs):
        return cls(
            root=str(Path(settings["state_dir"]) / "repos"),
            template=settings["repos"]["template"],
            branch=settings["repos"]["branch"],
            repo_name=settings["repos"]["name"],
            **kwargs,
        )

    def path(self, username: str) -> Path:
        validate_username(username)
        return Path(self.root) / f"{username}.git"

    def info(self, username: str) -> RepoInfo:
        path = self.path(username)
        return RepoInfo(
            owner=username,
            name=f"{username}/{self.repo_name}",
            clone_url=str(path),
            web_url=None,
            default_branch=self.branch,
        )

    def has_content(self, username: str) -> bool:
        path = self.path(username)
        if not (path / "HEAD").exists():
            return False
        try:
            _git("--git-dir", str(path), "rev-parse", "--verify", f"refs/heads/{self.branch}")
        except subprocess.CalledProcessError:
            return False
        return True

    async def provision(self, username: str, token: str | None = None) -> RepoInfo:
        if not self.has_content(username):
            await asyncio.to_thread(self._make_repository_locked, username)
        return self.info(username)

    def _make_repository_locked(self, username: str):
        """One maker at a time per student, across processes (hub and service)."""
        target = self.path(username)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.parent / f".{username}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.has_content(username):
                self._make_repository(username)

    def _make_repository(self, username: str):
        target = self.path(username)
        template = Path(self.template)
        if not template.exists():
            raise FileNotFoundError(f"course template {template} does not exist")
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{username}-") as tmp:
            bare = Path(tmp) / "repo.git"
            if (template / ".git").exists() or (template / "HEAD").exists():
                _git("clone", "--bare", "--quiet", str(template), str(bare))
                head = _git("--git-dir", str(bare), "symbolic-ref", "--short", "HEAD")
                if head != self.branch:
                    _git("--git-dir", str(bare), "branch", "-m", head, self.branch)
            else:
                work = Path(tmp) / "work"
                shutil.copytree(template, work)
                _git("init", "--quiet", "-b", self.branch, cwd=work)
                _git("add", "-A", cwd=work)
                _git("commit", "--quiet", "-m", "Start from the course template", cwd=work)
                _git("clone", "--bare", "--quiet", str(work), str(bare))
            _git("--git-dir", str(bare), "symbolic-ref", "HEAD", f"refs/heads/{self.branch}")
            # Students push to this repository; let it accept pushes to the branch.
            _git("--git-dir", str(bare), "config", "receive.denyNonFastForwards", "true")
            if target.exists():
                # an empty or broken leftover (e.g. an interrupted provision)
                shutil.rmtree(target)
            os.rename(bare, target)
        self.log.info("Provisioned repository %s for %s", target, username)
