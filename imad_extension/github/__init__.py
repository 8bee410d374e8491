"""GitHub mode: GitHub login, each student's repository on GitHub, git without stored tokens.

Parts (one module per concern):

- ``auth``: ``configure_github_auth(c, settings, roster)``, GitHubOAuthenticator on
  JupyterHub's config object (scopes, auth state, allowed users, refresh);
- ``api``: ``GitHubAPI``, a small async REST client that paces writes and waits out
  rate limits (``ratelimit``) instead of failing;
- ``ratelimit``: ``WritePacer`` and ``retry_delay``: GitHub's primary and secondary
  limits, ``Retry-After``, exponential backoff;
- ``repohost``: ``GitHubRepoHost``, provisions a student's repository (fork or generate
  from the course template) with their own token, idempotently, waiting until the copy
  has the template's content;
- ``credentials``: in the workspace, hands git the owner's *current* token, asked from
  the hub when git needs it; never written to a file, the environment or a log.
"""


def api_url_for(github_url: str, api_url: str = "") -> str:
    """The REST API root: ``api_url`` if set, else GitHub's or Enterprise Server's default.

    Same rule as oauthenticator's ``GitHubOAuthenticator.github_api``.
    """
    if api_url:
        return api_url.rstrip("/")
    github_url = (github_url or "https://github.com").rstrip("/")
    if github_url == "https://github.com":
        return "https://api.github.com"
    return github_url + "/api/v3"
