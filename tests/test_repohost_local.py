"""Local repository host: bare git repositories made from the course template."""

import asyncio
import subprocess

import pytest

from imad_extension.errors import BadRequest
from imad_extension.repohost.local import LocalRepoHost
from imad_extension.settings import PACKAGE_DIR


def git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def host(tmp_path):
    return LocalRepoHost(root=str(tmp_path / "repos"), template=str(PACKAGE_DIR / "course_template"))


async def test_provision_from_folder_is_one_commit(host, tmp_path):
    info = await host.provision("alice")
    assert info.clone_url.endswith("alice.git") and info.name == "alice/imad-app"
    log = git("--git-dir", info.clone_url, "log", "--format=%s", "main")
    assert log.strip() == "Start from the course template"
    files = git("--git-dir", info.clone_url, "ls-tree", "-r", "--name-only", "main").split()
    assert {"package.json", "server.js", "public/index.html"} <= set(files)


async def test_provision_is_idempotent_and_keeps_pushed_work(host, tmp_path):
    info = await host.provision("alice")
    work = tmp_path / "work"
    git("clone", "-q", info.clone_url, str(work))
    (work / "new.txt").write_text("mine")
    git("add", "new.txt", cwd=work)
    git("-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "mine", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    again = await host.provision("alice")
    assert again == info
    assert "mine" in git("--git-dir", info.clone_url, "log", "--format=%s", "main")


async def test_concurrent_provisions_make_one_good_repository(host):
    infos = await asyncio.gather(*(host.provision("bob") for _ in range(4)))
    assert len({i.clone_url for i in infos}) == 1
    assert host.has_content("bob")


async def test_template_history_is_kept(tmp_path):
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "package.json").write_text("{}")
    git("init", "-q", "-b", "trunk", cwd=tpl)
    git("add", "-A", cwd=tpl)
    for msg in ["one", "two"]:
        git("-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "--allow-empty", "-m", msg, cwd=tpl)
    host = LocalRepoHost(root=str(tmp_path / "repos"), template=str(tpl))
    info = await host.provision("carol")
    assert git("--git-dir", info.clone_url, "log", "--format=%s", "main").split() == ["two", "one"]


async def test_bad_user_name_is_refused(host, tmp_path):
    with pytest.raises(BadRequest):
        await host.provision("../evil")
    assert not (tmp_path / "evil.git").exists()
