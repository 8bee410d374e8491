"""Local processes of published apps: who is alive, which port is free, who answers HTTP.

A published app outlives the service that started it, so the service later knows it
only by its pid. A pid can be reused; the kernel's start time of the process (field 22
of ``/proc/<pid>/stat``, unchanged across ``exec``) tells ours from a newcomer.

Parts: ``proc_start_time``, ``pid_alive``, ``free_port``, ``http_answers``.
"""

import asyncio
import os
import socket

from ..errors import UpstreamError


def proc_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a reused pid from ours), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    # fields[0] is field 3 (state); starttime is field 22
    if len(fields) < 20 or fields[0] == "Z":
        return None
    return fields[19]


def pid_alive(pid: int | None, started: str | None) -> bool:
    if not pid:
        return False
    now = proc_start_time(pid)
    if now is not None:
        return started is None or now == started
    if os.path.isdir("/proc/self"):  # /proc works and has no such (live) process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_port(avoid=()) -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port
    raise UpstreamError("No free port for an app.")


async def http_answers(port: int, host: str = "localhost", timeout: float = 1.0) -> bool:
    """True when something answers HTTP on 127.0.0.1:``port`` (any status counts)."""
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(
            f"GET / HTTP/1.0\r\nHost: {host}\r\nUser-Agent: imad-publisher\r\n\r\n".encode()
        )
        line = await asyncio.wait_for(reader.readline(), timeout)
        return line.startswith(b"HTTP/")
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
