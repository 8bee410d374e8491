"""The local publisher's registry: what runs where, kept in ``<state_dir>/apps/registry.json``.

``Release`` is one run of one commit (a process on a port, in its own folder);
``AppState`` is everything kept about one app. ``load_registry``/``save_registry`` read
and write the file; writes go to a temporary file renamed over the old one, so a crash
never leaves half a registry.

Parts: ``Release``, ``AppState``, ``load_registry``, ``save_registry``.
"""

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

VERSION = 1


@dataclass
class Release:
    """One run of one commit: a process on a port, in its own folder."""

    id: str  # "<n>-<short sha>", the folder name
    commit: str
    port: int
    dir: str
    pid: int | None = None
    pid_started: str | None = None
    started_at: str | None = None

    @property
    def app_dir(self) -> str:
        return os.path.join(self.dir, "app")

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, "output.log")

    @property
    def target(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class AppState:
    """What the registry keeps of one app."""

    owner: str
    slug: str
    repo_url: str
    status: str
    commit: str | None = None  # the latest publish's commit
    release: Release | None = None  # the latest publish's release (status and logs)
    serving: Release | None = None  # where the route points, when it is alive
    retired: list[Release] = field(default_factory=list)  # draining, to be stopped
    published_at: str | None = None
    updated_at: str | None = None
    seq: int = 0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "AppState":
        data = dict(data)
        for key in ("release", "serving"):
            data[key] = Release(**data[key]) if data.get(key) else None
        data["retired"] = [Release(**r) for r in data.get("retired", [])]
        if data["release"] and data["serving"] and data["release"].id == data["serving"].id:
            data["release"] = data["serving"]  # one release, one object (compared with `is`)
        return cls(**data)


def load_registry(path: Path, log) -> tuple[dict, dict[str, AppState]]:
    """``(proxy record, {owner: AppState})``; empty when there is no (readable) registry."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}, {}
    except ValueError:
        broken = Path(path).with_suffix(".broken")
        os.replace(path, broken)
        log.error("The apps registry was unreadable; moved it to %s", broken)
        return {}, {}
    apps = {o: AppState.from_json(s) for o, s in data.get("apps", {}).items()}
    return data.get("proxy", {}), apps


def save_registry(path: Path, proxy: dict, apps: dict[str, AppState]):
    """Write the registry atomically."""
    path = Path(path)
    data = {"version": VERSION, "proxy": proxy, "apps": {o: s.to_json() for o, s in apps.items()}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
