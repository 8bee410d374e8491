"""Client of the classroom service API (``/services/imad/api/``), as the workspace uses it.

The student's server calls the service with its own hub token
(``Authorization: token $JUPYTERHUB_API_TOKEN``); the service checks that the token's
owner may act on that app. See docs/api.md, "Classroom service API".

Errors are turned into ``ImadError``s the workspace API passes on: a 4xx answer keeps
its status and the service's message; a 401 (the service refused *this server's*
token, which logging in again in the browser would not fix), a 5xx, a non-JSON answer
or no answer at all become 502 ``UpstreamError`` with a message a student can act on.

Parts: ``ServiceClient``.
"""

import json
import logging
import os
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from ..errors import (
    BadRequest,
    Conflict,
    Forbidden,
    ImadError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UpstreamError,
)

_PASSED_ON = {
    400: BadRequest,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
}


class ServiceClient:
    """Calls ``<base_url>api/apps/<user>``; ``base_url`` may be any URL ending in ``/``."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout=90.0, log=None):
        self.base_url = base_url if not base_url or base_url.endswith("/") else base_url + "/"
        self._token = token
        self.timeout = timeout
        self.log = log or logging.getLogger(__name__)

    @property
    def token(self) -> str:
        # read at call time: the hub may hand the server a token after start
        return self._token or os.environ.get("JUPYTERHUB_API_TOKEN", "")

    def app_url(self, user: str) -> str:
        return f"{self.base_url}api/apps/{quote(user, safe='')}"

    async def publish(self, user: str, commit: str) -> dict:
        return await self._request("POST", self.app_url(user), {"commit": commit})

    async def get_app(self, user: str) -> dict:
        return await self._request("GET", self.app_url(user))

    async def unpublish(self, user: str) -> dict:
        return await self._request("DELETE", self.app_url(user))

    async def _request(self, method: str, url: str, body: dict | None = None) -> dict:
        if not self.base_url:
            raise UpstreamError(
                "Publishing is not configured for this workspace (no classroom service "
                "URL, IMAD_SERVICE_URL). Tell your instructor."
            )
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=json.dumps(body) if body is not None else None,
            allow_nonstandard_methods=True,  # DELETE without a body
            connect_timeout=min(10.0, self.timeout),
            request_timeout=self.timeout,
            follow_redirects=False,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except Exception as e:  # connection refused, DNS, TLS...
            self.log.warning("Classroom service %s %s unreachable: %s", method, url, e)
            raise UpstreamError(
                "The classroom service could not be reached "
                f"({type(e).__name__}: {e}). Try again in a minute; if it keeps "
                "failing, tell your instructor."
            ) from None
        if response.code == 599:  # tornado: timeout or connection failure
            self.log.warning("Classroom service %s %s failed: %s", method, url, response.error)
            raise UpstreamError(
                f"The classroom service did not answer ({response.error}). Try again in a "
                "minute; if it keeps failing, tell your instructor."
            )
        data = self._json(response)
        if 200 <= response.code < 300 and isinstance(data, dict):
            return data
        message = (data or {}).get("message") if isinstance(data, dict) else None
        self.log.warning(
            "Classroom service %s %s answered %s: %s", method, url, response.code, message
        )
        if response.code in _PASSED_ON:
            raise _PASSED_ON[response.code](
                message or f"The classroom service said {response.code}."
            )
        if response.code == 401:
            raise UpstreamError(
                "The classroom service refused this workspace's credentials "
                f"({message or '401'}). Restart your server from the hub's home page; "
                "if that does not help, tell your instructor."
            )
        if 400 <= response.code < 500:
            error = ImadError(message or f"The classroom service said {response.code}.")
            error.status = response.code
            raise error
        raise UpstreamError(
            "The classroom service failed"
            + (f": {message}" if message else f" (HTTP {response.code})")
            + ". Try again in a minute; if it keeps failing, tell your instructor."
        )

    @staticmethod
    def _json(response):
        try:
            return json.loads(response.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return None
