"""The classroom dashboard: pages and JSON API for instructors and TAs.

Pages (HubOAuth login; the hub's own stylesheet) under the service prefix
(``/services/imad/``):

- ````: cohorts with counts (students, workspaces running, apps live);
- ``cohorts/<C>``: the cohort's students (repository, last commit, workspace with
  Open / Start / Stop, app with its URL, last publish, logs, Unpublish) with sorting,
  filters, search and pagination;
- ``cohorts/<C>/gallery``: every live app of the cohort;
- ``audit``: the audit log (instructors); ``roster``: roster upload (instructors);
- ``open/<user>``: records "opened whose workspace" and redirects to ``/user/<user>/``.

JSON API (same data; documented in docs/api.md, "Dashboard API"):

- ``GET api/cohorts``; ``GET api/cohorts/<C>/students?offset&limit&sort&order&workspace&app&q``;
  ``GET api/cohorts/<C>/gallery?offset&limit``; ``GET api/students/<user>``;
- ``POST``/``DELETE api/students/<user>/server``: start / stop a workspace *as the
  caller* (their token goes to the hub, so JupyterHub's RBAC decides);
- ``GET api/audit?offset&limit&action&actor&target`` (scope ``custom:imad:audit``);
- ``POST api/roster?dry_run=1`` (CSV body or a multipart ``file``; scope
  ``custom:imad:roster``).

Who sees what: ``custom:imad:dashboard`` (instructors: every cohort) or
``custom:imad:dashboard!group=C`` (TAs of C); a student sees only their own
``api/students/<self>``. Handlers are thin: data comes from ``DashboardData``.

Parts: ``dashboard_handlers`` (the route table app.py includes), the handlers.
"""

import json
from pathlib import Path
from urllib.parse import quote, urlencode

from tornado import template, web

from ..audit import audit_log_for
from ..errors import BadRequest, Forbidden, ImadError, Unauthorized
from ..names import validate_username
from ..roster import saved_roster_path
from ..roster_csv import parse_roster_csv
from ..roster_sync import HubAPI, HubAPIError, save_roster, sync_roster
from .dashboard_data import (
    APP_STATES,
    SORT_KEYS,
    WORKSPACE_STATES,
    DashboardData,
    has_scope,
    visible_cohorts,
)

try:  # the service authenticates through the hub; tests may run without it
    from jupyterhub.services.auth import HubOAuth, HubOAuthenticated, UserNotAllowed
except ImportError:  # pragma: no cover
    HubOAuthenticated = object

HERE = Path(__file__).resolve().parent
TEMPLATES = template.Loader(str(HERE / "templates"))
PAGE_SIZES = (25, 50, 100, 200)


