"""The classroom service's app API without HTTP: request bodies in, app dicts out.

``AppsAPI`` checks who may act (``service.auth.can_act_on``), checks request bodies and
commits, and drives the publisher. Every failure is an ``ImadError`` (the handlers turn
it into a JSON answer with its status). No tornado here.

- Owners are hub users: an unknown one is 404 (looked up through the hub API with the
  service's token, cached ``user_ttl`` seconds). A student asking about someone else
  gets 403 without any lookup, so user names do not leak.
- The repository URL a publish runs from comes from the repository host
  (``runtime_clone_url``), never from the caller. With the local host the commit must
  exist in the owner's bare repository (``git cat-file -e``), else 404.

Parts: ``COMMIT_RE``, ``MAX_WAIT``, ``DEFAULT_WAIT``, ``AppsAPI``.
"""

import asyncio
import os
import re
import time
from urllib.parse import quote

from ..audit import record as audit
from ..errors import BadRequest, Forbidden, ImadError, NotFound, UpstreamError
from ..names import USERNAME_RE
from ..repohost import repo_host_for
from .auth import can_act_on, may_act_on_others

COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
DEFAULT_WAIT = 10.0
MAX_WAIT = 60.0
MAX_REASON = 500


class AppsAPI:
    """``list_apps``, ``get_app``, ``publish``, ``unpublish`` for a caller (a hub model).

    ``hub`` is a ``roster_sync.HubAPI`` as the service (to look owners up); None trusts
    every well-formed name (tests of the core alone).
    """

    def __init__(self, settings: dict, publisher, hub=None, repo_host=None, user_ttl=30.0):
        self.settings = settings
        self.publisher = publisher
        self.hub = hub
        self._repo_host = repo_host
        self.user_ttl = user_ttl
        self._users: dict[str, tuple[float, dict | None]] = {}

    @property
    def repo_host(self):
        if self._repo_host is None:
            self._repo_host = repo_host_for(self.settings)
        return self._repo_host

    # --- who ---------------------------------------------------------------------------------

    async def user(self, name: str) -> dict | None:
        """The hub's model of user ``name`` (with ``groups``), or None when there is none."""
        if not USERNAME_RE.match(name or ""):
            return None
        if self.hub is None:
            return {"name": name, "groups": []}
        cached = self._users.get(name)
        if cached and time.monotonic() - cached[0] < self.user_ttl:
            return cached[1]
        try:
            model = await self.hub.request("GET", f"users/{quote(name, safe='')}")
        except UpstreamError as e:
            if getattr(e, "code", None) == 404:
                model = None
            else:
                raise UpstreamError(
                    f"Could not look up user {name!r} on the hub: {e.message}"
                ) from e
        self._users[name] = (time.monotonic(), model)
        return model

    async def authorize(self, caller: dict, owner: str, action: str):
        """Return when ``caller`` may do ``action`` on ``owner``'s app; else 404 or 403."""
        if caller.get("kind", "user") == "user" and caller.get("name") == owner:
            return
        if not may_act_on_others(caller):
            raise Forbidden(f"You may only act on your own app, not on {owner}'s.")
        model = await self.user(owner)
        if model is None:
            raise NotFound(f"There is no user named {owner!r}.")
        if not can_act_on(caller, owner, action, model.get("groups") or ()):
            raise Forbidden(f"You may not {action} {owner}'s app.")

    # --- the API -------------------------------------------------------------------------------

    async def list_apps(self, caller: dict) -> list[dict]:
        """The apps (not unpublished) that ``caller`` may see."""
        apps = await self.publisher.list_apps()
        if not may_act_on_others(caller):
            return [a for a in apps if a["owner"] == caller.get("name")]
        visible = []
        for app in apps:
            try:
                await self.authorize(caller, app["owner"], "view")
            except (Forbidden, NotFound):
                continue
            visible.append(app)
        return visible

    async def get_app(self, caller: dict, owner: str) -> dict:
        await self.authorize(caller, owner, "view")
        return await self.publisher.status(owner)

    async def publish(self, caller: dict, owner: str, body) -> dict:
        commit, wait = self._publish_body(body)
        await self.authorize(caller, owner, "publish")
        repo_url = await self._check_commit(owner, commit)
        app = await self.publisher.publish(owner, commit, repo_url, wait=wait)
        audit(self.settings, caller.get("name", "?"), "publish", owner, commit=commit)
        return app

    async def unpublish(self, caller: dict, owner: str, body) -> dict:
        reason = self._unpublish_body(body)
        await self.authorize(caller, owner, "unpublish")
        app = await self.publisher.unpublish(owner, reason=reason)
        actor = caller.get("name", "?")
        action = "unpublish" if actor == owner else "takedown"
        audit(self.settings, actor, action, owner, **({"reason": reason} if reason else {}))
        return app

    # --- checks --------------------------------------------------------------------------------

    @staticmethod
    def _publish_body(body) -> tuple[str, float]:
        if not isinstance(body, dict):
            raise BadRequest('The body must be a JSON object like {"commit": "<40 hex digits>"}.')
        unknown = sorted(set(body) - {"commit", "wait"})
        if unknown:
            raise BadRequest(f"Unknown field(s) {', '.join(unknown)}: send commit and wait only.")
        commit = body.get("commit")
        if not isinstance(commit, str) or not COMMIT_RE.match(commit):
            raise BadRequest(
                f"commit must be a full commit id (40 lower-case hex digits), not {commit!r}."
            )
        wait = body.get("wait", DEFAULT_WAIT)
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not wait >= 0:
            raise BadRequest(f"wait must be a number of seconds from 0 to {MAX_WAIT:g}.")
        return commit, min(float(wait), MAX_WAIT)

    @staticmethod
    def _unpublish_body(body) -> str | None:
        if body is None:
            return None
        if not isinstance(body, dict):
            raise BadRequest('The body must be empty or a JSON object like {"reason": "..."}.')
        unknown = sorted(set(body) - {"reason"})
        if unknown:
            raise BadRequest(f"Unknown field(s) {', '.join(unknown)}: send reason only.")
        reason = body.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
            raise BadRequest(f"reason must be text of at most {MAX_REASON} characters.")
        return reason or None

    async def _check_commit(self, owner: str, commit: str) -> str:
        """The URL the runtime fetches ``owner``'s repository from, once ``commit`` is in it."""
        try:
            repo_url = self.repo_host.runtime_clone_url(owner)
        except ImadError:
            raise
        except Exception as e:
            raise UpstreamError(f"Could not find {owner}'s repository: {e}") from e
        if self.settings["repos"]["host"] != "local":
            return repo_url  # the runtime reports a missing commit in the app's logs
        if not os.path.isfile(os.path.join(repo_url, "HEAD")):
            raise NotFound(f"{owner} has no repository yet: it is made at their first login.")
        process = await asyncio.create_subprocess_exec(
            "git", "--git-dir", repo_url, "cat-file", "-e", f"{commit}^{{commit}}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        if await process.wait() != 0:
            raise NotFound(
                f"Commit {commit[:7]} is not in {owner}'s repository: commit and push it, then publish."
            )
        return repo_url
