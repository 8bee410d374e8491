"""configurable-http-proxy for published apps: a small async client of its REST API,
and how to start one that routes by host name.

The apps proxy is started once with ``--host-routing`` (a route ``/<host>`` serves
every path of that host), then only changed through its REST API, so adding, moving or
removing one app's route never disturbs the others. Requests for a host without a route
get ``errorpages/404.html``; a route whose target does not answer gets ``503.html``.

Parts: ``ProxyClient`` (``ping``, ``routes``, ``add_route``, ``delete_route``,
``close``), ``proxy_argv``, ``ERROR_PAGES``.
"""

import json
import shlex
from pathlib import Path

import aiohttp

from ..errors import UpstreamError

ERROR_PAGES = Path(__file__).resolve().parent / "errorpages"


def proxy_argv(command, *, ip, port, api_port, error_path=ERROR_PAGES, extra=()):
    """The command line of an apps proxy: public ``ip:port``, API on 127.0.0.1:``api_port``.

    ``command`` is the configurable-http-proxy executable, a string (split like a shell
    would) or a list. The API token goes in the environment (``CONFIGPROXY_AUTH_TOKEN``).
    """
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    return [
        *argv,
        "--ip", ip,
        "--port", str(port),
        "--api-ip", "127.0.0.1",
        "--api-port", str(api_port),
        "--host-routing",
        "--error-path", str(error_path),
        "--log-level", "warn",
        *extra,
    ]  # fmt: skip


class ProxyClient:
    """Async client of configurable-http-proxy's REST API (``/api/routes``).

    ``api_url`` e.g. ``http://127.0.0.1:8082``; ``token`` is the proxy's
    ``CONFIGPROXY_AUTH_TOKEN``. Failures raise ``UpstreamError``.
    """

    def __init__(self, api_url: str, token: str, timeout: float = 5.0):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, headers={"Authorization": f"token {self.token}"}
            )
        return self._session

    async def close(self):
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, path: str, body=None, ok=(200, 201, 204)):
        url = f"{self.api_url}/api/routes{path}"
        data = None if body is None else json.dumps(body)
        try:
            async with self._client().request(method, url, data=data) as response:
                text = await response.text()
                if response.status not in ok:
                    raise UpstreamError(
                        f"The apps proxy answered {response.status} to {method} {path or '/'}: {text[:200]}"
                    )
                return response.status, text
        except aiohttp.ClientError as e:
            raise UpstreamError(f"The apps proxy at {self.api_url} did not answer: {e}") from e
        except TimeoutError as e:
            raise UpstreamError(f"The apps proxy at {self.api_url} timed out") from e

    async def ping(self) -> bool:
        """True when a proxy answers with our token; False when nothing listens.

        Raises ``UpstreamError`` when something else answers (e.g. a proxy with another
        token holds the port).
        """
        try:
            await self._request("GET", "", ok=(200,))
        except UpstreamError as e:
            if isinstance(e.__cause__, aiohttp.ClientConnectorError):
                return False
            raise
        return True

    async def routes(self) -> dict:
        """``{routespec: {"target": url, ...data}}`` for every route."""
        _, text = await self._request("GET", "", ok=(200,))
        return json.loads(text)

    async def add_route(self, routespec: str, target: str, **data):
        """Point ``routespec`` (``/<host>`` with host routing) at ``target``; replaces any."""
        await self._request("POST", routespec, {"target": target, **data})

    async def delete_route(self, routespec: str):
        """Remove ``routespec``; no error when there is none."""
        await self._request("DELETE", routespec, ok=(200, 204, 404))
