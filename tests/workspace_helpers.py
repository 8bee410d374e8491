"""Fixtures and helpers for the workspace extension's tests (tests/test_workspace_*.py).

A real Jupyter server (pytest-jupyter) with the extension loaded, a real bare repository
made by ``LocalRepoHost`` from the course template, and real git for "someone else"
pushing to it. Test modules import the fixtures they use by name (``FIXTURES``);
``jp_asyncio_loop`` makes pytest-jupyter's server share pytest-asyncio's loop.

Parts: fixtures ``jp_asyncio_loop``, ``bare_repo``, ``app_dir``, ``workspace_overrides``,
``workspace_config``, ``jp_server_config``; helpers ``api``, ``wait_ready``, ``git``, ``other_clone``,
``push_change``, ``branch_sha``.
"""

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import imad_extension
from imad_extension.repohost.local import LocalRepoHost

TEMPLATE = Path(imad_extension.__file__).parent / "course_template"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Someone Else",
    "GIT_AUTHOR_EMAIL": "else@example.invalid",
    "GIT_COMMITTER_NAME": "Someone Else",
    "GIT_COMMITTER_EMAIL": "else@example.invalid",
}


@pytest.fixture
async def jp_asyncio_loop():
    """pytest-jupyter's server and client on the loop pytest-asyncio runs tests in."""
    return asyncio.get_running_loop()


@pytest.fixture
async def bare_repo(tmp_path) -> Path:
    host = LocalRepoHost(root=str(tmp_path / "repos"), template=str(TEMPLATE))
    info = await host.provision("alice")
    return Path(info.clone_url)


@pytest.fixture
def app_dir(jp_root_dir) -> Path:
    return Path(jp_root_dir) / "app"


@pytest.fixture
def workspace_overrides() -> dict:
    """Traits a test sets: ``@pytest.mark.parametrize("workspace_overrides", [{...}])``."""
    return {}


@pytest.fixture
def workspace_config(workspace_overrides, bare_repo, app_dir) -> dict:
    """``c.ImadWorkspace`` of the test server."""
    return {
        "app_dir": str(app_dir),
        "repo_url": str(bare_repo),
        "repo_name": "alice.git",
        "user": "alice",
        "app_url": "http://alice.apps.localhost:8080/",
        "service_url": "",
        "fetch_interval": 0.0,
        "max_file_bytes": 64 * 1024,
        **workspace_overrides,
    }


@pytest.fixture
def jp_server_config(workspace_config) -> dict:
    return {
        "ServerApp": {
            "jpserver_extensions": {"imad_extension": True},
            "allow_unauthenticated_access": False,
        },
        "ImadWorkspace": workspace_config,
    }


async def api(jp_fetch, method: str, path: str, body=None, raw: bytes | None = None):
    """Call ``imad/api/<path>``; return (status code, decoded JSON)."""
    kwargs = {"method": method, "raise_error": False}
    if raw is not None:
        kwargs["body"] = raw
    elif body is not None:
        kwargs["body"] = json.dumps(body)
    elif method == "POST":
        kwargs["body"] = b""
    response = await jp_fetch("imad", "api", path, **kwargs)
    return response.code, json.loads(response.body or b"null")


async def wait_ready(jp_fetch, timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        code, body = await api(jp_fetch, "GET", "workspace")
        assert code == 200, body
        if body["state"] != "cloning":
            return body
        assert time.monotonic() < deadline, f"still cloning after {timeout}s"
        await asyncio.sleep(0.1)


def git(*args, cwd=None) -> str:
    return subprocess.run(
        ["git", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **IDENTITY},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()


def other_clone(bare_repo: Path, where: Path) -> Path:
    """Someone else's working copy of the repository (e.g. the student on another PC)."""
    git("clone", "--quiet", bare_repo, where)
    return where


def push_change(bare_repo: Path, where: Path, path: str, content: str, message: str) -> str:
    """Make and push a commit from another working copy; return its sha."""
    if not where.exists():
        other_clone(bare_repo, where)
    else:
        git("pull", "--quiet", "--rebase", cwd=where)
    target = where / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    git("add", "-A", cwd=where)
    git("commit", "--quiet", "-m", message, cwd=where)
    git("push", "--quiet", "origin", "HEAD:main", cwd=where)
    return git("rev-parse", "HEAD", cwd=where)


def branch_sha(bare_repo: Path, branch: str = "main") -> str:
    return git("--git-dir", bare_repo, "rev-parse", f"refs/heads/{branch}")
