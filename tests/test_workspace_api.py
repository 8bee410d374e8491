"""The workspace API against a real Jupyter server, real git and a real bare repository."""

# pytest fixtures are imported by name from workspace_helpers:
# ruff: noqa: F401, F811

import asyncio
import json
import subprocess

import pytest

from .workspace_helpers import (
    api,
    app_dir,
    bare_repo,
    branch_sha,
    git,
    jp_asyncio_loop,
    jp_server_config,
    push_change,
    wait_ready,
    workspace_config,
    workspace_overrides,
)

pytestmark = pytest.mark.timeout(120)


def snapshot(app_dir):
    """Everything that must not change when a request is refused."""
    return (
        git("rev-parse", "HEAD", cwd=app_dir),
        git("status", "--porcelain=v1", "--untracked-files=all", cwd=app_dir),
        git("ls-files", "--stage", cwd=app_dir),
    )


async def test_clone_on_load_and_status(jp_fetch, app_dir, bare_repo):
    ws = await wait_ready(jp_fetch)
    assert ws["state"] == "ready", ws
    assert ws["error"] is None
    assert (app_dir / "server.js").exists()
    assert ws["repository"] == {"name": "alice.git", "clone_url": str(bare_repo), "web_url": None}
    assert ws["branch"] == "main" and ws["current_branch"] == "main"
    assert ws["head"]["sha"] == branch_sha(bare_repo)
    assert ws["head"]["message"] == "Start from the course template"
    assert ws["changes"] == [] and ws["ahead"] == 0 and ws["behind"] == 0
    assert ws["app_dir"] == "app"  # contents path, for JupyterLab's file browser
    assert ws["app_url"] == "http://alice.apps.localhost:8080/"

    (app_dir / "server.js").write_text("// changed\n")
    (app_dir / "public" / "new.html").write_text("<p>new</p>\n")
    (app_dir / "README.md").unlink()
    git("mv", "public/style.css", "public/main.css", cwd=app_dir)
    (app_dir / "node_modules").mkdir()
    (app_dir / "node_modules" / "x.js").write_text("ignored")
    _, ws = await api(jp_fetch, "GET", "workspace")
    changes = {c["path"]: c["status"] for c in ws["changes"]}
    assert changes == {
        "server.js": "modified",
        "public/new.html": "added",
        "README.md": "deleted",
        "public/main.css": "renamed",
    }


async def test_commit_pushes_everything(jp_fetch, app_dir, bare_repo):
    await wait_ready(jp_fetch)
    before = branch_sha(bare_repo)
    (app_dir / "server.js").write_text("// mine\n")
    (app_dir / "public" / "about.html").write_text("<p>about</p>\n")
    (app_dir / "README.md").unlink()
    git("add", "server.js", cwd=app_dir)  # something staged by hand is fine too

    code, answer = await api(jp_fetch, "POST", "commit", {"message": "My first change"})
    assert code == 200, answer
    assert answer["pushed"] is True and answer["rebased"] is False
    assert answer["commit"] == branch_sha(bare_repo) != before
    assert answer["short"] == answer["commit"][:7] == answer["head"]["short"]
    assert answer["head"]["author"] == "alice"
    files = git("--git-dir", bare_repo, "ls-tree", "-r", "--name-only", "main").split("\n")
    assert "public/about.html" in files and "README.md" not in files
    email = git("--git-dir", bare_repo, "log", "-1", "--format=%ae", "main")
    assert email == "alice@users.imad.invalid"

    _, ws = await api(jp_fetch, "GET", "workspace")
    assert ws["changes"] == [] and ws["ahead"] == 0 and ws["behind"] == 0
    assert git("status", "--porcelain", cwd=app_dir) == ""  # index in line with HEAD

    code, answer = await api(jp_fetch, "POST", "commit", {"message": "again"})
    assert code == 200, answer
    assert answer["commit"] is None and answer["nothing_to_commit"] is True
    assert answer["message"].startswith("Nothing to commit")


async def test_jupyterlab_checkpoints_are_never_changes(jp_fetch, app_dir, bare_repo):
    await wait_ready(jp_fetch)
    (app_dir / ".ipynb_checkpoints").mkdir()
    (app_dir / ".ipynb_checkpoints" / "server-checkpoint.js").write_text("// old\n")
    (app_dir / "public" / ".ipynb_checkpoints").mkdir()
    (app_dir / "public" / ".ipynb_checkpoints" / "index-checkpoint.html").write_text("x")
    _, ws = await api(jp_fetch, "GET", "workspace")
    assert ws["changes"] == []
    (app_dir / "server.js").write_text("// mine\n")
    code, answer = await api(jp_fetch, "POST", "commit", {"message": "Only mine"})
    assert code == 200, answer
    changed = git("--git-dir", bare_repo, "show", "--name-only", "--format=", "main")
    assert changed == "server.js"


