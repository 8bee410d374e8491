"""The git runner and its credential hook; configuration; status mapping.

The credential hook is tested end to end: the workspace core clones from and pushes to
the fake GitHub's git smart HTTP (real ``git http-backend``, Basic auth with the token
as password) with a ``credential_provider``, and the token must then be nowhere: not in
``.git/config``, a file of the working copy, a credential store the student configured,
the git child's environment, or the logs.
"""

import logging
import os
from pathlib import Path

import pytest
from traitlets import TraitError

from imad_extension.workspace.config import ImadWorkspace
from imad_extension.workspace.core import Workspace
from imad_extension.workspace.git import GitError, GitRunner
from imad_extension.workspace.working_copy import change_status

from .fake_github.server import FakeGitHub

pytestmark = pytest.mark.timeout(60)


async def test_child_environment_has_no_hub_token(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-secret")
    runner = GitRunner(identity=("alice", "alice@users.imad.invalid"))
    res = await runner.run("-c", "alias.env=!env", "env", cwd=tmp_path)
    assert "hub-secret" not in res.stdout
    assert "GIT_TERMINAL_PROMPT=0" in res.stdout
    assert "GIT_AUTHOR_EMAIL=alice@users.imad.invalid" in res.stdout


async def test_timeout_stops_git(tmp_path):
    runner = GitRunner(timeout=0.5)
    with pytest.raises(GitError) as info:
        await runner.run("-c", "alias.slow=!sleep 30", "slow", cwd=tmp_path)
    assert info.value.timed_out


async def test_failure_raises_with_git_message(tmp_path):
    with pytest.raises(GitError, match="not a git repository"):
        await GitRunner().run("status", cwd=tmp_path)
    res = await GitRunner().run("status", cwd=tmp_path, check=False)
    assert res.returncode != 0


async def test_credential_fill_reads_the_pipe(tmp_path):
    """What git's credential machinery gets, and that other helpers are switched off."""
    calls = []

    async def provider(url):
        calls.append(url)
        return {"username": "x-access-token", "password": "tok-123"}

    runner = GitRunner(credential_provider=provider)
    res = await runner.run(
        "-c", "credential.helper=store --file=" + str(tmp_path / "store"),
        "credential", "fill",
        input="protocol=https\nhost=example.com\n\n",
        network_url="https://example.com/alice/app.git",
        cwd=tmp_path,
    )  # fmt: skip
    assert "username=x-access-token" in res.stdout and "password=tok-123" in res.stdout
    assert calls == ["https://example.com/alice/app.git"]
    # the student's helper came before ours on the command line: ours reset the list
    res = await runner.run(
        "config", "--get-all", "credential.helper", network_url="https://x/", cwd=tmp_path
    )
    assert "store" not in res.stdout
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    "answer", [{"username": "u", "password": "a\nb"}, {"username": "", "password": "p"}]
)
async def test_unusable_credentials_are_refused(tmp_path, answer):
    runner = GitRunner(credential_provider=lambda url: answer)
    with pytest.raises(GitError, match="no credentials"):
        await runner.run("ls-remote", "https://x/", network_url="https://x/", cwd=tmp_path)


async def test_provider_failure_is_a_git_error(tmp_path):
    def provider(url):
        raise RuntimeError("the hub has no GitHub token for you: log in again")

    runner = GitRunner(credential_provider=provider)
    with pytest.raises(GitError, match="log in again"):
        await runner.run("ls-remote", "https://x/", network_url="https://x/", cwd=tmp_path)


@pytest.fixture
def fake_github(tmp_path):
    fake = FakeGitHub(tmp_path / "github").start()
    yield fake
    fake.stop()


def all_text(root: Path) -> str:
    chunks = []
    for path in root.rglob("*"):
        if path.is_file():
            chunks.append(path.read_bytes().decode("latin-1"))
    return "\n".join(chunks)


async def test_github_clone_commit_push_with_credential_provider(
    fake_github, tmp_path, monkeypatch, caplog
):
    fake_github.add_user("alice")
    repo = fake_github.create_repo(
        "alice", "imad-app", files={"server.js": "// hi\n"}, private=True
    )
    token = fake_github.issue_token("alice", scopes=("repo",))["access_token"]
    url = f"{fake_github.url}/alice/imad-app.git"
    asked = []

    async def provider(for_url):
        asked.append(for_url)
        return {"username": "x-access-token", "password": token}

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # a student's credential store, to stay empty
    (home / ".gitconfig").write_text(f"[credential]\n\thelper = store --file={home}/creds\n")
    config = ImadWorkspace(
        app_dir=str(tmp_path / "app"), repo_url=url, user="alice", credential_provider=provider
    )
    caplog.set_level(logging.DEBUG)
    workspace = Workspace(config, log=logging.getLogger("test.workspace"))
    workspace.start()
    await workspace.wait_cloned()
    assert workspace.state == "ready", workspace.error
    app = tmp_path / "app"
    assert (app / "server.js").read_text() == "// hi\n"

    (app / "server.js").write_text("// changed\n")
    answer = await workspace.commit("over https")
    assert answer["pushed"] and answer["commit"] == repo.head("main")
    status = await workspace.status(fetch=True)
    assert status["ahead"] == 0 and status["fetch_error"] is None
    assert asked and set(asked) == {url}

    assert token not in (app / ".git" / "config").read_text()
    assert token not in all_text(app)
    assert token not in all_text(home) and not (home / "creds").exists()
    assert token not in caplog.text
    assert token not in "".join(f"{k}={v}" for k, v in os.environ.items())


