"""The classroom's audit log: who published, unpublished, took down, opened whose
workspace or imported the roster, and when.

Append-only JSON lines in ``<state_dir>/audit.jsonl``, one event per line::

    {"time": "2025-01-31T12:00:00Z", "actor": "instructor", "action": "takedown",
     "target": "alice", "cohort": "demo", "details": {"reason": "..."}}

Writes are single ``O_APPEND`` writes of one whole line, so concurrent writers (the
service's handlers) never interleave within a line. The reader pages from the newest
event backwards, reading the file from its end in blocks, so showing the latest page
costs the same with ten events or a million.

``ACTIONS`` lists the known actions. Instructors read the log (scope
``custom:imad:audit``) on the dashboard and at ``api/audit``.

Parts: ``ACTIONS``, ``AuditEvent``, ``AuditLog`` (``record``, ``page``), ``audit_log_for``,
``record``.
"""

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ACTIONS = (
    "publish",  # an app was published (by its owner, or for them)
    "unpublish",  # an app was unpublished by its owner
    "takedown",  # an app was unpublished by a TA or instructor, with a reason
    "open-workspace",  # a TA or instructor opened a student's workspace from the dashboard
    "start-workspace",  # ... started it from the dashboard
    "stop-workspace",  # ... stopped it from the dashboard
    "roster-import",  # a roster was imported (details: what changed)
)
BLOCK = 64 * 1024


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class AuditEvent:
    actor: str
    action: str
    target: str | None = None
    cohort: str | None = None
    details: dict = field(default_factory=dict)
    time: str = field(default_factory=_now)

    def to_json(self) -> dict:
        return asdict(self)


class AuditLog:
    """The audit log in ``path`` (a JSON-lines file, created on first write)."""

    def __init__(self, path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(
        self, actor: str, action: str, target: str | None = None, *, cohort=None, **details
    ) -> AuditEvent:
        """Append one event; answer it. ``details`` must be JSON-serialisable."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}; known: {', '.join(ACTIONS)}")
        event = AuditEvent(
            actor=actor, action=action, target=target, cohort=cohort, details=details
        )
        line = (json.dumps(event.to_json(), separators=(",", ":")) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return event

    def _lines_newest_first(self):
        """The file's lines from the last to the first, read backwards in blocks."""
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            return
        with f:
            f.seek(0, os.SEEK_END)
            position = f.tell()
            rest = b""
            while position > 0:
                size = min(BLOCK, position)
                position -= size
                f.seek(position)
                chunk = f.read(size) + rest
                lines = chunk.split(b"\n")
                rest = lines[0]
                for line in reversed(lines[1:]):
                    if line.strip():
                        yield line
            if rest.strip():
                yield rest

    def page(
        self,
        offset: int = 0,
        limit: int = 50,
        *,
        action: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        cohorts: set[str] | None = None,
    ) -> dict:
        """Events newest first: ``{"events": [...], "offset", "limit", "next_offset"}``.

        Filters (all optional, combined): ``action``, ``actor``, ``target`` (exact), and
        ``cohorts`` (only events about those cohorts). ``next_offset`` is None on the
        last page. Unreadable lines (a torn last write) are skipped.
        """
        offset, limit = max(0, int(offset)), max(1, min(int(limit), 500))
        events, skipped, more = [], 0, False
        for raw in self._lines_newest_first():
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if action and event.get("action") != action:
                continue
            if actor and event.get("actor") != actor:
                continue
            if target and event.get("target") != target:
                continue
            if cohorts is not None and event.get("cohort") not in cohorts:
                continue
            if skipped < offset:
                skipped += 1
                continue
            if len(events) == limit:
                more = True
                break
            events.append(event)
        return {
            "events": events,
            "offset": offset,
            "limit": limit,
            "next_offset": offset + limit if more else None,
        }


_logs: dict[str, AuditLog] = {}


def audit_log_for(settings: dict) -> AuditLog:
    """The audit log of the classroom ``settings`` describe (one object per file)."""
    path = str(Path(settings["state_dir"]) / "audit.jsonl")
    if path not in _logs:
        _logs[path] = AuditLog(path)
    return _logs[path]


def record(settings: dict, actor: str, action: str, target: str | None = None, **kw) -> AuditEvent:
    """Append an event to the classroom's audit log (see ``AuditLog.record``)."""
    return audit_log_for(settings).record(actor, action, target, **kw)
