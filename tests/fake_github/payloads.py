"""JSON bodies the fake GitHub answers with, shaped like GitHub's own.

Every builder returns a superset of the keys GitHub's real answer has for the same
endpoint (``test_github_fake.py`` checks that against recorded real traffic in
``replaydata/``). Values that do not matter to IMAD are plausible constants.

Parts: ``error``, ``user``, ``repository``, ``git_ref``, ``git_commit``,
``content_file``, ``content_commit``.
"""

import base64
import hashlib

DOCS = "https://docs.github.com/rest"


def error(message: str, status: int, documentation_url: str = DOCS, errors=None) -> dict:
    """GitHub's error body: ``{"message", "documentation_url", "status"}`` (+ ``errors``)."""
    body = {"message": message, "documentation_url": documentation_url, "status": str(status)}
    if errors is not None:
        body["errors"] = errors
    return body


def node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode()


def _owner(fake, login: str) -> dict:
    account = fake.users[login.lower()]
    api, web = fake.api_url, fake.url
    login = account["login"]
    return {
        "login": login,
        "id": account["id"],
        "node_id": node_id("User", account["id"]),
        "avatar_url": f"{web}/avatars/u/{account['id']}?v=4",
        "gravatar_id": "",
        "url": f"{api}/users/{login}",
        "html_url": f"{web}/{login}",
        "followers_url": f"{api}/users/{login}/followers",
        "following_url": f"{api}/users/{login}/following{{/other_user}}",
        "gists_url": f"{api}/users/{login}/gists{{/gist_id}}",
        "starred_url": f"{api}/users/{login}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/users/{login}/subscriptions",
        "organizations_url": f"{api}/users/{login}/orgs",
        "repos_url": f"{api}/users/{login}/repos",
        "events_url": f"{api}/users/{login}/events{{/privacy}}",
        "received_events_url": f"{api}/users/{login}/received_events",
        "type": account.get("type", "User"),
        "user_view_type": "public",
        "site_admin": False,
    }


def user(fake, login: str) -> dict:
    """``GET /user``: the authenticated user."""
    account = fake.users[login.lower()]
    body = _owner(fake, login)
    body.update(
        {
            "name": account.get("name") or account["login"],
            "company": None,
            "blog": "",
            "location": None,
            "email": account.get("email"),
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "notification_email": account.get("email"),
            "public_repos": sum(1 for r in fake.repos.values() if r.owner == account["login"]),
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2020-01-01T00:00:00Z",
            "private_gists": 0,
            "total_private_repos": 0,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": False,
            "plan": {
                "name": "free",
                "space": 976562499,
                "collaborators": 0,
                "private_repos": 10000,
            },
        }
    )
    return body


_REPO_URLS = {
    "forks_url": "/forks",
    "keys_url": "/keys{/key_id}",
    "collaborators_url": "/collaborators{/collaborator}",
    "teams_url": "/teams",
    "hooks_url": "/hooks",
    "issue_events_url": "/issues/events{/number}",
    "events_url": "/events",
    "assignees_url": "/assignees{/user}",
    "branches_url": "/branches{/branch}",
    "tags_url": "/tags",
    "blobs_url": "/git/blobs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "trees_url": "/git/trees{/sha}",
    "statuses_url": "/statuses/{sha}",
    "languages_url": "/languages",
    "stargazers_url": "/stargazers",
    "contributors_url": "/contributors",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "commits_url": "/commits{/sha}",
    "git_commits_url": "/git/commits{/sha}",
    "comments_url": "/comments{/number}",
    "issue_comment_url": "/issues/comments{/number}",
    "contents_url": "/contents/{+path}",
    "compare_url": "/compare/{base}...{head}",
    "merges_url": "/merges",
    "archive_url": "/{archive_format}{/ref}",
    "downloads_url": "/downloads",
    "issues_url": "/issues{/number}",
    "pulls_url": "/pulls{/number}",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "labels_url": "/labels{/name}",
    "releases_url": "/releases{/id}",
    "deployments_url": "/deployments",
}


