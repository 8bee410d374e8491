"""Bounded logs for detached processes: a tiny log keeper, and how to start a process with one.

A published app (and the apps proxy) must outlive the classroom service, so its output
cannot go to a pipe the service reads. Instead each such process writes into a pipe
read by its own *logpipe*: this file run as a script (``python -I -S logpipe.py FILE
MAX_BYTES``, standard library only, so it starts in a few milliseconds). It appends
what it reads to ``FILE`` and, when ``FILE`` would pass half of ``MAX_BYTES``, moves it
to ``FILE.1`` (replacing the older one) and starts afresh: the two never hold more than
``MAX_BYTES``. It exits when every writer has closed the pipe (the app has exited).

Parts:
- ``spawn_logged(argv, log_path, max_bytes, env=None, cwd=None)``: start ``argv`` in a
  new session with its stdout and stderr going through a new logpipe; returns both
  ``Popen`` objects.
- ``tail(log_path, lines)``: the last ``lines`` lines of ``FILE.1`` + ``FILE``.
- ``append(log_path, text)``: add a line of our own (when the process is gone).
- ``main(argv)``: the logpipe itself.
"""

import os
import subprocess
import sys

CHUNK = 65536


def spawn_logged(argv, log_path, max_bytes, env=None, cwd=None):
    """Start ``argv`` detached (new session), its output kept by a detached logpipe.

    Returns ``(process, logpipe)``, two ``Popen`` objects; both outlive the caller.
    """
    read_end, write_end = os.pipe()
    try:
        logpipe = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), str(log_path), str(max_bytes)],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=write_end,
                stderr=write_end,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        except BaseException:
            os.close(write_end)
            write_end = None
            logpipe.wait(5)
            raise
    finally:
        os.close(read_end)
        if write_end is not None:
            os.close(write_end)
    return process, logpipe


def _read(path, limit):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read()
    except FileNotFoundError:
        return b""


def tail(log_path, lines: int, limit: int = 1 << 20) -> list[str]:
    """The last ``lines`` lines kept for ``log_path`` (reading at most ``limit`` bytes per file)."""
    if lines <= 0:
        return []
    data = _read(f"{log_path}.1", limit) + _read(log_path, limit)
    text = data.decode("utf-8", "replace")
    return text.splitlines()[-lines:]


def append(log_path, text: str):
    """Append ``text`` as a line (used once the process and its logpipe are gone)."""
    with open(log_path, "a", encoding="utf-8") as f:
        f.write(text.rstrip("\n") + "\n")


def main(argv=None):
    argv = sys.argv if argv is None else argv
    path, max_bytes = argv[1], int(argv[2])
    half = max(max_bytes // 2, 1024)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    fd = os.open(path, flags, 0o644)
    size = os.fstat(fd).st_size
    while True:
        try:
            data = os.read(0, CHUNK)
        except InterruptedError:
            continue
        if not data:
            break
        if size + len(data) > half:
            os.close(fd)
            os.replace(path, path + ".1")
            fd = os.open(path, flags | os.O_TRUNC, 0o644)
            size = 0
            data = data[-half:]
        os.write(fd, data)
        size += len(data)
    os.close(fd)


if __name__ == "__main__":
    main()