async def test_github_without_credentials_fails_cleanly(fake_github, tmp_path):
    fake_github.add_user("alice")
    fake_github.create_repo("alice", "imad-app", files={"a": "b"}, private=True)
    config = ImadWorkspace(
        app_dir=str(tmp_path / "app"),
        repo_url=f"{fake_github.url}/alice/imad-app.git",
        git_timeout=20.0,
    )
    workspace = Workspace(config)
    workspace.start()
    await workspace.wait_cloned()
    assert workspace.state == "error"
    assert "could not be copied" in workspace.error
    assert not (tmp_path / "app").exists()


# ---- configuration ---------------------------------------------------------------------


def test_config_from_environment(monkeypatch):
    env = {
        "JUPYTERHUB_USER": "bob",
        "IMAD_APP_DIR": "/srv/bob/app",
        "IMAD_REPO_URL": "https://github.example/bob/imad-app.git",
        "IMAD_REPO_WEB_URL": "https://github.example/bob/imad-app",
        "IMAD_BRANCH": "trunk",
        "IMAD_SERVICE_URL": "http://127.0.0.1:10101/services/imad",
        "IMAD_APP_URL": "http://bob.apps.localhost:8080/",
        "IMAD_MAX_FILE_BYTES": "1000",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("IMAD_REPO_NAME", raising=False)
    config = ImadWorkspace()
    assert config.user == "bob"
    assert config.app_dir == "/srv/bob/app"
    assert config.repo_url == env["IMAD_REPO_URL"]
    assert config.repo_web_url == env["IMAD_REPO_WEB_URL"]
    assert config.repo_name == "imad-app.git"
    assert config.branch == "trunk"
    assert config.service_url == "http://127.0.0.1:10101/services/imad/"
    assert config.app_url == env["IMAD_APP_URL"]
    assert config.max_file_bytes == 1000
    assert config.max_message_chars == 4096
    assert config.git_author_name == "bob"
    assert config.git_author_email == "bob@users.imad.invalid"


def test_config_defaults(monkeypatch):
    for key in list(os.environ):
        if key.startswith("IMAD_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("JUPYTERHUB_USER", "carol")
    config = ImadWorkspace()
    assert config.app_dir == "~/app"
    assert config.branch == "main"
    assert config.max_file_bytes == 5 * 1024 * 1024
    assert config.service_url == "" and config.repo_web_url == ""
    assert config.credential_provider is None


@pytest.mark.parametrize(
    ("trait", "value"),
    [
        ("repo_url", "https://alice:ghp_secret@github.com/alice/app.git"),
        ("branch", "../evil"),
        ("branch", "-x"),
    ],
    ids=["credentials-in-url", "dotdot-branch", "option-branch"],
)
def test_config_refuses(trait, value):
    with pytest.raises(TraitError):
        ImadWorkspace(**{trait: value})


def test_bad_env_number(monkeypatch):
    monkeypatch.setenv("IMAD_MAX_FILE_BYTES", "5MB")
    with pytest.raises(TraitError, match="IMAD_MAX_FILE_BYTES"):
        ImadWorkspace().max_file_bytes  # noqa: B018


def test_credential_provider_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("IMAD_CREDENTIAL_PROVIDER", "os.path:basename")
    config = ImadWorkspace(app_dir=str(tmp_path), repo_url="x")
    assert Workspace(config).git.credential_provider is os.path.basename


def test_credential_provider_import_string(tmp_path):
    config = ImadWorkspace(
        app_dir=str(tmp_path), credential_provider="os.path:basename", repo_url="x"
    )
    assert Workspace(config).git.credential_provider is os.path.basename


# ---- status mapping ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("xy", "status"),
    [
        ("??", "added"),
        ("A ", "added"),
        ("AM", "added"),
        ("AD", None),
        (" M", "modified"),
        ("M ", "modified"),
        ("MM", "modified"),
        (" T", "modified"),
        (" D", "deleted"),
        ("D ", "deleted"),
        ("MD", "deleted"),
        ("R ", "renamed"),
        ("RM", "renamed"),
        ("RD", "deleted"),
        ("UU", "modified"),
        ("AA", "modified"),
        ("!!", None),
    ],
)
def test_change_status(xy, status):
    assert change_status(xy[0], xy[1]) == status