class DashboardHandler(HubOAuthenticated, web.RequestHandler):
    """Base: the caller (from the hub), access checks, errors as JSON or a page."""

    api = False  # JSON handlers: 401 instead of a redirect to the login

    def initialize(self, ctx: dict):
        self.ctx = ctx
        self.data: DashboardData = ctx["data"]
        if ctx.get("hub_auth") is not None:
            self.hub_auth = ctx["hub_auth"]

    async def prepare(self):
        """Identify the caller once, asynchronously (the mixin's lookup is blocking)."""
        self._hub_auth_user_cache = None
        model = await self.hub_auth.get_user(self, sync=False)
        if model:
            try:
                self._hub_auth_user_cache = self.check_hub_user(model)
            except UserNotAllowed:
                self._hub_auth_user_cache = None
        if self._hub_auth_user_cache is None:
            if self.api or self.request.method != "GET":
                raise Unauthorized("Log in to the hub, or send Authorization: token <token>.")
            self.redirect(self.get_login_url())
            return

    @property
    def caller(self) -> dict:
        return self.current_user

    def caller_token(self) -> str:
        return self.hub_auth.get_token(self) or ""

    # --- access ------------------------------------------------------------------------

    def visible(self) -> set | None:
        return visible_cohorts(self.caller)

    def require_dashboard(self, cohort: str | None = None):
        visible = self.visible()
        if visible is not None and (not visible or (cohort is not None and cohort not in visible)):
            raise Forbidden(
                "The classroom dashboard is for instructors and the TAs of this cohort."
                if cohort
                else "The classroom dashboard is for instructors and TAs."
            )

    async def require_student_access(self, name: str) -> str | None:
        """The caller may see / act on ``name`` (themselves, their TA, an instructor).
        Answers ``name``'s cohort."""
        validate_username(name)
        cohort = await self.data.cohort_of(name)
        if self.caller["name"] == name:
            return cohort
        visible = self.visible()
        if visible is None or (cohort is not None and cohort in visible):
            return cohort
        raise Forbidden(f"You may not act on {name}'s workspace.")

    # --- answers -----------------------------------------------------------------------

    def write_json(self, body, status: int = 200):
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def render_page(self, name: str, **kw):
        prefix = self.ctx["prefix"]
        page = TEMPLATES.load(name).generate(
            prefix=prefix,
            hub_prefix=self.ctx["hub_prefix"],
            base_url=self.ctx["base_url"],
            static=lambda path: f"{prefix}dashboard-static/{path}",
            user=self.caller,
            can_audit=has_scope(self.caller, "custom:imad:audit"),
            can_roster=has_scope(self.caller, "custom:imad:roster"),
            xsrf=self.xsrf_token.decode()
            if isinstance(self.xsrf_token, bytes)
            else self.xsrf_token,
            q=quote,
            **kw,
        )
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(page)

    def write_error(self, status_code, **kwargs):
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ImadError):
            body = error.to_json()
        elif isinstance(error, web.HTTPError):
            body = {"error": "http", "message": error.log_message or self._reason,
                    "status": status_code}  # fmt: skip
        else:
            body = {"error": "error", "message": "Internal error (see the service log).",
                    "status": status_code}  # fmt: skip
        if self.api or not self.current_user:
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json.dumps(body))
        else:
            self.render_page("error.html", status=status_code, message=body["message"])

    def _handle_request_exception(self, e):
        if isinstance(e, ImadError):
            self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


class ApiHandler(DashboardHandler):
    api = True

    def check_xsrf_cookie(self):
        # token-authenticated calls skip xsrf (the hub's rule); cookie calls need it
        if self.request.headers.get("Authorization"):
            return
        return super().check_xsrf_cookie()


# --- pages ------------------------------------------------------------------------------


class CohortsPage(DashboardHandler):
    async def get(self):
        self.require_dashboard()
        self.render_page("cohorts.html", cohorts=await self.data.cohorts(self.visible()))


def _query_args(handler) -> dict:
    return {
        "offset": handler.get_argument("offset", "0"),
        "limit": handler.get_argument("limit", "50"),
        "sort": handler.get_argument("sort", "name"),
        "order": handler.get_argument("order", "asc"),
        "workspace": handler.get_argument("workspace", ""),
        "app": handler.get_argument("app", ""),
        "q": handler.get_argument("q", "")[:100],
    }


class CohortPage(DashboardHandler):
    async def get(self, cohort):
        self.require_dashboard(cohort)
        args = _query_args(self)
        page = await self.data.students(cohort, **args)

        def link(**change):
            merged = {**args, **change}
            kept = {k: v for k, v in merged.items() if v not in ("", None)}
            return f"{self.ctx['prefix']}cohorts/{quote(cohort)}?{urlencode(kept)}"

        self.render_page(
            "cohort.html",
            cohort=cohort,
            page=page,
            args=args,
            link=link,
            sort_keys=SORT_KEYS,
            workspace_states=WORKSPACE_STATES,
            app_states=APP_STATES,
            page_sizes=PAGE_SIZES,
        )


class GalleryPage(DashboardHandler):
    async def get(self, cohort):
        self.require_dashboard(cohort)
        offset = self.get_argument("offset", "0")
        gallery = await self.data.gallery(cohort, offset=offset, limit=48)
        self.render_page("gallery.html", cohort=cohort, gallery=gallery)


class AuditPage(DashboardHandler):
    def get(self):
        if not has_scope(self.caller, "custom:imad:audit"):
            raise Forbidden("The audit log is for instructors.")
        page = audit_log_for(self.ctx["settings"]).page(
            offset=self.get_argument("offset", "0"),
            limit=self.get_argument("limit", "50"),
            action=self.get_argument("action", "") or None,
            actor=self.get_argument("actor", "") or None,
            target=self.get_argument("target", "") or None,
        )
        self.render_page("audit.html", page=page, action=self.get_argument("action", ""))


