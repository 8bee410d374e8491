"""The fake GitHub answers like GitHub: shapes checked against recorded real traffic,
PyGithub reads it, and git clones and pushes through it with GitHub's auth rules."""
# ruff: noqa: F811

import base64
import time

import pytest
import requests

from .fake_github.fixtures import fake_github, git, student, template  # noqa: F401
from .fake_github.replay import find, recordings, shape_mismatches


def api(fake, method, path, token=None, **kw):
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.request(method, fake.api_url + path, headers=headers, timeout=10, **kw)


def wait_ref(fake, full_name, token):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        r = api(fake, "GET", f"/repos/{full_name}/git/ref/heads/main", token)
        if r.status_code == 200:
            return r
        time.sleep(0.05)
    raise AssertionError(f"{full_name} never got content")


def test_answers_have_githubs_shapes(fake_github, template, student):
    fake, problems = fake_github, {}

    def check(label, real, answer, status):
        assert answer.status_code == status, (label, answer.status_code, answer.text)
        problems[label] = shape_mismatches(real.body, answer.json())

    fork = api(
        fake, "POST", "/repos/imad-course/imad-app/forks", student, json={"name": "imad-app"}
    )
    check("fork", find("Repository.testCreateFork.txt", "POST", "/forks"), fork, 202)
    new = {"owner": "alice", "name": "generated", "private": False}
    gen = api(fake, "POST", "/repos/imad-course/imad-app/generate", student, json=new)
    real_gen = find("AuthenticatedUser.testCreateRepoFromTemplate.txt", "POST", "/generate")
    check("generate", real_gen, gen, 201)
    for label, name in (("repo-2020", "AuthenticatedUser.testCreateRepoFromTemplate.txt"),):
        check(
            label,
            recordings(name)[0],
            api(fake, "GET", "/repos/imad-course/imad-app", student),
            200,
        )
    real_repo = find("GitCommit.setUp.txt", "GET", "/repos/PyGithub/PyGithub")
    check("repo-2025", real_repo, api(fake, "GET", "/repos/imad-course/imad-app", student), 200)
    check(
        "user",
        find("AuthenticatedUser.testCreateRepoFromTemplate.txt", "GET", "/user"),
        api(fake, "GET", "/user", student),
        200,
    )
    ref = wait_ref(fake, "alice/imad-app", student)
    check("ref", find("Repository.testGetGitRef.txt", "GET", "/git/ref/heads/master"), ref, 200)
    sha = ref.json()["object"]["sha"]
    real_commit = find(
        "GitCommit.setUp.txt", "GET", "/git/commits/3d84a47a88f6757514cb3ee91b829f53ba09e7e0"
    )
    check(
        "commit",
        real_commit,
        api(fake, "GET", f"/repos/alice/imad-app/git/commits/{sha}", student),
        200,
    )
    got = api(fake, "GET", "/repos/alice/imad-app/contents/server.js", student)
    check("contents-get", recordings("Repository.testUpdateFile.txt")[0], got, 200)
    put = {
        "message": "Edit on github.com",
        "content": base64.b64encode(b"console.log('edited');\n").decode(),
        "sha": got.json()["sha"],
    }
    check(
        "contents-put",
        recordings("Repository.testUpdateFile.txt")[1],
        api(fake, "PUT", "/repos/alice/imad-app/contents/server.js", student, json=put),
        200,
    )
    # errors
    check(
        "404",
        find("Artifact.testGetNonexistentArtifact.txt", "GET", "/396724437"),
        api(fake, "GET", "/repos/alice/nope", student),
        404,
    )
    check(
        "401",
        find("SpecificExceptions.testBadCredentials.txt", "GET", "/user"),
        api(fake, "GET", "/user", "gho_wrong"),
        401,
    )
    again = api(fake, "POST", "/repos/imad-course/imad-app/generate", student, json=new)
    check("422", find("Exceptions.testInvalidInput.txt", "POST", "/user/keys"), again, 422)
    assert {k: v for k, v in problems.items() if v} == {}


