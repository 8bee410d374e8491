"""Names: user names and the DNS labels (slugs) of their app hosts.

A student's app lives at ``<slug>.<apps-domain>``. ``app_slug`` makes that label:

- lower-case DNS-1123 label (``[a-z0-9]([-a-z0-9]*[a-z0-9])?``), at most 63 characters;
- never a reserved name (``www``, ``hub``, ``api``, ...: configurable);
- injective in practice: a name that is already a valid, unreserved label, and does
  not look like a hashed slug, maps to itself; every other name maps to a readable
  prefix plus ``-x`` and 12 hex digits of its SHA-256, so two names collide only if
  their 48-bit hashes do (about 1 in 10^7 for 10,000 students), and a hashed slug can
  never equal a name that mapped to itself (those never match ``-x<12 hex>$``).

Parts: ``DEFAULT_RESERVED``, ``USERNAME_RE``, ``validate_username``, ``app_slug``.
"""

import hashlib
import re

from .errors import BadRequest

DEFAULT_RESERVED = (
    "www", "hub", "api", "admin", "apps", "app", "mail", "smtp", "imap", "pop",
    "ftp", "ns", "ns1", "ns2", "dns", "static", "assets", "cdn", "status", "help",
    "support", "docs", "blog", "login", "auth", "oauth", "services", "imad",
    "localhost", "root", "kubernetes", "default",
)  # fmt: skip

# What JupyterHub user names we accept: GitHub logins and roster names (lower-cased by
# JupyterHub's normalisation). Letters, digits, '-', '_', '.', at most 64 characters.
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HASHED_RE = re.compile(r"-x[0-9a-f]{12}$")
_MAX_LABEL = 63


def validate_username(name: str) -> str:
    """Return ``name`` if it is an acceptable user name, else raise ``BadRequest``."""
    if not isinstance(name, str) or not USERNAME_RE.match(name):
        raise BadRequest(
            f"Invalid user name {name!r}: use 1-64 lower-case letters, digits, '-', '_' or '.',"
            " starting with a letter or digit."
        )
    return name


def app_slug(name: str, reserved=DEFAULT_RESERVED) -> str:
    """The DNS label of ``name``'s app host (see the module docstring)."""
    if not name:
        raise BadRequest("A user name is needed to make an app host name.")
    reserved = {r.lower() for r in reserved}
    if (
        _LABEL_RE.match(name)
        and len(name) <= _MAX_LABEL
        and name not in reserved
        and not _HASHED_RE.search(name)
    ):
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    prefix = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    prefix = prefix[: _MAX_LABEL - len(digest) - 2].rstrip("-") or "u"
    return f"{prefix}-x{digest}"
