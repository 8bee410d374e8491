"""HTTP handlers of the workspace API, ``<base_url>imad/api/`` (docs/api.md).

Thin: each verb parses JSON, calls ``Workspace`` (core.py) and writes JSON. One base
handler turns ``ImadError`` into the JSON error answer with its status. Every verb is
``@tornado.web.authenticated``: the hub (or the server's token) decides who gets in.

Parts: ``NAMESPACE``, ``ImadHandler``, ``WorkspaceHandler``, ``CommitHandler``,
``PublishHandler``, ``AppHandler``, ``ROUTES``, ``setup_handlers``.
"""

import json

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..errors import BadRequest, ImadError

NAMESPACE = "imad/api"
SETTINGS_KEY = "imad_workspace"


class ImadHandler(APIHandler):
    """Base: the ``Workspace``, JSON bodies, and ``ImadError`` -> JSON 4xx/5xx."""

    @property
    def workspace(self):
        return self.settings[SETTINGS_KEY]

    def fields(self, *names, allow_empty=False) -> dict:
        """``names`` from the JSON object body (absent ones as None); 400 if malformed."""
        raw = self.request.body or b""
        if not raw.strip():
            if allow_empty:
                return dict.fromkeys(names)
            raise BadRequest("The request needs a JSON object body.")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"The request body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        return {name: body.get(name) for name in names}

    async def respond(self, produce):
        """Write the result of ``await produce()``, or the ``ImadError`` it raised."""
        try:
            result = await produce()
        except ImadError as e:
            log = self.log.warning if e.status >= 500 or e.status == 409 else self.log.info
            log("imad %s %s -> %s: %s", self.request.method, self.request.path, e.status, e)
            self.set_status(e.status)
            self.finish(json.dumps(e.to_json()))
            return
        self.finish(json.dumps(result))


class WorkspaceHandler(ImadHandler):
    @tornado.web.authenticated
    async def get(self):
        fetch = self.get_argument("fetch", "0").lower() in ("1", "true", "yes")
        await self.respond(lambda: self.workspace.status(fetch=fetch))


class CommitHandler(ImadHandler):
    @tornado.web.authenticated
    async def post(self):
        await self.respond(lambda: self.workspace.commit(**self.fields("message", "paths")))


class PublishHandler(ImadHandler):
    @tornado.web.authenticated
    async def post(self):
        await self.respond(
            lambda: self.workspace.publish(**self.fields("message", allow_empty=True))
        )


class AppHandler(ImadHandler):
    @tornado.web.authenticated
    async def get(self):
        await self.respond(self.workspace.app)

    @tornado.web.authenticated
    async def delete(self):
        await self.respond(self.workspace.unpublish)


# (path under NAMESPACE, handler): the whole API
ROUTES = [
    ("workspace", WorkspaceHandler),
    ("commit", CommitHandler),
    ("publish", PublishHandler),
    ("app", AppHandler),
]


def setup_handlers(web_app):
    """Add the workspace API to the Jupyter server's tornado application."""
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$",
        [(url_path_join(base_url, NAMESPACE, path), handler) for path, handler in ROUTES],
    )
