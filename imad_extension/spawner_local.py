"""Local workspaces: JupyterHub's SimpleLocalProcessSpawner, ready sooner.

``ReadyLocalProcessSpawner.start()`` waits up to ``ready_wait`` seconds for the new
workspace's port to accept connections (checked every ``ready_poll_interval`` seconds)
before it returns. JupyterHub then usually finds the server up at its first check
instead of backing off exponentially (random waits growing to seconds): a student's
workspace opens about 1.8 s sooner (benchmark 6). When the machine is busy (many
students logging in at once), the wait ends after ``ready_wait`` and JupyterHub's own
``http_timeout`` takes over as before, so ``start_timeout`` (which covers ``start()``)
is never spent on waiting. A process that exits is left to JupyterHub to report.

It also never gives two workspaces the same port. JupyterHub's ``random_port()`` picks a
port that is free *now*; a busy machine binds it seconds later, so two students logging
in together could get the same one, and one would be sent to the other's server (seen
in benchmark 6, 50 logins at once). Ports handed out here stay reserved until the
workspace stops.

Local mode only (one machine, no isolation between students).
"""

import asyncio
import time

from jupyterhub.spawner import SimpleLocalProcessSpawner
from jupyterhub.utils import random_port
from traitlets import Float

_PORTS_IN_USE: set[int] = set()  # ports of this hub's workspaces (starting or running)


class ReadyLocalProcessSpawner(SimpleLocalProcessSpawner):
    ready_poll_interval = Float(
        0.05,
        config=True,
        help="Seconds between checks that the new workspace's port accepts connections. Default: 0.05.",
    )
    ready_wait = Float(
        10,
        config=True,
        help="""Seconds start() waits for the port before handing over to JupyterHub's
        own checks (http_timeout). Keep it well under start_timeout. Default: 10.""",
    )

    async def start(self):
        if self.port == 0:
            port = random_port()
            while port in _PORTS_IN_USE:
                port = random_port()
            self.port = port
        _PORTS_IN_USE.add(self.port)
        ip, port = await super().start()
        deadline = time.monotonic() + min(self.ready_wait, self.start_timeout / 2)
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                _, writer = await asyncio.open_connection(ip, port)
            except OSError:
                await asyncio.sleep(self.ready_poll_interval)
                continue
            writer.close()
            break
        return ip, port

    async def stop(self, now=False):
        try:
            await super().stop(now=now)
        finally:
            _PORTS_IN_USE.discard(self.port)

    def clear_state(self):
        _PORTS_IN_USE.discard(self.port)
        super().clear_state()