async def test_commit_only_given_paths(jp_fetch, app_dir, bare_repo):
    await wait_ready(jp_fetch)
    (app_dir / "server.js").write_text("// one\n")
    (app_dir / "public" / "index.html").write_text("<p>two</p>\n")
    git("add", "public/index.html", cwd=app_dir)  # staged, but not asked for
    code, answer = await api(
        jp_fetch, "POST", "commit", {"message": "only server", "paths": ["./server.js"]}
    )
    assert code == 200, answer
    changed = git("--git-dir", bare_repo, "show", "--name-only", "--format=", "main")
    assert changed == "server.js"
    # the other change is still there, still staged, untouched
    assert (app_dir / "public" / "index.html").read_text() == "<p>two</p>\n"
    assert git("status", "--porcelain", cwd=app_dir) == "M  public/index.html"


@pytest.mark.parametrize(
    "body",
    [
        {"message": ""},
        {"message": "   \n"},
        {"message": "x" * 10_000},
        {"message": 42},
        {},
        {"message": "ok", "paths": "server.js"},
        {"message": "ok", "paths": [1]},
        {"message": "ok", "paths": []},
        {"message": "ok", "paths": ["../outside.txt"]},
        {"message": "ok", "paths": ["/etc/passwd"]},
        {"message": "ok", "paths": ["public/../../outside.txt"]},
        {"message": "ok", "paths": [".git/config"]},
        {"message": "ok", "paths": ["escape/secret.txt"]},
        {"message": "ok", "paths": ["no-such-file.txt"]},
        [1, 2],
        "not json {",
    ],
    ids=[
        "empty",
        "blank",
        "10kB",
        "not-text",
        "missing",
        "paths-not-list",
        "paths-not-text",
        "paths-empty",
        "dotdot",
        "absolute",
        "dotdot-inside",
        "git-dir",
        "symlink-escape",
        "unknown-file",
        "not-object",
        "malformed",
    ],
)
async def test_bad_commit_requests_change_nothing(jp_fetch, app_dir, bare_repo, tmp_path, body):
    await wait_ready(jp_fetch)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (app_dir / "escape").symlink_to(outside)
    (app_dir / "server.js").write_text("// pending\n")
    before, remote = snapshot(app_dir), branch_sha(bare_repo)
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    code, answer = await api(jp_fetch, "POST", "commit", raw=raw)
    assert code == 400, answer
    assert answer["status"] == 400 and answer["error"] == "bad_request"
    assert answer["message"]
    assert snapshot(app_dir) == before and branch_sha(bare_repo) == remote


async def test_oversized_file_is_refused(jp_fetch, app_dir, bare_repo):
    await wait_ready(jp_fetch)
    (app_dir / "server.js").write_text("// pending\n")
    (app_dir / "public" / "video.bin").write_bytes(b"\0" * (64 * 1024 + 1))
    before, remote = snapshot(app_dir), branch_sha(bare_repo)
    code, answer = await api(jp_fetch, "POST", "commit", {"message": "with video"})
    assert code == 413, answer
    assert "public/video.bin" in answer["message"]
    assert answer["details"]["files"] == ["public/video.bin"]
    assert snapshot(app_dir) == before and branch_sha(bare_repo) == remote
    blob = git("hash-object", "public/video.bin", cwd=app_dir)  # (without -w)
    with pytest.raises(subprocess.CalledProcessError):  # never written: refused before git add
        git("cat-file", "-e", blob, cwd=app_dir)
    # committing only the small file still works
    code, answer = await api(
        jp_fetch, "POST", "commit", {"message": "small", "paths": ["server.js"]}
    )
    assert code == 200, answer


async def test_push_after_someone_else_pushed_is_rebased(jp_fetch, app_dir, bare_repo, tmp_path):
    await wait_ready(jp_fetch)
    theirs = push_change(bare_repo, tmp_path / "other", "public/theirs.html", "hi\n", "theirs")
    (app_dir / "server.js").write_text("// mine\n")
    (app_dir / "notes.txt").write_text("not committed yet\n")
    code, answer = await api(
        jp_fetch, "POST", "commit", {"message": "mine", "paths": ["server.js"]}
    )
    assert code == 200, answer
    assert answer["rebased"] is True
    assert answer["commit"] == branch_sha(bare_repo)
    assert git("--git-dir", bare_repo, "rev-parse", "main~1") == theirs
    # the student's files now include theirs; the uncommitted file is untouched
    assert (app_dir / "public" / "theirs.html").read_text() == "hi\n"
    assert (app_dir / "notes.txt").read_text() == "not committed yet\n"
    _, ws = await api(jp_fetch, "GET", "workspace", None)
    assert ws["ahead"] == 0 and ws["behind"] == 0
    assert [c["path"] for c in ws["changes"]] == ["notes.txt"]


