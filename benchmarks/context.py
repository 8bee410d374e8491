"""The run's shared things: quick mode, a scratch folder, one classroom for 1–3.

Benchmarks 1–3 measure one student's loop, so they share one classroom with ``alice``
logged in and her workspace started (made on first use). Benchmarks 4–6 start what they
need themselves. ``close()`` stops everything and removes the scratch folder.

Parts: ``Context``.
"""

import shutil
import tempfile
import time
from pathlib import Path

from .common import Student, start_room


class Context:
    def __init__(self, quick: bool, keep: bool = False):
        self.quick = quick
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="imad-bench-"))
        self._room = None
        self._alice = None
        self.rooms = []  # every classroom started (stopped by close)

    def scratch(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def track(self, room):
        self.rooms.append(room)
        return room

    def shared_room(self):
        """``(room, alice)``: a classroom with alice's workspace started."""
        if self._room is None:
            room = self.track(start_room(self.scratch("loop"), ["alice", "bob"]))
            alice = Student(room, "alice")
            began = time.monotonic()
            alice.spawn()
            self.spawn_seconds = time.monotonic() - began
            self._room, self._alice = room, alice
        return self._room, self._alice

    def close(self):
        for room in self.rooms:
            try:
                room.stop()
            except Exception as e:  # keep stopping the others
                print(f"stopping a classroom failed: {e}")
        self.rooms.clear()
        self._room = self._alice = None
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
