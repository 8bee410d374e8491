"""Errors that are part of IMAD's interfaces.

Every failure a student, TA or instructor can meet has a class here with an HTTP
status and a message they can act on. Cores raise these; handlers (workspace
extension, classroom service) turn them into JSON error answers with that status.

Parts:
- ``ImadError``: base; ``status`` (HTTP code) and ``message`` (for people).
- ``BadRequest`` (400), ``Unauthorized`` (401), ``Forbidden`` (403),
  ``NotFound`` (404), ``Conflict`` (409), ``PayloadTooLarge`` (413),
  ``RateLimited`` (429), ``UpstreamError`` (502), ``NotReady`` (503).
"""


class ImadError(Exception):
    """Base class: a failure with an HTTP status and a message for people."""

    status = 500
    reason = "error"

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict:
        body = {"error": self.reason, "message": self.message, "status": self.status}
        if self.details:
            body["details"] = self.details
        return body


class BadRequest(ImadError):
    status = 400
    reason = "bad_request"


class Unauthorized(ImadError):
    status = 401
    reason = "unauthorized"


class Forbidden(ImadError):
    status = 403
    reason = "forbidden"


class NotFound(ImadError):
    status = 404
    reason = "not_found"


class Conflict(ImadError):
    status = 409
    reason = "conflict"


class PayloadTooLarge(ImadError):
    status = 413
    reason = "payload_too_large"


class RateLimited(ImadError):
    status = 429
    reason = "rate_limited"


class UpstreamError(ImadError):
    status = 502
    reason = "upstream_error"


class NotReady(ImadError):
    status = 503
    reason = "not_ready"