def test_oauth_token_exchange_shapes(fake_github):
    fake = fake_github
    fake.add_user("alice")
    s = requests.Session()
    s.get(f"{fake.url}/session", params={"login": "alice"}, timeout=10)
    r = s.get(
        f"{fake.url}/login/oauth/authorize",
        params={
            "client_id": fake.client_id,
            "redirect_uri": "http://hub.test/cb",
            "scope": "public_repo",
            "state": "xyz",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith("http://hub.test/cb?") and "state=xyz" in location
    code = location.split("code=")[1].split("&")[0]
    form = {"client_id": fake.client_id, "client_secret": fake.client_secret, "code": code}
    ok = requests.post(
        f"{fake.url}/login/oauth/access_token",
        data=form,
        headers={"Accept": "application/json"},
        timeout=10,
    )
    real = find("ApplicationOAuth.testGetAccessToken.txt", "POST", "/access_token")
    assert shape_mismatches(real.body, ok.json()) == []
    assert ok.json()["scope"] == "public_repo"
    bad = requests.post(
        f"{fake.url}/login/oauth/access_token",
        data=form,
        headers={"Accept": "application/json"},
        timeout=10,
    )
    real_bad = find("ApplicationOAuth.testGetAccessTokenBadCode.txt", "POST", "/access_token")
    assert bad.status_code == 200 and bad.json()["error"] == "bad_verification_code"
    assert shape_mismatches(real_bad.body, bad.json()) == []


def test_pygithub_reads_the_fake(fake_github, template, student):
    github = pytest.importorskip("github")
    gh = github.Github(auth=github.Auth.Token(student), base_url=fake_github.api_url, retry=None)
    assert gh.get_user().login == "alice"
    repo = gh.get_repo("imad-course/imad-app")
    assert repo.is_template and repo.default_branch == "main"
    fork = repo.create_fork(name="imad-app", default_branch_only=True)
    assert fork.full_name == "alice/imad-app" and fork.parent.full_name == "imad-course/imad-app"
    wait_ref(fake_github, "alice/imad-app", student)
    ref = fork.get_git_ref("heads/main")
    assert fork.get_git_commit(ref.object.sha).tree.sha
    with pytest.raises(github.UnknownObjectException):
        gh.get_repo("alice/missing")


def test_fork_is_empty_until_github_fills_it(fake_github, template, student):
    fake_github.fork_delay = None  # never
    r = api(fake_github, "POST", "/repos/imad-course/imad-app/forks", student, json={})
    assert r.status_code == 202
    empty = api(fake_github, "GET", "/repos/alice/imad-app/git/ref/heads/main", student)
    assert empty.status_code == 409 and empty.json()["message"] == "Git Repository is empty."


def test_injected_secondary_rate_limit(fake_github, template, student):
    fake_github.secondary_rate_limit("POST", r"/forks$", retry_after=7)
    r = api(fake_github, "POST", "/repos/imad-course/imad-app/forks", student, json={})
    assert r.status_code == 403 and r.headers["Retry-After"] == "7"
    assert "secondary rate limit" in r.json()["message"]
    assert (
        api(fake_github, "POST", "/repos/imad-course/imad-app/forks", student, json={}).status_code
        == 202
    )


def test_content_creation_limit_enforced(fake_github, template, student):
    fake_github.content_limit_per_minute = 2
    fake_github.secondary_retry_after = 3
    new = lambda n: {"owner": "alice", "name": n}  # noqa: E731
    codes = [
        api(
            fake_github, "POST", "/repos/imad-course/imad-app/generate", student, json=new(f"r{i}")
        ).status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 403]


def test_git_over_smart_http_with_githubs_auth_rules(fake_github, template, student, tmp_path):
    fake = fake_github
    api(fake, "POST", "/repos/imad-course/imad-app/forks", student, json={"name": "imad-app"})
    wait_ref(fake, "alice/imad-app", student)
    work = tmp_path / "work"
    git("clone", "-q", f"{fake.url}/alice/imad-app.git", str(work))  # public: no auth
    (work / "server.js").write_text("// edited\n")
    git("commit", "-qam", "edit", cwd=work)
    anonymous = git("push", "origin", "main", cwd=work, check=False)
    assert anonymous.returncode != 0 and "could not read Username" in anonymous.stderr
    helper = f"!f() {{ echo username=x-access-token; echo password={student}; }}; f"
    pushed = git(
        "-c", f"credential.helper={helper}", "push", "origin", "main", cwd=work, check=False
    )
    assert pushed.returncode == 0, pushed.stderr
    assert fake.read_file("alice/imad-app", "server.js") == "// edited"
    # someone else's token may not push to alice's repository
    fake.add_user("mallory")
    other = fake.issue_token("mallory")["access_token"]
    helper = f"!f() {{ echo username=x; echo password={other}; }}; f"
    denied = git(
        "-c", f"credential.helper={helper}", "push", "origin", "main", cwd=work, check=False
    )
    assert denied.returncode != 0 and "403" in denied.stderr
