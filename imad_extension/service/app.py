"""The classroom service's tornado application and its process.

``make_app(settings, hub_auth=None, publisher=None)`` builds the ``tornado.web.Application``
(tests and the dashboard add handlers to it); ``serve(settings)`` is what
``python -m imad_extension.service`` runs under JupyterHub: start the publisher (which
adopts the apps that kept running), listen on ``service.port``, and on SIGTERM/SIGINT
stop listening and let the publisher go, leaving the apps running.

Environment (set by JupyterHub for a managed service): ``JUPYTERHUB_API_TOKEN``,
``JUPYTERHUB_API_URL``, ``JUPYTERHUB_SERVICE_PREFIX`` (``/services/imad/``),
``JUPYTERHUB_OAUTH_ACCESS_SCOPES``, ``JUPYTERHUB_CLIENT_ID`` and
``JUPYTERHUB_OAUTH_CALLBACK_URL`` (then browsers log in through OAuth), and
``IMAD_SETTINGS`` (the classroom settings).

Parts: ``service_prefix``, ``default_hub_auth``, ``make_app``, ``serve``, ``main``.
"""

import asyncio
import logging
import os
import secrets
import signal
from pathlib import Path

from jupyterhub.services.auth import HubAuth, HubOAuth, HubOAuthCallbackHandler
from tornado import web

from ..publisher import publisher_for
from ..roster_sync import HubAPI
from ..settings import load_settings
from .core import AppsAPI
from .dashboard import dashboard_handlers
from .handlers import api_handlers

log = logging.getLogger("imad.service")
# how long the service trusts the hub's answer about a token (seconds)
AUTH_CACHE_SECONDS = 60


def service_prefix(settings: dict) -> str:
    prefix = (
        os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or f"/services/{settings['service']['name']}/"
    )
    return prefix if prefix.endswith("/") else prefix + "/"


def default_hub_auth(settings: dict) -> HubAuth:
    """``HubOAuth`` when the hub gave this service an OAuth client, else ``HubAuth``."""
    kwargs = {"cache_max_age": AUTH_CACHE_SECONDS}
    if os.environ.get("JUPYTERHUB_CLIENT_ID") and os.environ.get("JUPYTERHUB_OAUTH_CALLBACK_URL"):
        return HubOAuth(**kwargs)
    return HubAuth(**kwargs)


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    """The OAuth callback, using the application's ``hub_auth``."""

    @property
    def hub_auth(self):
        return self.settings["hub_auth"]


def _cookie_secret(settings: dict) -> bytes:
    """A secret for the OAuth cookie, made once into the state dir, so restarts keep logins."""
    path = Path(settings["state_dir"]) / "imad-service-cookie-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def make_app(settings: dict, hub_auth: HubAuth | None = None, publisher=None) -> web.Application:
    """The service's application. ``publisher`` must be started by the caller (``serve`` does)."""
    hub_auth = hub_auth or default_hub_auth(settings)
    publisher = publisher or publisher_for(settings)
    hub = HubAPI(hub_auth.api_url, hub_auth.api_token) if hub_auth.api_token else None
    prefix = service_prefix(settings)
    handlers = api_handlers(prefix)
    if isinstance(hub_auth, HubOAuth):
        handlers.append((prefix + "oauth_callback", OAuthCallbackHandler))
    handlers += dashboard_handlers(settings, hub_auth, publisher, hub=hub, prefix=prefix)
    return web.Application(
        handlers,
        hub_auth=hub_auth,
        imad_settings=settings,
        imad_publisher=publisher,
        imad_apps=AppsAPI(settings, publisher, hub=hub),
        imad_prefix=prefix,
        cookie_secret=_cookie_secret(settings),
        xsrf_cookies=False,  # token requests need none; HubOAuth checks cookie requests itself
    )


async def serve(settings: dict | None = None):
    settings = settings or load_settings()
    publisher = publisher_for(settings, log=logging.getLogger("imad.publisher"))
    await publisher.start()
    app = make_app(settings, publisher=publisher)
    address = "127.0.0.1" if settings["mode"] == "local" else "0.0.0.0"
    port = settings["service"]["port"]
    server = app.listen(port, address, xheaders=True)
    log.info("IMAD classroom service at http://%s:%d%s", address, port, app.settings["imad_prefix"])
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("Stopping the classroom service; published apps keep running")
    server.stop()
    await publisher.stop()


def main():
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname).1s %(asctime)s %(name)s] %(message)s"
    )
    asyncio.run(serve())
