"""GitHub's rate limits: pace our writes, and wait out a "slow down" instead of failing.

GitHub's REST API has a primary limit (requests an hour, ``X-RateLimit-*`` headers) and
secondary limits (bursts, concurrency, and at most 80 content-creating requests a
minute per user). Its advice, followed here: make requests for one user serially; wait
at least a second between content-creating requests; when answered 403/429 with
``Retry-After``, wait that long; when the primary limit is used up, wait until
``X-RateLimit-Reset``; on a secondary limit without ``Retry-After``, wait at least a
minute; otherwise back off exponentially; never retry at once.

Parts: ``RetryPolicy``, ``retry_delay``, ``WritePacer``.
"""

import asyncio
import email.utils
import random
import time
from collections import deque
from dataclasses import dataclass

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504, 599})  # 599: tornado's "no answer"


@dataclass
class RetryPolicy:
    """How long to keep retrying, and how to space the retries (seconds)."""

    max_wait: float = 120.0  # total time one request may spend waiting to be retried
    base: float = 1.0  # first exponential backoff step
    cap: float = 60.0  # longest single backoff step
    secondary_min: float = 60.0  # wait after a secondary limit that gave no Retry-After
    jitter: float = 0.1  # up to +10% so that many workspaces do not retry in step


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - now)


def retry_delay(status: int, headers, message: str, attempt: int, policy: RetryPolicy, now=None):
    """Seconds to wait before retrying this answer, or ``None`` when it is final.

    ``headers`` is a case-insensitive mapping; ``message`` GitHub's error message;
    ``attempt`` how many retries were made already (0 for the first).
    """
    now = time.time() if now is None else now
    backoff = min(policy.cap, policy.base * 2**attempt)
    backoff *= 1 + random.uniform(0, policy.jitter)
    limited = status in (403, 429)
    after = _retry_after(headers.get("Retry-After"), now)
    if after is not None and (limited or status in TRANSIENT_STATUSES):
        return max(after, 0.0)
    message = (message or "").lower()
    if limited and headers.get("X-RateLimit-Remaining") == "0":
        reset = headers.get("X-RateLimit-Reset")
        if reset and reset.isdigit():
            return max(1.0, float(reset) - now + 1)
        return backoff
    if limited and ("secondary rate limit" in message or "abuse" in message):
        return max(policy.secondary_min, backoff)
    if status == 429 or status in TRANSIENT_STATUSES:
        return backoff
    return None


class WritePacer:
    """At most ``per_minute`` content-creating requests per key in any 60 s, spaced by
    at least ``min_interval`` s, one at a time (keys are per-token digests)."""

    def __init__(self, per_minute: int = 80, min_interval: float = 1.0, clock=time.monotonic):
        self.per_minute = per_minute
        self.min_interval = min_interval
        self.clock = clock
        self._sent: dict[str, deque] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _delay(self, key: str) -> float:
        now = self.clock()
        sent = self._sent.setdefault(key, deque())
        while sent and now - sent[0] >= 60:
            sent.popleft()
        delay = 0.0
        if sent:
            delay = max(delay, sent[-1] + self.min_interval - now)
        if len(sent) >= self.per_minute:
            delay = max(delay, sent[0] + 60 - now)
        return delay

    async def wait(self, key: str) -> float:
        """Wait for this key's turn; returns how long it waited."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        waited = 0.0
        async with lock:
            while (delay := self._delay(key)) > 0:
                await asyncio.sleep(delay)
                waited += delay
            self._sent[key].append(self.clock())
        return waited
