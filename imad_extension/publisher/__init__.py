"""Publishers: what makes a student's commit run as a live app at its own host name.

One interface, one class per mode, chosen by the ``apps.publisher`` setting through
``publisher_for``:

- ``local``: a process per app running ``images/nodejs-student/entrypoint.sh``, routed
  by host name through configurable-http-proxy (``publisher.local.LocalPublisher``);
- ``kubernetes``: a Deployment + Service + Ingress per app
  (``publisher.kubernetes.KubernetesPublisher``).

Every method answers with an *app* dict (``AppRecord.to_json()``), the shape of the
classroom service API (docs/api.md)::

    {"owner", "slug", "url", "status": "unpublished"|"starting"|"live"|"crashed",
     "commit", "logs": [str], "published_at", "updated_at", "serving"}

``commit`` is the commit of the latest publish (the one ``status`` and ``logs`` are
about); ``serving`` is the commit visitors get right now, or ``None``. They differ while
a republish starts and after a republish that crashed: a failed republish leaves the
previous version serving. Times are ISO-8601 UTC strings.

Subclasses override (all ``async``):

- ``start()`` / ``stop()``: lifecycle. ``start`` picks up what already runs (apps
  outlive the service); ``stop`` lets apps run on.
- ``publish(owner, commit, repo_url, wait=None)``: make ``owner``'s app run
  ``commit`` fetched from ``repo_url``; answer once it is live or crashed, or after
  ``wait`` seconds (then still ``starting``). ``None``: until settled.
- ``status(owner, logs=True)``: the app (``unpublished`` when there is none), with its
  last logs (``logs=False``: ``logs`` is ``[]``, and the logs are not read).
- ``statuses(owners)``: the apps of ``owners`` (one each, in order; ``unpublished``
  ones too), without logs: what a cohort's dashboard reads. The base loops
  ``status(owner, logs=False)``; subclasses answer from memory in one pass.
- ``unpublish(owner, reason=None)``: stop serving it; answer the ``unpublished`` app.
- ``list_apps()``: every app that is not ``unpublished``, without logs (``logs`` is
  ``[]``: reading thousands of logs for a list costs too much; ``status`` has them).
  Its cost follows the classroom; ``statuses`` follows the owners asked about.

Callers check names and commits; publishers may assume ``owner`` is a valid user name
and ``commit`` 40 hex digits, and raise ``imad_extension.errors.UpstreamError`` when
the backend (proxy, cluster) fails.

Parts: ``AppStatus``, ``AppRecord``, ``utcnow``, ``Publisher``, ``publisher_for``.
"""

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime

from traitlets import Dict
from traitlets.config import LoggingConfigurable

from ..names import app_slug
from ..settings import app_host, app_url


class AppStatus(enum.StrEnum):
    """Where an app is: the ``status`` field of an app."""

    UNPUBLISHED = "unpublished"  # nothing runs; the host answers "No app here"
    STARTING = "starting"  # the latest commit is being fetched / installed / started
    LIVE = "live"  # the latest commit answers HTTP and is served
    CRASHED = "crashed"  # the latest commit exited or never listened (see logs)


def utcnow() -> str:
    """Now, as the ISO-8601 UTC string apps use (second precision, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class AppRecord:
    """One app as the API shows it; ``to_json()`` is the app dict."""

    owner: str
    slug: str
    url: str
    status: str = AppStatus.UNPUBLISHED.value
    commit: str | None = None
    logs: list[str] = field(default_factory=list)
    published_at: str | None = None
    updated_at: str | None = None
    serving: str | None = None

    def to_json(self) -> dict:
        # Built field by field, not with ``dataclasses.asdict`` (a recursive deep copy
        # that costs more than the status rules when a cohort's apps are listed).
        return {
            "owner": self.owner,
            "slug": self.slug,
            "url": self.url,
            "status": AppStatus(self.status).value,
            "commit": self.commit,
            "logs": list(self.logs),
            "published_at": self.published_at,
            "updated_at": self.updated_at,
            "serving": self.serving,
        }


class Publisher(LoggingConfigurable):
    """Base class; see the module docstring for what subclasses override.

    ``settings`` is the classroom settings dict (``imad_extension.settings``); the base
    only uses it to name hosts and URLs (``app_record``, ``app_dict``). Each owner's
    slug and URL are computed once and kept (settings do not change while it runs).
    """

    settings = Dict(help="The classroom settings (imad_extension.settings.load_settings()).")

    def __init__(self, settings: dict, **kwargs):
        super().__init__(settings=settings, **kwargs)
        self._names: dict[str, tuple[str, str]] = {}  # owner -> (slug, url)

    # --- helpers for subclasses ------------------------------------------------------------

    def _slug_and_url(self, owner: str) -> tuple[str, str]:
        names = self._names.get(owner)
        if names is None:
            slug = app_slug(owner, self.settings["apps"]["reserved"])
            names = self._names[owner] = (slug, app_url(self.settings, owner))
        return names

    def app_slug(self, owner: str) -> str:
        return self._slug_and_url(owner)[0]

    def app_host(self, owner: str) -> str:
        """``<slug>.<apps-domain>``: the host name visitors use."""
        return app_host(self.settings, owner)

    def app_record(self, owner: str, **fields) -> AppRecord:
        """An ``AppRecord`` for ``owner`` with its slug and URL filled in."""
        slug, url = self._slug_and_url(owner)
        return AppRecord(owner=owner, slug=slug, url=url, **fields)

    def app_dict(
        self,
        owner: str,
        status: str = AppStatus.UNPUBLISHED.value,
        commit: str | None = None,
        logs: list[str] | None = None,
        published_at: str | None = None,
        updated_at: str | None = None,
        serving: str | None = None,
    ) -> dict:
        """``app_record(owner, ...).to_json()`` without the record: the hot path of
        ``statuses`` and ``list_apps``. ``status`` is an ``AppStatus`` value."""
        slug, url = self._slug_and_url(owner)
        return {
            "owner": owner, "slug": slug, "url": url, "status": status, "commit": commit,
            "logs": logs if logs is not None else [], "published_at": published_at,
            "updated_at": updated_at, "serving": serving,
        }  # fmt: skip

    # --- the interface ---------------------------------------------------------------------

    async def start(self):
        """Get ready to serve: connect to the backend, adopt what already runs."""

    async def stop(self):
        """Let go of the backend (connections, tasks); published apps keep running."""

    async def publish(
        self, owner: str, commit: str, repo_url: str, wait: float | None = None
    ) -> dict:
        raise NotImplementedError

    async def status(self, owner: str, logs: bool = True) -> dict:
        raise NotImplementedError

    async def statuses(self, owners) -> list[dict]:
        """The apps of ``owners``, in order, without logs (override to answer in one pass)."""
        return [await self.status(owner, logs=False) for owner in owners]

    async def unpublish(self, owner: str, reason: str | None = None) -> dict:
        raise NotImplementedError

    async def list_apps(self) -> list[dict]:
        raise NotImplementedError


def publisher_for(settings: dict, **kwargs) -> Publisher:
    """The publisher the settings ask for (``apps.publisher``), not yet started."""
    kind = settings["apps"]["publisher"]
    if kind == "local":
        from .local import LocalPublisher

        return LocalPublisher(settings, **kwargs)
    if kind == "kubernetes":
        from .kubernetes import KubernetesPublisher

        return KubernetesPublisher(settings, **kwargs)
    raise ValueError(f"unknown apps.publisher {kind!r}")
