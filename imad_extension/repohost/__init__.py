"""Repository hosts: where each student's copy of the course app lives.

One interface, one class per mode, chosen by the ``repos.host`` setting:

- ``local``: bare git repositories under ``<state_dir>/repos`` (``repohost.local``);
- ``github``: the student's repository on GitHub, forked or generated from the course
  template (``imad_extension.github.repohost``).

Subclasses override:

- ``provision(username, token=None)``: make the student's repository from the template
  if it does not exist yet (idempotent), wait until it has content, return ``RepoInfo``;
- ``info(username)``: ``RepoInfo`` for an existing repository (no network when possible);
- ``runtime_clone_url(username)``: a URL the app runtime can fetch the repository from.

Parts: ``RepoInfo``, ``RepoHost``, ``repo_host_for``.
"""

from dataclasses import asdict, dataclass

from traitlets import Unicode
from traitlets.config import LoggingConfigurable


@dataclass(frozen=True)
class RepoInfo:
    """What the workspace and the service need to know of one student's repository."""

    owner: str  # the JupyterHub user name
    name: str  # e.g. "alice/imad-app" or "alice.git"
    clone_url: str  # what the workspace clones and pushes to
    web_url: str | None  # a page for people, where the host has one
    default_branch: str = "main"

    def to_json(self) -> dict:
        return asdict(self)


class RepoHost(LoggingConfigurable):
    """Base class; see the module docstring for what subclasses override."""

    branch = Unicode("main", config=True, help="Branch students commit to and publish from.")

    async def provision(self, username: str, token: str | None = None) -> RepoInfo:
        raise NotImplementedError

    def info(self, username: str) -> RepoInfo:
        raise NotImplementedError

    def runtime_clone_url(self, username: str) -> str:
        return self.info(username).clone_url


def repo_host_for(settings: dict, **kwargs) -> RepoHost:
    """The repository host the settings ask for."""
    kind = settings["repos"]["host"]
    if kind == "local":
        from .local import LocalRepoHost

        return LocalRepoHost.from_settings(settings, **kwargs)
    if kind == "github":
        from ..github.repohost import GitHubRepoHost

        return GitHubRepoHost.from_settings(settings, **kwargs)
    raise ValueError(f"unknown repos.host {kind!r}")
