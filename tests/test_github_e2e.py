"""GitHub mode end to end: a real hub with GitHubOAuthenticator pointed at the fake GitHub.

Login through the OAuth redirect dance -> the repository is forked (progress on the spawn
page) -> the workspace clones it -> edit, commit, push -> the commit is in the fake
GitHub's repository -> publish serves it. Then faults: the student edits on github.com
(rebased), revokes the token (asked to log in again). Finally the token is looked for
everywhere it must not be: files under the classroom's state dir (homes, working copy,
.git/config, logs, database), the workspace processes' environment and command lines.
"""

import json
import re
import secrets
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

from . import classroom as classroom_module
from .classroom import Classroom
from .fake_github import FakeGitHub
from .fake_github.fixtures import TEMPLATE_FILES

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
SHIM = """\
# GitHub-mode hub for the tests: the classroom's own configuration, then the GitHub
# mode hub wiring (until hubconfig calls it itself).
import sys

from imad_extension.github.hub import configure_github_hub
from imad_extension.hubconfig import configure
from imad_extension.settings import load_settings

c = get_config()  # noqa: F821
settings = load_settings()
configure(c, settings)
configure_github_hub(c, settings)
if STUB_SERVICE:  # the classroom service cannot run in this checkout yet
    c.JupyterHub.services[0]["command"] = [sys.executable, "-m", "tests.fake_github.service_stub"]
    c.JupyterHub.services[0]["environment"]["PYTHONPATH"] = CHECKOUT
"""


def _hubconfig_wires_github() -> bool:
    return "configure_github_hub" in (ROOT / "imad_extension" / "hubconfig.py").read_text()


@pytest.fixture(scope="module")
def github_classroom(tmp_path_factory):
    base = tmp_path_factory.mktemp("github-classroom")
    fake = FakeGitHub(base / "github", fork_delay=1.0)
    fake.start()
    fake.create_repo("imad-course", "imad-app", TEMPLATE_FILES, is_template=True)
    config = base / "imad.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "auth": {"kind": "github"},
                "repos": {
                    "host": "github",
                    "template_repo": "imad-course/imad-app",
                    "provision_timeout": 30,
                },
            }
        )
    )
    room = Classroom(base / "state")
    room.extra_env = {
        "IMAD_CONFIG": str(config),
        "GITHUB_URL": fake.url,
        "GITHUB_CLIENT_ID": fake.client_id,
        "GITHUB_CLIENT_SECRET": fake.client_secret,
        "OAUTH_CALLBACK_URL": room.url("hub/oauth_callback"),
        "JUPYTERHUB_CRYPT_KEY": secrets.token_hex(32),
    }
    fake.callback_url = room.url("hub/oauth_callback")
    mp = pytest.MonkeyPatch()
    if not _hubconfig_wires_github():
        shim_root = base / "shim"
        shim_root.mkdir()
        stub = not (ROOT / "imad_extension" / "service" / "__main__.py").exists()
        header = f"STUB_SERVICE = {stub!r}\nCHECKOUT = {str(ROOT)!r}\n"
        (shim_root / "jupyterhub_config.py").write_text(header + SHIM)
        mp.setattr(classroom_module, "ROOT", shim_root)
    try:
        room.start(timeout=90)
    finally:
        mp.undo()
    yield room, fake
    room.stop()
    fake.stop()


def oauth_login(room, fake, login) -> requests.Session:
    """Sign in on the fake GitHub, then follow the hub's OAuth redirects by hand."""
    s = requests.Session()
    s.get(f"{fake.url}/session", params={"login": login}, timeout=10)
    url = room.url("hub/oauth_login")
    hops = []
    for _ in range(8):
        r = s.get(url, allow_redirects=False, timeout=30)
        hops.append((url.split("?")[0], r.status_code))
        if r.status_code not in (301, 302, 303) or "/hub/oauth_callback" in url:
            break
        url = requests.compat.urljoin(url, r.headers["Location"])
    s.hops = hops
    s.last = r
    return s


def spawn_with_progress(room, token, user) -> list[dict]:
    """Start the server and read its progress stream (the spawn page's) meanwhile."""
    h = {"Authorization": f"token {token}"}
    posted = {}
    poster = threading.Thread(
        target=lambda: posted.update(
            r=requests.post(room.url(f"hub/api/users/{user}/server"), headers=h, timeout=60)
        )
    )
    poster.start()
    events = []
    deadline = time.monotonic() + 60
    while not events and time.monotonic() < deadline:
        with requests.get(
            room.url(f"hub/api/users/{user}/server/progress"), headers=h, stream=True, timeout=60
        ) as stream:
            if stream.status_code != 200:  # not pending yet
                time.sleep(0.05)
                continue
            for line in stream.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                    if events[-1].get("ready") or events[-1].get("failed"):
                        break
    poster.join(60)
    assert posted["r"].status_code in (201, 202), posted["r"].text
    room.spawn(token, user)  # wait until the server answers
    return events


