"""A small async runner for git commands, with a credential hook.

Every git command of the workspace goes through ``GitRunner.run``: bounded in time
(the process group is killed on timeout), never prompting (``GIT_TERMINAL_PROMPT=0``),
in the C locale (messages we parse are stable), without the server's hub token in its
environment.

Credentials (GitHub mode): for a network command (``network_url`` given) the runner
asks its ``credential_provider(url)`` for ``{"username", "password"}``. The answer is
written into a pipe whose read end only that git process inherits; a
``credential.helper`` given with ``-c`` on git's command line reads it from the pipe.
So the token is never written to ``.git/config``, a file, the server's environment,
the child's environment or a log; and ``-c credential.helper=`` first switches off any
helper the student configured (a credential store would otherwise save the token).

Parts: ``GitResult``, ``GitError``, ``GitRunner``.
"""

import asyncio
import inspect
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

# Variables a git child must not inherit from the Jupyter server.
_SECRET_ENV = ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN", "GITHUB_TOKEN", "GH_TOKEN")


@dataclass
class GitResult:
    returncode: int
    stdout: str
    stderr: str


class GitError(Exception):
    """A git command failed (non-zero exit) or took too long."""

    def __init__(self, command: list[str], result: GitResult | None, timed_out=False):
        self.command = command
        self.result = result
        self.timed_out = timed_out
        if timed_out:
            text = f"git {command[0] if command else ''} took too long and was stopped"
        else:
            text = (result.stderr or result.stdout).strip() or f"exit code {result.returncode}"
        super().__init__(text)

    @property
    def output(self) -> str:
        if self.result is None:
            return ""
        return (self.result.stderr + "\n" + self.result.stdout).strip()


class GitRunner:
    """Runs ``git`` with a fixed identity, extra environment and credential hook."""

    def __init__(
        self,
        *,
        identity: tuple[str, str] | None = None,
        extra_env: dict | None = None,
        timeout: float = 120.0,
        credential_provider: Callable | None = None,
        log: logging.Logger | None = None,
    ):
        self.identity = identity
        self.extra_env = dict(extra_env or {})
        self.timeout = timeout
        self.credential_provider = credential_provider
        self.log = log or logging.getLogger(__name__)

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in _SECRET_ENV}
        env.update(
            GIT_TERMINAL_PROMPT="0",
            GCM_INTERACTIVE="never",
            LC_ALL="C",
            LANGUAGE="C",
        )
        if self.identity:
            name, email = self.identity
            env.update(
                GIT_AUTHOR_NAME=name,
                GIT_AUTHOR_EMAIL=email,
                GIT_COMMITTER_NAME=name,
                GIT_COMMITTER_EMAIL=email,
            )
        env.update({str(k): str(v) for k, v in self.extra_env.items()})
        return env

    async def _credential(self, url: str) -> bytes | None:
        if self.credential_provider is None:
            return None
        answer = self.credential_provider(url)
        if inspect.isawaitable(answer):
            answer = await answer
        if not answer:
            return None
        lines = []
        for key in ("username", "password"):
            value = str(answer.get(key) or "")
            if not value or any(c in value for c in "\n\r\0"):
                raise ValueError(f"credential_provider gave an unusable {key}")
            lines.append(f"{key}={value}\n")
        return "".join(lines).encode()

    async def run(
        self,
        *args: str,
        cwd=None,
        input: str | None = None,
        check: bool = True,
        network_url: str | None = None,
        env: dict | None = None,
        timeout: float | None = None,
    ) -> GitResult:
        """Run ``git *args``; raise ``GitError`` on failure when ``check``."""
        command = [str(a) for a in args]
        config: list[str] = []
        pass_fds: tuple[int, ...] = ()
        read_fd = None
        try:
            credential = await self._credential(network_url) if network_url else None
        except Exception as e:  # the provider's message names the cause, never a token
            self.log.warning("No git credentials for %s: %s", command[0], e)
            raise GitError(command, GitResult(-1, "", f"no credentials for git: {e}")) from None
        if credential is not None:
            read_fd, write_fd = os.pipe()
            try:
                os.write(write_fd, credential)  # a few hundred bytes: fits the pipe buffer
            finally:
                os.close(write_fd)
            helper = f'!f() {{ test "$1" = get && cat /dev/fd/{read_fd}; }}; f'
            config = ["-c", "credential.helper=", "-c", f"credential.helper={helper}"]
            pass_fds = (read_fd,)
        full_env = self.env()
        if env:
            full_env.update(env)
        try:
            proc = await asyncio.create_subprocess_exec(
                "git",
                *config,
                *command,
                cwd=None if cwd is None else str(cwd),
                env=full_env,
                stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=pass_fds,
                start_new_session=True,
            )
        finally:
            if read_fd is not None:
                os.close(read_fd)
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(None if input is None else input.encode()),
                timeout or self.timeout,
            )
        except TimeoutError:
            self._kill(proc)
            try:  # reap it and close its pipes (the whole group is gone: they end now)
                await asyncio.wait_for(proc.communicate(), 10)
            except (TimeoutError, ValueError, RuntimeError):
                await proc.wait()
            self.log.warning("git %s timed out after %ss", command[0], timeout or self.timeout)
            raise GitError(command, None, timed_out=True) from None
        result = GitResult(
            proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        )
        if check and result.returncode != 0:
            raise GitError(command, result)
        return result

    @staticmethod
    def _kill(proc):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                proc.kill()
            except ProcessLookupError:
                pass
