"""GitHubRepoHost against the fake GitHub: fork/generate, idempotence, bounded waits,
rate limits, expired tokens; and the rate-limit rules on their own."""
# ruff: noqa: F811

import time

import pytest

from imad_extension.errors import Conflict, RateLimited, Unauthorized, UpstreamError
from imad_extension.github.ratelimit import RetryPolicy, WritePacer, retry_delay
from imad_extension.github.repohost import GitHubRepoHost
from imad_extension.settings import load_settings

from .fake_github.fixtures import fake_github, github_host, student, template  # noqa: F401

pytestmark = pytest.mark.timeout(60)


async def test_fork_waits_for_content_and_reports_progress(fake_github, github_host, student):
    events = []
    info = await github_host.provision("alice", student, progress=events.append)
    assert info.name == "alice/imad-app"
    assert info.clone_url == f"{fake_github.url}/alice/imad-app.git"
    assert info.web_url == f"{fake_github.url}/alice/imad-app"
    assert info.default_branch == "main"
    repo = fake_github.get_repo("alice/imad-app")
    assert repo.parent == "imad-course/imad-app"
    assert repo.head() == fake_github.get_repo("imad-course/imad-app").head()  # real content
    messages = [e["message"] for e in events]
    assert any("Forking" in m for m in messages)
    assert any("Waiting for GitHub" in m for m in messages)  # the fork was filled later
    assert messages[-1].endswith("is ready")
    assert all(0 <= e["progress"] <= 100 for e in events)
    assert github_host.info("alice") == info


async def test_provision_is_idempotent(fake_github, github_host, student):
    first = await github_host.provision("alice", student)
    sha = fake_github.web_edit("alice/imad-app", "server.js", "// mine\n")
    second = await GitHubRepoHost(**_traits(github_host)).provision("alice", student)
    assert second == first
    forks = [r for r in fake_github.repos.values() if r.owner == "alice"]
    assert len(forks) == 1
    assert fake_github.get_repo("alice/imad-app").head() == sha  # untouched
    posts = [r for r in fake_github.requests if r.method == "POST"]
    assert len(posts) == 1


async def test_generate_strategy(fake_github, github_host, student):
    github_host.strategy = "generate"
    info = await github_host.provision("alice", student)
    repo = fake_github.get_repo(info.name)
    assert repo.template_repository == "imad-course/imad-app" and repo.parent is None
    assert fake_github.read_file(info.name, "package.json") == fake_github.read_file(
        "imad-course/imad-app", "package.json"
    )
    assert (await github_host.provision("alice", student)) == info  # reused


async def test_same_name_not_from_template_is_never_touched(fake_github, github_host, student):
    mine = fake_github.create_repo("alice", "imad-app", {"README.md": "my own project\n"})
    before = mine.head()
    with pytest.raises(Conflict) as e:
        await github_host.provision("alice", student)
    assert "was not made from the course template" in e.value.message
    assert "imad-course/imad-app" in e.value.message
    assert mine.head() == before
    assert not [r for r in fake_github.requests if r.method == "POST"]


async def test_fork_that_never_gets_content_fails_clearly_and_in_time(
    fake_github, github_host, student
):
    fake_github.fork_delay = None
    github_host.provision_timeout = 1.0
    started = time.monotonic()
    with pytest.raises(UpstreamError) as e:
        await github_host.provision("alice", student)
    assert time.monotonic() - started < 4
    assert "has not finished copying" in e.value.message and "alice/imad-app" in e.value.message
    polls = [
        r for r in fake_github.requests if r.path.endswith("/alice/imad-app/git/ref/heads/main")
    ]
    assert 3 <= len(polls) <= 12  # backoff, not hammering


async def test_secondary_rate_limit_then_success(fake_github, github_host, student):
    fake_github.secondary_rate_limit("POST", r"/forks$", retry_after=1, times=1)
    events = []
    info = await github_host.provision("alice", student, progress=events.append)
    assert info.name == "alice/imad-app"
    assert any(e["message"].startswith("GitHub is busy, retrying") for e in events)
    forks = [r for r in fake_github.requests if r.path.endswith("/forks")]
    assert [r.status for r in forks] == [403, 202]
    assert forks[1].time - forks[0].time >= 0.9  # honoured Retry-After


