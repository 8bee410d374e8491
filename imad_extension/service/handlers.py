"""HTTP handlers of the classroom service API (docs/api.md): thin over ``core.AppsAPI``.

Every API handler authenticates the caller through the hub (``HubAuth``/``HubOAuth``:
the ``Authorization: token ...`` header, or the service's OAuth cookie), requires the
service's access scope (``access:services!service=imad``, from
``JUPYTERHUB_OAUTH_ACCESS_SCOPES``), and answers JSON; errors are
``ImadError.to_json()`` with their status. ``HealthHandler`` alone is open.

Parts: ``ApiHandler`` (base), ``AppsHandler``, ``AppHandler``, ``HealthHandler``,
``api_handlers(prefix)``.
"""

import json
import logging

from tornado import web

from ..errors import BadRequest, Forbidden, ImadError, Unauthorized

log = logging.getLogger("imad.service")


class ApiHandler(web.RequestHandler):
    """JSON in, JSON out, hub-authenticated; ``self.caller`` is the hub model."""

    caller: dict

    @property
    def hub_auth(self):
        return self.settings["hub_auth"]

    @property
    def apps(self):
        return self.settings["imad_apps"]

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    async def prepare(self):
        model = await self.hub_auth.get_user(self, sync=False)
        if not model:
            raise Unauthorized(
                "Authenticate with a JupyterHub token: 'Authorization: token <token>'."
            )
        required = self.hub_auth.access_scopes
        if required and not self.hub_auth.check_scopes(required, model):
            raise Forbidden(
                f"This token may not use the classroom service (it needs {', '.join(sorted(required))})."
            )
        self.caller = model

    def json_body(self):
        """The request's JSON body; None when empty."""
        if not self.request.body or not self.request.body.strip():
            return None
        try:
            return json.loads(self.request.body)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"The body is not valid JSON: {e}") from None

    def write_json(self, data, status=200):
        self.set_status(status)
        self.finish(json.dumps(data))

    def log_exception(self, typ, value, tb):
        if isinstance(value, ImadError):
            log.info(
                "%s %s -> %s: %s",
                self.request.method,
                self.request.path,
                value.status,
                value.message,
            )
        else:
            super().log_exception(typ, value, tb)

    def write_error(self, status_code, **kwargs):
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, ImadError):
            self.set_status(error.status)
            body = error.to_json()
        else:
            message = getattr(error, "log_message", None) or self._reason
            reason = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(
                status_code, "error"
            )
            body = {"error": reason, "message": message, "status": status_code}
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body))


class AppsHandler(ApiHandler):
    async def get(self):
        self.write_json({"apps": await self.apps.list_apps(self.caller)})


class AppHandler(ApiHandler):
    async def get(self, owner):
        self.write_json(await self.apps.get_app(self.caller, owner))

    async def post(self, owner):
        self.write_json(await self.apps.publish(self.caller, owner, self.json_body()))

    async def delete(self, owner):
        self.write_json(await self.apps.unpublish(self.caller, owner, self.json_body()))


class HealthHandler(web.RequestHandler):
    """Unauthenticated readiness: ``{"ok": true}``."""

    def get(self):
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({"ok": True}))


def api_handlers(prefix: str) -> list:
    """The route table under ``prefix`` (``/services/imad/``)."""
    return [
        (prefix + "health", HealthHandler),
        (prefix + "api/apps", AppsHandler),
        (prefix + r"api/apps/([^/]+)", AppHandler),
    ]