class RosterPage(DashboardHandler):
    async def get(self):
        if not has_scope(self.caller, "custom:imad:roster"):
            raise Forbidden("Importing the roster is for instructors.")
        roster = await self.data.roster()
        self.render_page("roster.html", roster=roster)


class OpenWorkspace(DashboardHandler):
    """Record that a TA or instructor opened a student's workspace, then go there."""

    async def get(self, name):
        cohort = await self.require_student_access(name)
        if self.caller["name"] != name:
            audit_log_for(self.ctx["settings"]).record(
                self.caller["name"], "open-workspace", name, cohort=cohort
            )
        self.redirect(f"{self.ctx['base_url']}user/{quote(name)}/")


# --- JSON API ---------------------------------------------------------------------------


class CohortsAPI(ApiHandler):
    async def get(self):
        self.require_dashboard()
        self.write_json({"cohorts": await self.data.cohorts(self.visible())})


class StudentsAPI(ApiHandler):
    async def get(self, cohort):
        self.require_dashboard(cohort)
        self.write_json(await self.data.students(cohort, **_query_args(self)))


class GalleryAPI(ApiHandler):
    async def get(self, cohort):
        self.require_dashboard(cohort)
        self.write_json(
            await self.data.gallery(
                cohort,
                offset=self.get_argument("offset", "0"),
                limit=self.get_argument("limit", "48"),
            )
        )


class StudentAPI(ApiHandler):
    async def get(self, name):
        await self.require_student_access(name)
        self.write_json(await self.data.student(name))


class ServerAPI(ApiHandler):
    """Start or stop a workspace as the caller: the hub checks ``servers``/``admin:servers``."""

    async def _act(self, name, method, action):
        validate_username(name)
        cohort = await self.data.cohort_of(name)
        hub = HubAPI(self.ctx["hub_api_url"], self.caller_token())
        try:
            await hub.request(method, f"users/{quote(name)}/server")
        except HubAPIError as e:
            if e.code in (401, 403, 404):
                verb = action.split("-")[0]
                raise Forbidden(f"The hub does not let you {verb} {name}'s workspace.") from None
            if e.code != 400:  # 400: already running / not running
                raise
        self.data.invalidate()
        if self.caller["name"] != name:
            audit_log_for(self.ctx["settings"]).record(
                self.caller["name"], action, name, cohort=cohort
            )
        try:
            await self.require_student_access(name)
        except Forbidden:  # the hub let them (e.g. a hub admin) but the dashboard shows nothing
            self.write_json({"name": name})
            return
        self.write_json(await self.data.student(name))

    async def post(self, name):
        await self._act(name, "POST", "start-workspace")

    async def delete(self, name):
        await self._act(name, "DELETE", "stop-workspace")


class AuditAPI(ApiHandler):
    def get(self):
        if not has_scope(self.caller, "custom:imad:audit"):
            raise Forbidden("The audit log is for instructors (scope custom:imad:audit).")
        try:
            page = audit_log_for(self.ctx["settings"]).page(
                offset=self.get_argument("offset", "0"),
                limit=self.get_argument("limit", "50"),
                action=self.get_argument("action", "") or None,
                actor=self.get_argument("actor", "") or None,
                target=self.get_argument("target", "") or None,
            )
        except ValueError:
            raise BadRequest("offset and limit are integers.") from None
        self.write_json(page)