async def test_secondary_limit_without_retry_after_waits_at_least_the_minimum(
    fake_github, github_host, student
):
    fake_github.secondary_rate_limit("POST", r"/forks$", retry_after=None, times=1)
    github_host.secondary_min_wait = 0.5
    await github_host.provision("alice", student)
    forks = [r for r in fake_github.requests if r.path.endswith("/forks")]
    assert forks[1].time - forks[0].time >= 0.45


async def test_rate_limited_too_long_is_a_clear_429(fake_github, github_host, student):
    fake_github.secondary_rate_limit("GET", r"/user$", retry_after=3600, times=1)
    with pytest.raises(RateLimited) as e:
        await github_host.provision("alice", student)
    assert e.value.status == 429 and "try again in a few minutes" in e.value.message


async def test_revoked_token_asks_to_log_in_again(fake_github, github_host, student):
    fake_github.revoke(student)
    with pytest.raises(Unauthorized) as e:
        await github_host.provision("alice", student)
    assert "log in again" in e.value.message
    with pytest.raises(Unauthorized):
        await github_host.provision("alice", None)


async def test_someone_elses_token_is_refused(fake_github, github_host, student):
    from imad_extension.errors import Forbidden

    with pytest.raises(Forbidden):
        await github_host.provision("bob", student)


async def test_existing_fork_under_another_name_is_reused(fake_github, github_host, student):
    template = fake_github.get_repo("imad-course/imad-app")
    fake_github.fork(template, "alice", "my-course-app", True)
    info = await github_host.provision("alice", student)
    assert info.name == "alice/my-course-app"
    assert github_host.info("alice").name == "alice/my-course-app"


def test_from_settings_enterprise_and_defaults():
    settings = load_settings(environ={"GITHUB_URL": "https://ghe.example.org/"})
    host = GitHubRepoHost.from_settings(settings)
    assert host.api_url == "https://ghe.example.org/api/v3"
    assert host.info("alice").clone_url == "https://ghe.example.org/alice/imad-app.git"
    host = GitHubRepoHost.from_settings(load_settings(environ={}))
    assert host.api_url == "https://api.github.com"
    assert host.strategy == "fork" and host.template_repo == "imad-course/imad-app"


# --- the rate-limit rules -------------------------------------------------------------------
POLICY = RetryPolicy(base=1, cap=60, secondary_min=60, jitter=0)


@pytest.mark.parametrize(
    "status, headers, message, attempt, expected",
    [
        pytest.param(403, {"Retry-After": "7"}, "secondary rate limit", 0, 7, id="retry-after"),
        pytest.param(429, {"Retry-After": "2"}, "", 3, 2, id="429-retry-after"),
        pytest.param(
            403, {}, "You have exceeded a secondary rate limit", 0, 60, id="secondary-min"
        ),
        pytest.param(
            403,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1030"},
            "API rate limit exceeded",
            0,
            31,
            id="primary-reset",
        ),
        pytest.param(503, {}, "", 2, 4, id="transient-backoff"),
        pytest.param(500, {}, "", 10, 60, id="backoff-capped"),
        pytest.param(403, {}, "Resource not accessible", 0, None, id="plain-403-final"),
        pytest.param(404, {}, "Not Found", 0, None, id="404-final"),
        pytest.param(422, {}, "Validation Failed", 0, None, id="422-final"),
    ],
)
def test_retry_delay(status, headers, message, attempt, expected):
    assert retry_delay(status, headers, message, attempt, POLICY, now=1000.0) == expected


async def test_write_pacer_spacing_and_per_minute_budget(monkeypatch):
    clock = [0.0]
    pacer = WritePacer(per_minute=3, min_interval=1.0, clock=lambda: clock[0])
    sleeps = []

    async def fake_sleep(delay):
        sleeps.append(delay)
        clock[0] += delay

    monkeypatch.setattr("imad_extension.github.ratelimit.asyncio.sleep", fake_sleep)
    for _ in range(4):
        await pacer.wait("k")
    # 1 s apart, then the 4th waits until the 1st leaves the 60 s window
    assert sleeps == [1.0, 1.0, 58.0]
    assert await pacer.wait("other-token") == 0.0


def _traits(host):
    return {
        name: getattr(host, name) for name in host.trait_names(config=True) if name not in ("log",)
    }
