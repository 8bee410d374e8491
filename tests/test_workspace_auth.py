"""Every route of the workspace API refuses requests without credentials.

Walks the tornado application's routing table (not just our ``ROUTES`` list), so a
handler added anywhere under ``imad/api`` without ``@tornado.web.authenticated`` fails.
"""

# pytest fixtures are imported by name from workspace_helpers:
# ruff: noqa: F401, F811

import pytest
import tornado.web
from tornado.routing import Rule

from imad_extension.workspace.handlers import NAMESPACE, ROUTES

from .workspace_helpers import (
    app_dir,
    bare_repo,
    jp_asyncio_loop,
    jp_server_config,
    wait_ready,
    workspace_config,
    workspace_overrides,
)

VERBS = ("get", "post", "put", "patch", "delete")

pytestmark = pytest.mark.timeout(60)


def _rules(router):
    for rule in getattr(router, "rules", []):
        yield rule
        yield from _rules(rule.target)


def imad_routes(web_app):
    """(url regex, handler class) of every rule under imad/api."""
    found = []
    for rule in _rules(web_app.default_router):
        if not isinstance(rule, Rule) or not isinstance(rule.target, type):
            continue
        pattern = getattr(rule.matcher, "regex", None)
        if pattern is not None and NAMESPACE in pattern.pattern:
            found.append((pattern.pattern, rule.target))
    return found


def verbs(handler):
    return [v for v in VERBS if getattr(handler, v) is not getattr(tornado.web.RequestHandler, v)]


async def test_every_verb_needs_credentials(
    jp_serverapp, http_server_client, jp_base_url, jp_fetch
):
    routes = imad_routes(jp_serverapp.web_app)
    assert {h for _, h in routes} == {h for _, h in ROUTES}  # the table is the whole API
    checked = 0
    for path, handler in ROUTES:
        for verb in verbs(handler):
            method = verb.upper()
            response = await http_server_client.fetch(
                f"{jp_base_url}{NAMESPACE}/{path}",
                method=method,
                body=b"{}" if method in ("POST", "PUT", "PATCH") else None,
                raise_error=False,
                follow_redirects=False,
            )
            assert response.code in (401, 403), f"{method} {path}: {response.code}"
            checked += 1
    assert checked == 5  # GET workspace, POST commit, POST publish, GET app, DELETE app
    assert (await wait_ready(jp_fetch))["state"] == "ready"  # (the clone ends in the test)


def test_every_verb_is_decorated():
    """Not only refused by the server's default: each verb says so itself."""
    wrapper = tornado.web.authenticated(lambda self: None).__code__
    for _path, handler in ROUTES:
        for verb in verbs(handler):
            method = getattr(handler, verb)
            # every function the decorator makes shares its inner wrapper's code
            assert getattr(method, "__code__", None) is wrapper, (
                f"{handler.__name__}.{verb} is not @tornado.web.authenticated"
            )


async def test_wrong_token_is_refused(jp_serverapp, http_server_client, jp_base_url, jp_fetch):
    response = await http_server_client.fetch(
        f"{jp_base_url}{NAMESPACE}/workspace",
        headers={"Authorization": "token not-the-token"},
        raise_error=False,
    )
    assert response.code in (401, 403)
    await wait_ready(jp_fetch)