class RosterAPI(ApiHandler):
    """Import a roster CSV: all rows checked first; applied through the hub API."""

    async def get(self):
        if not has_scope(self.caller, "custom:imad:roster"):
            raise Forbidden("The roster is for instructors (scope custom:imad:roster).")
        roster = await self.data.roster()
        self.write_json({"cohorts": {n: {"students": c.students, "tas": c.tas}
                                     for n, c in roster.cohorts.items()}})  # fmt: skip

    async def post(self):
        if not has_scope(self.caller, "custom:imad:roster"):
            raise Forbidden("Importing the roster is for instructors (scope custom:imad:roster).")
        files = self.request.files.get("file")
        raw = files[0]["body"] if files else self.request.body
        if len(raw) > 10 * 1024 * 1024:
            raise BadRequest("The roster file is larger than 10 MB.")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadRequest("The roster file is not UTF-8 text.") from None
        if not text.strip():
            raise BadRequest("The roster file is empty.")
        roster = parse_roster_csv(text, files[0]["filename"] if files else "roster")
        dry_run = self.get_argument("dry_run", "") in ("1", "true", "yes", "on")
        settings = self.ctx["settings"]
        instructors = set(settings["roster"]["instructors"])
        result = await sync_roster(
            self.ctx["service_hub"], roster, dry_run=dry_run,
            prune=self.get_argument("prune", "") in ("1", "true", "yes", "on"),
            protect=instructors | {self.caller["name"]},
        )  # fmt: skip
        self.data.invalidate()
        if not dry_run:
            roster.instructors = sorted(instructors)
            try:
                result.saved_to = save_roster(roster, saved_roster_path(settings))
            except OSError as e:
                result.notes.append(f"not saved for the next hub start: {e}")
            if result.changed:
                audit_log_for(settings).record(
                    self.caller["name"], "roster-import", None, source="dashboard",
                    summary=result.lines()[:50],
                )  # fmt: skip
        self.write_json(result.to_json())


class StaticHandler(web.StaticFileHandler):
    pass


def dashboard_handlers(
    settings: dict, hub_auth=None, publisher=None, hub=None, prefix=None
) -> list:
    """The dashboard's routes, for the classroom service's tornado application.

    Include them in the application (``handlers += dashboard_handlers(...)``).
    ``hub_auth``: the service's ``HubOAuth`` (default: one from the environment);
    ``publisher``: the running publisher (app states); ``hub``: a ``HubAPI`` as the
    service (default: ``$JUPYTERHUB_API_URL`` + ``$JUPYTERHUB_API_TOKEN``); ``prefix``:
    the service prefix (default ``$JUPYTERHUB_SERVICE_PREFIX``). Without a hub (no
    ``hub`` and no ``$JUPYTERHUB_API_TOKEN``) there is no dashboard: ``[]``.
    """
    import os

    prefix = prefix or os.environ.get(
        "JUPYTERHUB_SERVICE_PREFIX", f"/services/{settings['service']['name']}/"
    )
    base_url = os.environ.get("JUPYTERHUB_BASE_URL", settings["hub"]["base_url"])
    if hub is None:
        if not os.environ.get("JUPYTERHUB_API_TOKEN"):
            return []  # no hub to ask: no dashboard (e.g. tests of the apps API alone)
        hub = HubAPI.from_env()
    if hub_auth is None:
        hub_auth = HubOAuth(api_token=hub.token, cache_max_age=60)
    ctx = {
        "settings": settings,
        "hub_auth": hub_auth,
        "data": DashboardData(settings, hub, publisher),
        "service_hub": hub,
        "hub_api_url": hub.api_url,
        "prefix": prefix,
        "base_url": base_url,
        "hub_prefix": base_url + "hub/",
    }
    name = r"([a-z0-9][a-z0-9._-]{0,63})"
    cohort = r"([a-z0-9][a-z0-9._-]{0,63})"
    routes = [
        (r"", CohortsPage),
        (rf"cohorts/{cohort}", CohortPage),
        (rf"cohorts/{cohort}/gallery", GalleryPage),
        (r"audit", AuditPage),
        (r"roster", RosterPage),
        (rf"open/{name}/?", OpenWorkspace),
        (r"api/cohorts", CohortsAPI),
        (rf"api/cohorts/{cohort}/students", StudentsAPI),
        (rf"api/cohorts/{cohort}/gallery", GalleryAPI),
        (rf"api/students/{name}", StudentAPI),
        (rf"api/students/{name}/server", ServerAPI),
        (r"api/audit", AuditAPI),
        (r"api/roster", RosterAPI),
    ]
    handlers = [(prefix + path, cls, {"ctx": ctx}) for path, cls in routes]
    handlers.append(
        (prefix + r"dashboard-static/(.*)", StaticHandler, {"path": str(HERE / "static")})
    )
    return handlers
