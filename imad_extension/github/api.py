"""A small async client for GitHub's REST API, for the calls IMAD makes.

``GitHubAPI.request`` sends one request with the student's token and answers
``(status, body)``; on its way it paces content-creating requests (``WritePacer``),
retries rate limits and transient failures after the delay ``retry_delay`` says (telling
the student "GitHub is busy, retrying" through ``on_retry``), and turns a 401 into
``Unauthorized`` (log in again). It never logs the token or a request's headers.

Why not PyGithub: it is synchronous (it would block the hub's event loop or need a
thread per request) and its built-in retries sleep where we cannot report progress or
bound the total wait. The fake GitHub's answers are checked against PyGithub's
recordings of real traffic, and PyGithub reads them in the tests, so the two agree.

Parts: ``GitHubAPI``.
"""

import asyncio
import hashlib
import json
import logging
import time

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from ..errors import RateLimited, Unauthorized, UpstreamError
from .ratelimit import WRITE_METHODS, RetryPolicy, WritePacer, retry_delay

LOGIN_AGAIN = (
    "Your GitHub login has expired or was revoked, so IMAD cannot reach your repository. "
    "Log out and log in again with GitHub (File > Log Out, then Sign in with GitHub)."
)


def token_key(token: str) -> str:
    """A digest naming a token in memory (pacing), never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class GitHubAPI:
    """Requests to ``api_url`` on behalf of the owner of ``token``."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        pacer: WritePacer | None = None,
        policy: RetryPolicy | None = None,
        on_retry=None,
        timeout: float = 20.0,
        log: logging.Logger | None = None,
    ):
        self.api_url = api_url.rstrip("/")
        self._token = token
        self.pacer = pacer or WritePacer()
        self.policy = policy or RetryPolicy()
        self.on_retry = on_retry  # called with a message for people before each wait
        self.timeout = timeout
        self.log = log or logging.getLogger(__name__)

    def __repr__(self):  # never show the token
        return f"<GitHubAPI {self.api_url}>"

    async def request(self, method: str, path: str, body: dict | None = None):
        """``(status, parsed JSON or None)`` once GitHub gives a final answer."""
        url = self.api_url + path
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "IMAD-Classroom",
            "Authorization": f"Bearer {self._token}",
        }
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        elif method in WRITE_METHODS:
            payload = ""
        deadline = time.monotonic() + self.policy.max_wait
        attempt = 0
        client = AsyncHTTPClient()
        while True:
            if method in WRITE_METHODS:
                await self.pacer.wait(token_key(self._token))
            response = await client.fetch(
                HTTPRequest(
                    url,
                    method=method,
                    headers=headers,
                    body=payload,
                    request_timeout=self.timeout,
                    connect_timeout=min(self.timeout, 10),
                ),
                raise_error=False,
            )
            status = response.code
            data = None
            if response.body:
                try:
                    data = json.loads(response.body)
                except ValueError:
                    data = None
            message = data.get("message", "") if isinstance(data, dict) else ""
            if status == 401:
                raise Unauthorized(LOGIN_AGAIN)
            delay = retry_delay(status, response.headers, message, attempt, self.policy)
            if delay is None:
                return status, data
            left = deadline - time.monotonic()
            if delay > left:
                self.log.warning(
                    "GitHub %s %s: %s (%s); not retrying: would wait %.0f s, %.0f s left",
                    method, path, status, message or response.reason, delay, max(left, 0),
                )  # fmt: skip
                if status in (403, 429):
                    raise RateLimited(
                        "GitHub is limiting how fast your account can make requests right "
                        f"now. IMAD waited and retried for {self.policy.max_wait:.0f} s; "
                        "try again in a few minutes.",
                        retry_after=round(delay),
                    )
                raise UpstreamError(
                    f"GitHub did not answer properly ({status} {message or response.reason}) "
                    "and kept failing when retried. Try again in a few minutes."
                )
            attempt += 1
            self.log.info(
                "GitHub %s %s: %s (%s); retry %d in %.1f s",
                method, path, status, message or response.reason, attempt, delay,
            )  # fmt: skip
            if self.on_retry is not None:
                self.on_retry(f"GitHub is busy, retrying in {max(1, round(delay))} s")
            await asyncio.sleep(delay)
