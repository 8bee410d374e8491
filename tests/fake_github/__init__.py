"""A fake GitHub for tests: OAuth, the REST endpoints IMAD uses, git smart HTTP.

See ``server.py`` for what it serves and its fault knobs, ``replay.py`` for the check
of its answers against GitHub's real ones (recorded in ``replaydata/``).
"""

from .server import FakeGitHub, Fault, Repo

__all__ = ["FakeGitHub", "Fault", "Repo"]
