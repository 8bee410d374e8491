"""The app runtime entrypoint (images/nodejs-student/entrypoint.sh) with real git and node."""

import os
import signal
import subprocess
import time
import urllib.request

import pytest

from .publisher_helpers import ENTRYPOINT, StudentRepo, app_files, free_port

pytestmark = pytest.mark.timeout(60)


def entrypoint_env(repo, commit, app_dir, port=None, **extra):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(app_dir.parent),
        "REPO_URL": str(repo.bare),
        "COMMIT": commit,
        "APP_DIR": str(app_dir),
        "PORT": str(port or free_port()),
    }
    env.update(extra)
    return env


def run_to_end(env, timeout=30):
    """Run the entrypoint when it is expected to fail; ``(code, output)``."""
    done = subprocess.run(
        ["/bin/sh", str(ENTRYPOINT)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout


class Running:
    """The entrypoint running an app until it answers on ``$PORT``; stopped on exit."""

    def __init__(self, env, timeout=20):
        self.env = env
        self.port = int(env["PORT"])
        self.process = subprocess.Popen(
            ["/bin/sh", str(ENTRYPOINT)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.began = time.monotonic()
        deadline = self.began + timeout
        while True:
            try:
                self.body = self.get()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"app did not start:\n{self.output}") from None
                time.sleep(0.02)
        self.ready_after = time.monotonic() - self.began

    def get(self, path="/"):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
            return r.read().decode()

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.output = self.process.communicate(timeout=10)[0]
        return self.output

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def test_runs_exactly_the_commit(tmp_path):
    repo = StudentRepo(tmp_path)
    first = repo.commit(app_files("first version"))
    repo.commit(app_files("second version"))
    app_dir = tmp_path / "run" / "app"
    with Running(entrypoint_env(repo, first, app_dir)) as app:
        assert app.body == "first version"
        # a plain `node server.js` start script is exec'd directly: the app *is* the process
        with open(f"/proc/{app.process.pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[:2] == [b"node", b"server.js"]
        assert app.ready_after < 2.0
    assert (app_dir / "server.js").exists()
    assert "checked out commit " + first[:7] in app.output
    assert "starting: node server.js" in app.output


def test_other_start_scripts_go_through_npm(tmp_path):
    repo = StudentRepo(tmp_path)
    commit = repo.commit(app_files("via npm", start='"node server.js --verbose"'))
    with Running(entrypoint_env(repo, commit, tmp_path / "app")) as app:
        assert app.body == "via npm"
    assert "starting: npm start" in app.output


def test_without_start_script_npm_default_server_js(tmp_path):
    repo = StudentRepo(tmp_path)
    files = app_files("default start")
    files["package.json"] = '{"name": "x", "version": "1.0.0"}\n'
    commit = repo.commit(files)
    with Running(entrypoint_env(repo, commit, tmp_path / "app")) as app:
        assert app.body == "default start"


def test_unknown_commit_fails_clearly(tmp_path):
    repo = StudentRepo(tmp_path)
    repo.commit(app_files())
    code, output = run_to_end(entrypoint_env(repo, "1" * 40, tmp_path / "app"))
    assert code == 3
    assert "imad: error: commit 1111111 was not found in" in output


def test_credentials_in_repo_url_are_not_printed(tmp_path):
    repo = StudentRepo(tmp_path)
    repo.commit(app_files())
    env = entrypoint_env(repo, "2" * 40, tmp_path / "app")
    env["REPO_URL"] = "http://student:s3cret-token@127.0.0.1:1/alice/imad-app.git"
    code, output = run_to_end(env)
    assert code == 3
    assert "s3cret-token" not in output
    assert "http://127.0.0.1:1/alice/imad-app.git" in output


@pytest.mark.parametrize(
    "commit, port, message",
    [
        ("abc123", "8080", "is not a commit id"),
        ("G" * 40, "8080", "is not a commit id"),
        ("a" * 40, "eighty", "is not a port number"),
    ],
    ids=["short-commit", "not-hex", "bad-port"],
)
def test_bad_environment(tmp_path, commit, port, message):
    repo = StudentRepo(tmp_path)
    repo.commit(app_files())
    code, output = run_to_end(entrypoint_env(repo, commit, tmp_path / "app", port=port))
    assert code == 2
    assert message in output


def test_missing_package_json(tmp_path):
    repo = StudentRepo(tmp_path)
    commit = repo.commit({"index.html": "<p>just a page</p>"})
    code, output = run_to_end(entrypoint_env(repo, commit, tmp_path / "app"))
    assert code == 4
    assert "has no package.json" in output


def test_nothing_to_start(tmp_path):
    repo = StudentRepo(tmp_path)
    commit = repo.commit({"package.json": '{"name": "x", "scripts": {"test": "true"}}'})
    code, output = run_to_end(entrypoint_env(repo, commit, tmp_path / "app"))
    assert code == 5
    assert 'no "start" script' in output


def test_invalid_package_json(tmp_path):
    repo = StudentRepo(tmp_path)
    commit = repo.commit({"package.json": '{"name": "x",'})
    code, output = run_to_end(entrypoint_env(repo, commit, tmp_path / "app"))
    assert code == 4
    assert "package.json is not valid JSON" in output


def test_lockfile_installs_once_per_lockfile(tmp_path):
    repo = StudentRepo(tmp_path)
    first = repo.commit(app_files("one", lock=True))
    second = repo.commit(app_files("two", lock=True))  # same lockfile
    cache = tmp_path / "npm-cache"

    with Running(
        entrypoint_env(repo, first, tmp_path / "r1" / "app", NPM_CACHE_DIR=str(cache))
    ) as app:
        assert app.body == "one"
    assert "installing dependencies (npm ci)" in app.output
    installed = [p for p in cache.iterdir() if len(p.name) == 64]
    assert len(installed) == 1
    assert (tmp_path / "r1" / "app" / "node_modules").resolve() == installed[0] / "node_modules"

    with Running(
        entrypoint_env(repo, second, tmp_path / "r2" / "app", NPM_CACHE_DIR=str(cache))
    ) as app:
        assert app.body == "two"
    assert "npm ci" not in app.output
    assert "dependencies unchanged" in app.output


def test_without_lockfile_nothing_is_installed(tmp_path):
    repo = StudentRepo(tmp_path)
    files = app_files("no deps")
    files["package.json"] = (
        '{"name": "x", "scripts": {"start": "node server.js"}, "dependencies": {"express": "^4"}}'
    )
    commit = repo.commit(files)
    with Running(entrypoint_env(repo, commit, tmp_path / "app")) as app:
        assert app.body == "no deps"
    assert "there is no package-lock.json" in app.output
    assert not (tmp_path / "app" / "node_modules").exists()


def test_restart_in_the_same_dir_reuses_the_checkout(tmp_path):
    repo = StudentRepo(tmp_path)
    commit = repo.commit(app_files("again"))
    env = entrypoint_env(repo, commit, tmp_path / "app")
    with Running(env):
        pass
    with Running(env) as app:
        assert app.body == "again"
    assert "already checked out" in app.output
    other = repo.commit(app_files("other"))
    code, output = run_to_end({**env, "COMMIT": other})
    assert code == 2
    assert "is not empty" in output
