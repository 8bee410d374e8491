"""The workspace's git credentials in GitHub mode: the owner's current token, asked from
the hub when git needs it, given only to the GitHub host, and never written anywhere."""
# ruff: noqa: F811

import io
import os
import sys
from pathlib import Path

import pytest

from imad_extension.github import credentials
from imad_extension.github.credentials import (
    NoToken,
    credential_provider,
    git_config_args,
    helper_answer,
    is_auth_failure,
    token_from_hub,
)

from .fake_github.fixtures import fake_github, fake_hub, git, student, template  # noqa: F401

pytestmark = pytest.mark.timeout(60)
CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.fixture
def alice_fork(fake_github, template, student):
    fake_github.fork_delay = 0
    fake_github.fork(template, "alice", "imad-app", True)
    import time

    deadline = time.monotonic() + 5
    while fake_github.get_repo("alice/imad-app").head() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return fake_github.get_repo("alice/imad-app")


@pytest.fixture
def workspace_env(fake_hub, fake_github, student):
    fake_hub.tokens["server-token-alice"] = "alice"
    fake_hub.auth_states["alice"] = {"access_token": student, "github_user": {"login": "alice"}}
    return fake_hub.environ("server-token-alice", fake_github.url)


def test_token_from_hub(workspace_env, fake_hub, student):
    assert token_from_hub(workspace_env) == student
    fake_hub.share_auth_state = False
    with pytest.raises(NoToken, match="admin:auth_state!user"):
        token_from_hub(workspace_env)
    with pytest.raises(NoToken, match="403"):
        token_from_hub({**workspace_env, "JUPYTERHUB_API_TOKEN": "wrong"})


@pytest.mark.parametrize(
    "request_text, gives",
    [
        pytest.param(
            "protocol={scheme}\nhost={host}\npath=alice/imad-app.git\n", True, id="github-host"
        ),
        pytest.param("protocol={scheme}\nhost=evil.example\n", False, id="other-host"),
        pytest.param("protocol=https\nhost={host}\n", False, id="other-scheme"),
        pytest.param("url={scheme}://{host}/alice/imad-app.git\n", True, id="url-form"),
    ],
)
def test_helper_gives_the_token_only_to_the_github_host(
    workspace_env, fake_github, student, request_text, gives
):
    scheme, host = fake_github.url.split("://")
    answer = helper_answer("get", request_text.format(scheme=scheme, host=host), workspace_env)
    assert (student in answer) is gives
    if gives:
        assert answer == f"username=x-access-token\npassword={student}\n"


def test_helper_store_and_erase_keep_nothing(workspace_env, fake_github):
    scheme, host = fake_github.url.split("://")
    for op in ("store", "erase"):
        assert (
            helper_answer(op, f"protocol={scheme}\nhost={host}\npassword=x\n", workspace_env) == ""
        )


def test_helper_main_without_token_prints_nothing(capsys):
    out = io.StringIO()
    env = {"IMAD_GITHUB_URL": "https://github.com"}
    assert (
        credentials.main(["get"], io.StringIO("protocol=https\nhost=github.com\n"), out, env) == 0
    )
    assert out.getvalue() == ""
    assert "no GitHub credentials" in capsys.readouterr().err


async def test_provider_for_the_workspace_runner(workspace_env, fake_github, student):
    url = f"{fake_github.url}/alice/imad-app.git"
    assert await credential_provider(url, workspace_env) == {
        "username": "x-access-token",
        "password": student,
    }
    assert await credential_provider("https://elsewhere.example/x.git", workspace_env) is None


def test_git_clone_and_push_through_the_helper_program(
    alice_fork, fake_github, workspace_env, student, fake_hub, tmp_path
):
    """Real git runs ``python -m imad_extension.github.credentials``; the token reaches
    GitHub but no file, config or environment of the working copy."""
    env = {**workspace_env, "PYTHONPATH": str(CHECKOUT)}
    url = f"{fake_github.url}/alice/imad-app.git"
    work = tmp_path / "home" / "app"
    args = git_config_args(sys.executable)
    git(*args, "clone", "-q", url, str(work), env=env)
    (work / "server.js").write_text("// pushed through the helper\n")
    git("commit", "-qam", "edit", cwd=work, env=env)
    pushed = git(*args, "push", "origin", "main", cwd=work, env=env, check=False)
    assert pushed.returncode == 0, pushed.stderr
    assert fake_github.read_file("alice/imad-app", "server.js") == "// pushed through the helper"
    assert fake_hub.calls >= 1
    # the token is nowhere on disk (a student credential store would have been bypassed too)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert student.encode() not in path.read_bytes(), path
    assert student not in git("config", "--list", cwd=work).stdout
    assert student not in pushed.stderr + pushed.stdout

    # revoked on GitHub: git fails, and we recognise it as "log in again"
    fake_github.revoke(student)
    (work / "server.js").write_text("// after revoke\n")
    git("commit", "-qam", "again", cwd=work, env=env)
    failed = git(*args, "push", "origin", "main", cwd=work, env=env, check=False)
    assert failed.returncode != 0 and is_auth_failure(failed.stderr), failed.stderr
    assert student not in failed.stderr