@pytest.fixture(scope="module")
def alice(github_classroom):
    room, fake = github_classroom
    session = oauth_login(room, fake, "alice")
    assert session.last.status_code == 302, (session.hops, session.last.text[:500], room.tail_log())
    assert any(fake.url in hop for hop, _ in session.hops)  # went through GitHub's authorize
    token = room.token(session, "alice")
    events = spawn_with_progress(room, token, "alice")
    return session, token, events


def api(room, token, method, path, **kw):
    return room.server_api(token, "alice", method, f"imad/api/{path}", **kw)


def wait_workspace_ready(room, token, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws = api(room, token, "GET", "workspace").json()
        if ws.get("state") != "cloning":
            return ws
        time.sleep(0.3)
    raise TimeoutError("workspace still cloning")


def write_file(room, token, path, content):
    r = room.server_api(
        token,
        "alice",
        "PUT",
        f"api/contents/app/{path}",
        json={"type": "file", "format": "text", "content": content},
    )
    assert r.status_code in (200, 201), r.text


def test_login_forks_and_workspace_clones(github_classroom, alice):
    room, fake = github_classroom
    _, token, events = alice
    repo = fake.get_repo("alice/imad-app")
    assert repo is not None and repo.parent == "imad-course/imad-app"
    grants = [t for t in fake.tokens.values() if t["login"] == "alice"]
    assert grants and grants[0]["scopes"] == ["public_repo"]
    messages = [e.get("message", "") for e in events]
    assert any("Forking imad-course/imad-app" in m for m in messages), messages
    assert any("Waiting for GitHub" in m for m in messages), messages
    ws = wait_workspace_ready(room, token)
    assert ws["state"] == "ready", ws
    assert ws["repository"]["clone_url"] == f"{fake.url}/alice/imad-app.git"
    assert ws["head"]["sha"] == repo.head()


def test_edit_commit_push_publish(github_classroom, alice):
    room, fake = github_classroom
    _, token, _ = alice
    wait_workspace_ready(room, token)
    marker = f"github-{secrets.token_hex(4)}"
    page = fake.read_file("alice/imad-app", "public/index.html")
    write_file(
        room, token, "public/index.html", page.replace("Hello", marker) + f"\n<!-- {marker} -->\n"
    )
    r = api(room, token, "POST", "commit", json={"message": "My first GitHub commit"})
    assert r.status_code == 200, r.text
    sha = r.json()["commit"]
    assert fake.get_repo("alice/imad-app").head() == sha
    assert marker in fake.read_file("alice/imad-app", "public/index.html")
    r = api(room, token, "POST", "publish", json={})
    if r.status_code in (404, 501) or "service stub" in r.text:
        pytest.skip(f"publish not available yet in this checkout: {r.status_code}")
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            page = room.fetch_app("alice", "/")
            if marker in page.text:
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    else:
        raise AssertionError(f"published app never served the commit: {r.json()}")


def test_edit_on_github_is_rebased(github_classroom, alice):
    room, fake = github_classroom
    _, token, _ = alice
    fake.web_edit("alice/imad-app", "README.md", "edited on github.com\n")
    write_file(
        room,
        token,
        "server.js",
        fake.read_file("alice/imad-app", "server.js") + "\n// from the workspace\n",
    )
    r = api(room, token, "POST", "commit", json={"message": "Workspace edit"})
    assert r.status_code == 200, r.text
    assert fake.read_file("alice/imad-app", "README.md") == "edited on github.com"
    assert fake.read_file("alice/imad-app", "server.js").endswith("// from the workspace")


def test_no_token_anywhere(github_classroom, alice):
    room, fake = github_classroom
    tokens = [t for t, grant in fake.tokens.items() if grant["login"] == "alice"]
    assert tokens
    needles = [t.encode() for t in tokens]
    for path in room.state_dir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            assert not any(n in data for n in needles), f"token found in {path}"
    assert (room.state_dir / "homes" / "alice" / "app" / ".git" / "config").exists()
    found = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"JUPYTERHUB_USER=alice" in environ:
            found += 1
            assert not any(n in environ or n in cmdline for n in needles), (
                f"token in process {proc.name}"
            )
    assert found >= 1  # the workspace was looked at


def test_revoked_token_asks_to_log_in_again(github_classroom, alice):
    room, fake = github_classroom
    _, token, _ = alice
    for t, grant in list(fake.tokens.items()):
        if grant["login"] == "alice":
            fake.revoke(t)
    write_file(
        room,
        token,
        "server.js",
        fake.read_file("alice/imad-app", "server.js") + "\n// after revoke\n",
    )
    r = api(room, token, "POST", "commit", json={"message": "After revoke"})
    # nothing lost: the commit is in the working copy
    assert "after revoke" in (room.state_dir / "homes" / "alice" / "app" / "server.js").read_text()
    assert r.status_code == 401, r.text
    assert re.search(r"log (out and log )?in again", r.json()["message"], re.I), r.json()