async def test_real_conflict_keeps_the_students_commit(jp_fetch, app_dir, bare_repo, tmp_path):
    await wait_ready(jp_fetch)
    theirs = push_change(bare_repo, tmp_path / "other", "server.js", "// theirs\n", "theirs")
    (app_dir / "server.js").write_text("// mine\n")
    code, answer = await api(jp_fetch, "POST", "commit", {"message": "mine"})
    assert code == 409, answer
    details = answer["details"]
    assert details["pushed"] is True and details["conflicts"] == ["server.js"]
    branch = details["branch"]
    assert branch.startswith("imad/conflict-")
    assert branch in answer["message"] and "git pull --rebase" in answer["message"]
    # the student's commit: on their branch locally, and pushed to the conflict branch
    mine = git("rev-parse", "HEAD", cwd=app_dir)
    assert mine == details["commit"]
    assert git("--git-dir", bare_repo, "rev-parse", f"refs/heads/{branch}") == mine
    assert git("show", "HEAD:server.js", cwd=app_dir) == "// mine"
    assert branch_sha(bare_repo) == theirs  # main is theirs, not overwritten
    assert (app_dir / "server.js").read_text() == "// mine\n"  # the file as typed
    assert git("status", "--porcelain", cwd=app_dir) == ""
    _, ws = await api(jp_fetch, "GET", "workspace", None)
    assert ws["ahead"] == 1 and ws["behind"] == 1


async def test_uncommitted_edit_in_a_file_they_changed(jp_fetch, app_dir, bare_repo, tmp_path):
    await wait_ready(jp_fetch)
    push_change(bare_repo, tmp_path / "other", "README.md", "theirs\n", "theirs")
    (app_dir / "server.js").write_text("// mine\n")
    (app_dir / "README.md").write_text("my draft\n")
    code, answer = await api(
        jp_fetch, "POST", "commit", {"message": "mine", "paths": ["server.js"]}
    )
    assert code == 409, answer
    assert answer["details"]["conflicts"] == ["README.md"]
    assert (app_dir / "README.md").read_text() == "my draft\n"
    assert (app_dir / "server.js").read_text() == "// mine\n"


async def test_behind_after_fetch(jp_fetch, bare_repo, tmp_path):
    await wait_ready(jp_fetch)
    push_change(bare_repo, tmp_path / "other", "x.txt", "x\n", "theirs")
    _, ws = await api(jp_fetch, "GET", "workspace", None)
    assert ws["behind"] == 1 and ws["ahead"] == 0 and ws["fetch_error"] is None


async def test_concurrent_commits_are_serialised(jp_fetch, app_dir, bare_repo):
    await wait_ready(jp_fetch)
    (app_dir / "a.txt").write_text("a\n")
    (app_dir / "b.txt").write_text("b\n")
    results = await asyncio.gather(
        api(jp_fetch, "POST", "commit", {"message": "a", "paths": ["a.txt"]}),
        api(jp_fetch, "POST", "commit", {"message": "b", "paths": ["b.txt"]}),
    )
    assert [code for code, _ in results] == [200, 200], results
    assert git("--git-dir", bare_repo, "log", "--format=%s", "-2", "main").split() in (
        ["a", "b"],
        ["b", "a"],
    )


@pytest.fixture
def existing_folder(app_dir):
    app_dir.mkdir(parents=True)
    (app_dir / "precious.txt").write_text("mine")
    return app_dir


async def test_existing_non_git_folder_is_left_alone(existing_folder, jp_fetch):
    ws = await wait_ready(jp_fetch)
    assert ws["state"] == "error"
    assert "not a git working copy" in ws["error"] and "mv " in ws["error"]
    assert (existing_folder / "precious.txt").read_text() == "mine"
    assert sorted(p.name for p in existing_folder.iterdir()) == ["precious.txt"]
    code, answer = await api(jp_fetch, "POST", "commit", {"message": "x"})
    assert code == 503, answer
    # moving it aside and reloading gets the repository
    existing_folder.rename(existing_folder.with_name("app-old"))
    ws = await wait_ready(jp_fetch)
    assert ws["state"] == "ready", ws
    assert (existing_folder / "server.js").exists()


@pytest.fixture
def existing_copy(app_dir, bare_repo):
    git("clone", "--quiet", bare_repo, app_dir)
    (app_dir / "server.js").write_text("// work in progress\n")
    return app_dir


async def test_existing_working_copy_is_kept(existing_copy, jp_fetch):
    ws = await wait_ready(jp_fetch)
    assert ws["state"] == "ready"
    assert ws["changes"] == [{"path": "server.js", "status": "modified"}]
    assert (existing_copy / "server.js").read_text() == "// work in progress\n"


@pytest.mark.parametrize("workspace_overrides", [{"repo_url": "/nonexistent/nowhere.git"}])
async def test_missing_repo_reports_error(jp_fetch, app_dir):
    ws = await wait_ready(jp_fetch)
    assert ws["state"] == "error"
    assert "could not be copied" in ws["error"]
    assert not app_dir.exists()
    assert not [p for p in app_dir.parent.iterdir() if ".cloning-" in p.name]