def test_helper_ignores_student_configured_credential_store(
    alice_fork, fake_github, workspace_env, student, tmp_path
):
    """A ``credential.helper=store`` in the student's ~/.gitconfig never receives the token."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[credential]\n\thelper = store\n")
    env = {**workspace_env, "HOME": str(home), "PYTHONPATH": str(CHECKOUT)}
    url = f"{fake_github.url}/alice/imad-app.git"
    work = home / "app"
    args = git_config_args(sys.executable)
    git(*args, "clone", "-q", url, str(work), env=env)
    (work / "a.txt").write_text("a\n")
    git("add", "a.txt", cwd=work, env=env)
    git("commit", "-qm", "a", cwd=work, env=env)
    git(*args, "push", "-q", "origin", "main", cwd=work, env=env)
    assert not (home / ".git-credentials").exists()


# --- with the workspace extension's runner and core (written by the workspace engineer) ---
workspace_core = pytest.importorskip("imad_extension.workspace.core")


def _workspace(app_dir, url, env):
    from imad_extension.workspace.config import ImadWorkspace
    from imad_extension.workspace.core import Workspace

    config = ImadWorkspace(
        app_dir=str(app_dir),
        repo_url=url,
        user="alice",
        service_url="",
        fetch_interval=0.0,
        credential_provider="imad_extension.github.credentials:credential_provider",
    )
    return Workspace(config)


@pytest.fixture
def in_workspace(workspace_env, monkeypatch):
    for key, value in workspace_env.items():
        monkeypatch.setenv(key, value)


async def test_workspace_commit_push_rebase_and_conflict(
    alice_fork, fake_github, in_workspace, student, tmp_path
):
    from imad_extension.errors import Conflict

    url = f"{fake_github.url}/alice/imad-app.git"
    ws = _workspace(tmp_path / "app", url, os.environ)
    ws.start()
    await ws.wait_cloned()
    assert ws.state == "ready", ws.error
    app = tmp_path / "app"
    # plain commit and push
    (app / "public" / "index.html").write_text("<h1>Alice</h1>\n")
    answer = await ws.commit("My page")
    assert (
        answer["pushed"]
        and fake_github.read_file("alice/imad-app", "public/index.html") == "<h1>Alice</h1>"
    )
    # the student edited another file on github.com: the push is rebased on top
    fake_github.web_edit("alice/imad-app", "README.md", "edited on github.com\n")
    (app / "server.js").write_text((app / "server.js").read_text() + "// local\n")
    answer = await ws.commit("Local edit")
    assert answer["pushed"] and answer.get("rebased")
    assert fake_github.read_file("alice/imad-app", "README.md") == "edited on github.com"
    assert fake_github.read_file("alice/imad-app", "server.js").endswith("// local")
    # the same lines changed on github.com and here: both kept, student told exactly
    fake_github.web_edit("alice/imad-app", "public/index.html", "<h1>From GitHub</h1>\n")
    (app / "public" / "index.html").write_text("<h1>From the workspace</h1>\n")
    with pytest.raises(Conflict) as e:
        await ws.commit("Conflicting edit")
    assert "public/index.html" in e.value.message and "Nothing was lost" in e.value.message
    branches = fake_github.get_repo("alice/imad-app").git(
        "for-each-ref", "--format=%(refname:short)", "refs/heads"
    )
    conflict = [b for b in branches.split() if b.startswith("imad/conflict-")]
    assert conflict, branches
    assert (
        fake_github.read_file("alice/imad-app", "public/index.html", conflict[0])
        == "<h1>From the workspace</h1>"
    )
    assert fake_github.read_file("alice/imad-app", "public/index.html") == "<h1>From GitHub</h1>"
    # no token anywhere in the working copy
    for path in app.rglob("*"):
        if path.is_file():
            assert student.encode() not in path.read_bytes(), path
    assert "JUPYTERHUB_API_TOKEN" not in ws.git.env()