def repository(fake, repo, viewer: str | None = None, nested: bool = False) -> dict:
    """``GET /repos/{owner}/{repo}`` (and the 202/201 answers of fork and generate).

    ``nested`` builds the shorter form GitHub embeds as ``parent``/``source``/
    ``template_repository``.
    """
    api = f"{fake.api_url}/repos/{repo.full_name}"
    web = f"{fake.url}/{repo.full_name}"
    host = fake.url.split("://", 1)[1]
    is_owner = viewer is not None and viewer.lower() == repo.owner.lower()
    body = {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": _owner(fake, repo.owner),
        "html_url": web,
        "description": repo.description,
        "fork": repo.parent is not None,
        "url": api,
    }
    body.update({key: api + suffix for key, suffix in _REPO_URLS.items()})
    body.update(
        {
            "created_at": repo.created_at,
            "updated_at": repo.updated_at,
            "pushed_at": repo.pushed_at,
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host}:{repo.full_name}.git",
            "clone_url": f"{web}.git",
            "svn_url": web,
            "homepage": None,
            "size": 0 if repo.empty() else 12,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None if repo.empty() else "JavaScript",
            "has_issues": repo.parent is None,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": repo.forks_count,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": 0,
            "license": None,
            "allow_forking": True,
            "is_template": repo.is_template,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "private" if repo.private else "public",
            "forks": repo.forks_count,
            "open_issues": 0,
            "watchers": 0,
            "default_branch": repo.default_branch,
            "permissions": {
                "admin": is_owner,
                "maintain": is_owner,
                "push": is_owner,
                "triage": is_owner,
                "pull": True,
            },
        }
    )
    if nested:
        return body
    body.update(
        {
            "temp_clone_token": "",
            "allow_squash_merge": True,
            "allow_merge_commit": True,
            "allow_rebase_merge": True,
            "allow_auto_merge": False,
            "delete_branch_on_merge": False,
            "allow_update_branch": False,
            "use_squash_pr_title_as_default": False,
            "squash_merge_commit_message": "COMMIT_MESSAGES",
            "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
            "merge_commit_message": "PR_TITLE",
            "merge_commit_title": "MERGE_MESSAGE",
            "custom_properties": {},
            "organization": None,
            "security_and_analysis": {
                name: {"status": "disabled"}
                for name in (
                    "secret_scanning",
                    "secret_scanning_push_protection",
                    "dependabot_security_updates",
                    "secret_scanning_non_provider_patterns",
                    "secret_scanning_validity_checks",
                )
            },
            "network_count": repo.forks_count,
            "subscribers_count": 0,
        }
    )
    if repo.parent is not None:
        parent = fake.repos[repo.parent.lower()]
        body["parent"] = repository(fake, parent, viewer, nested=True)
        source = parent
        while source.parent is not None:
            source = fake.repos[source.parent.lower()]
        body["source"] = repository(fake, source, viewer, nested=True)
    if repo.template_repository is not None:
        template = fake.repos[repo.template_repository.lower()]
        body["template_repository"] = repository(fake, template, viewer, nested=True)
    return body


def git_ref(fake, repo, ref: str, sha: str) -> dict:
    """``GET /repos/{owner}/{repo}/git/ref/{ref}``."""
    api = f"{fake.api_url}/repos/{repo.full_name}"
    return {
        "ref": ref,
        "node_id": node_id("Ref", int(sha[:8], 16)),
        "url": f"{api}/git/{ref}",
        "object": {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"},
    }


def _person(who: dict) -> dict:
    return {"name": who["name"], "email": who["email"], "date": who["date"]}


def git_commit(fake, repo, commit: dict) -> dict:
    """``GET /repos/{owner}/{repo}/git/commits/{sha}``; ``commit`` from ``Repo.commit``."""
    api = f"{fake.api_url}/repos/{repo.full_name}"
    sha = commit["sha"]
    return {
        "sha": sha,
        "node_id": node_id("Commit", int(sha[:8], 16)),
        "url": f"{api}/git/commits/{sha}",
        "html_url": f"{fake.url}/{repo.full_name}/commit/{sha}",
        "author": _person(commit["author"]),
        "committer": _person(commit["committer"]),
        "tree": {"sha": commit["tree"], "url": f"{api}/git/trees/{commit['tree']}"},
        "message": commit["message"],
        "parents": [
            {
                "sha": p,
                "url": f"{api}/git/commits/{p}",
                "html_url": f"{fake.url}/{repo.full_name}/commit/{p}",
            }
            for p in commit["parents"]
        ],
        "verification": {
            "verified": False,
            "reason": "unsigned",
            "signature": None,
            "payload": None,
            "verified_at": None,
        },
    }


def content_file(fake, repo, path: str, blob_sha: str, data: bytes, ref: str) -> dict:
    """``GET /repos/{owner}/{repo}/contents/{path}`` for a file."""
    api = f"{fake.api_url}/repos/{repo.full_name}"
    web = f"{fake.url}/{repo.full_name}/blob/{ref}/{path}"
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(data),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": base64.encodebytes(data).decode(),
        "sha": blob_sha,
        "url": f"{api}/contents/{path}?ref={ref}",
        "git_url": f"{api}/git/blobs/{blob_sha}",
        "html_url": web,
        "download_url": f"{fake.url}/raw/{repo.full_name}/{ref}/{path}",
        "_links": {
            "self": f"{api}/contents/{path}?ref={ref}",
            "git": f"{api}/git/blobs/{blob_sha}",
            "html": web,
        },
    }


def content_commit(fake, repo, path, blob_sha, data, ref, commit: dict) -> dict:
    """``PUT /repos/{owner}/{repo}/contents/{path}``: ``{"content", "commit"}``."""
    body = content_file(fake, repo, path, blob_sha, data, ref)
    for key in ("content", "encoding"):
        body.pop(key)
    return {"content": body, "commit": git_commit(fake, repo, commit)}


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
