"""Local publisher: each app is a process on this machine, routed by host name.

Each publish is a *release*: the runtime entrypoint (``images/nodejs-student/
entrypoint.sh``, the same one the image runs) started detached in its own folder
``<state_dir>/apps/<slug>/<n>-<short sha>/`` with a free ``$PORT``, its output kept by a
``logpipe``. When it answers HTTP, the app's route on the apps proxy (configurable-http-
proxy with ``--host-routing``, changed only through its REST API) moves to it; the
release it replaces keeps its in-flight requests for ``drain_seconds`` and is then
stopped. So a republish never fails a request.

Decisions:

- A publish that fails (the app exits, or does not answer within ``apps.start_timeout``)
  is ``crashed`` with its last log lines; the previous version, if one is live, keeps
  serving (``serving`` says which commit). With none, the host answers the proxy's
  503 page "This app is not running" until the next publish or an unpublish.
- An app that dies later is ``crashed`` (it is not restarted: it would most likely die
  again; the student republishes). Its route then points at a port nothing can listen
  on, so the host answers 503 and never another app that took over the port.
- Publishes of one app run one after the other; an unpublish cancels a publish that is
  still starting.
- Apps, their logpipes and the proxy run in their own sessions and outlive the service.
  The registry ``<state_dir>/apps/registry.json`` (written atomically) records them.
  ``start()`` adopts the running proxy and every release whose process is still the
  same one (pid + its start time) and answers on its port, restarts from its recorded
  commit an app that was live but died meanwhile (e.g. a reboot), and puts every route
  right. ``stop()`` leaves everything running; ``shutdown_all()`` (tests) stops it all.

Parts: ``LocalPublisher``, ``DEAD_TARGET``. The registry is ``publisher.registry``;
process helpers are ``publisher.processes``.
"""

import asyncio
import os
import re
import secrets
import shutil
import signal
import time
from pathlib import Path

from traitlets import Float, Unicode

from ..errors import BadRequest, UpstreamError
from ..names import validate_username
from ..settings import CHECKOUT
from . import AppStatus, Publisher, utcnow
from .logpipe import append, spawn_logged, tail
from .processes import free_port, http_answers, pid_alive, proc_start_time
from .proxy import ProxyClient, proxy_argv
from .registry import AppState, Release, load_registry, save_registry

# Nothing can listen on port 1 without root: a route pointing here makes the proxy
# answer its 503 page ("This app is not running").
DEAD_TARGET = "http://127.0.0.1:1"
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
# The environment an app gets from us (plus REPO_URL, COMMIT, APP_DIR, PORT, ...):
# nothing of the service's own, which holds the hub API token.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")


class LocalPublisher(Publisher):
    """Apps as local processes behind configurable-http-proxy; see the module docstring."""

    entrypoint = Unicode(
        str(CHECKOUT / "images" / "nodejs-student" / "entrypoint.sh"),
        config=True,
        help="The app runtime entrypoint (default: images/nodejs-student/entrypoint.sh of the checkout).",
    )
    drain_seconds = Float(
        1.0,
        config=True,
        help="Seconds a replaced release keeps serving its in-flight requests before it is stopped.",
    )
    stop_grace = Float(
        3.0, config=True, help="Seconds between SIGTERM and SIGKILL when stopping an app."
    )
    monitor_interval = Float(
        0.5, config=True, help="Seconds between checks that live apps are still running."
    )
    proxy_start_timeout = Float(
        10.0, config=True, help="Seconds to wait for a newly started apps proxy's API."
    )

    def __init__(self, settings: dict, **kwargs):
        super().__init__(settings, **kwargs)
        apps = settings["apps"]
        self.root = Path(settings["state_dir"]) / "apps"
        self.registry_path = self.root / "registry.json"
        self.start_timeout = float(apps["start_timeout"])
        self.log_lines = int(apps["log_lines"])
        self.log_max_bytes = int(apps["log_max_bytes"])
        self.proxy_ip = settings["hub"]["ip"]
        self.proxy_port = int(apps["port"])
        self.proxy_api_port = int(apps["api_port"])
        self.proxy_command = settings["hub"]["proxy_command"] or str(
            CHECKOUT / "node_modules" / ".bin" / "configurable-http-proxy"
        )
        self.proxy: ProxyClient | None = None
        self._proxy_record: dict = {}
        self._apps: dict[str, AppState] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._publishing: dict[str, asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()
        self._children: list = []  # Popen objects to reap (apps and logpipes we started)
        self._monitor_task: asyncio.Task | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self):
        self.root.mkdir(parents=True, exist_ok=True)
        self._load()
        await self._ensure_proxy()
        restart = await self._recover()
        self._save()
        await self._sync_routes()
        for owner, commit in restart:
            self.log.info(
                "Restarting %s's app (commit %s), which stopped meanwhile", owner, commit[:7]
            )
        await asyncio.gather(
            *(self.publish(o, c, self._apps[o].repo_url) for o, c in restart),
            return_exceptions=True,
        )
        self._monitor_task = asyncio.create_task(self._monitor())

    async def stop(self):
        """Stop watching; apps and the proxy keep running (``start`` adopts them)."""
        if self._monitor_task:
            self._monitor_task.cancel()
            self._monitor_task = None
        # A publish still starting is cut short (the registry says "starting": ``start``
        # publishes it again); stopping replaced or unpublished releases is finished, as
        # nothing else would remember them. Both are bounded (drain + grace seconds).
        publishing = [t for t in self._publishing.values() if not t.done()]
        for task in publishing:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._save()
        if self.proxy:
            await self.proxy.close()

    async def shutdown_all(self):
        """Stop every app and the proxy (for tests and ``make clean``)."""
        await self.stop()
        releases = []
        for state in self._apps.values():
            releases += [r for r in (state.release, state.serving, *state.retired) if r]
        await asyncio.gather(*(self._terminate(r, grace=1.0) for r in releases))
        self._apps.clear()
        pid = self._proxy_record.get("pid")
        if pid_alive(pid, self._proxy_record.get("pid_started")):
            os.killpg(pid, signal.SIGTERM)
        self._proxy_record = {}
        self._save()
        for child in self._children:
            try:
                child.wait(2)
            except Exception:
                pass

    # --- the interface ---------------------------------------------------------------------------

    async def publish(
        self, owner: str, commit: str, repo_url: str, wait: float | None = None
    ) -> dict:
        validate_username(owner)
        if not isinstance(commit, str) or not COMMIT_RE.match(commit):
            raise BadRequest(f"{commit!r} is not a commit id (40 lower-case hex digits).")
        task = asyncio.create_task(self._publish(owner, commit, repo_url))
        self._track(task)
        self._publishing[owner] = task
        try:
            await asyncio.wait_for(asyncio.shield(task), wait)
        except TimeoutError:
            pass  # still starting: the caller asked not to wait longer
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling() or not task.cancelled():
                raise
            # the publish was cut short by an unpublish (or a stop): say where it is
        return await self.status(owner)

    async def status(self, owner: str, logs: bool = True) -> dict:
        return self._app(owner, logs)

    async def statuses(self, owners) -> list[dict]:
        return [self._app(owner, False) for owner in owners]

    def _app(self, owner: str, logs: bool) -> dict:
        """The app dict of ``owner`` from memory (``logs``: with its release's last lines)."""
        state = self._apps.get(owner)
        if state is None:
            return self.app_dict(owner)
        lines = tail(state.release.log_path, self.log_lines) if state.release and logs else []
        return self.app_dict(
            owner,
            status=AppStatus(state.status).value,
            commit=state.commit,
            logs=lines,
            published_at=state.published_at,
            updated_at=state.updated_at,
            serving=state.serving.commit if state.serving else None,
        )

    async def unpublish(self, owner: str, reason: str | None = None) -> dict:
        # Forget the app first, so a publish cut short answers "unpublished".
        state = self._apps.pop(owner, None)
        self._save()
        task = self._publishing.get(owner)
        if task and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        async with self._lock(owner):
            await self._proxy().delete_route(self._routespec(owner))
            if state is not None:
                releases = [r for r in (state.release, state.serving, *state.retired) if r]
                self._track(asyncio.create_task(self._retire(releases, 0, remove=state.slug)))
                self.log.info("Unpublished %s's app%s", owner, f" ({reason})" if reason else "")
        return self.app_record(owner).to_json()

    async def list_apps(self) -> list[dict]:
        return await self.statuses(sorted(self._apps))

    # --- publishing ---------------------------------------------------------------------------

    async def _publish(self, owner: str, commit: str, repo_url: str):
        async with self._lock(owner):
            state = self._apps.get(owner)
            if state is None:
                state = AppState(
                    owner=owner, slug=self.app_slug(owner), repo_url=repo_url,
                    status=AppStatus.STARTING.value,
                )  # fmt: skip
                self._apps[owner] = state
            previous_attempt = state.release
            state.seq += 1
            used = self._used_ports()
            # Unique folder per release: an unpublished app's releases are still being
            # removed in the background when the same owner publishes again.
            release_id = f"{state.seq}-{commit[:7]}-{secrets.token_hex(3)}"
            release = Release(
                id=release_id,
                commit=commit,
                port=free_port(used),
                dir=str(self.root / state.slug / release_id),
            )
            state.repo_url = repo_url
            state.status = AppStatus.STARTING.value
            state.commit = commit
            state.release = release
            state.updated_at = utcnow()
            self._save()
            if previous_attempt and not self._is_serving(state, previous_attempt):
                # a failed attempt: its logs are superseded now
                self._track(asyncio.create_task(self._retire([previous_attempt], 0)))
            self.log.info(
                "Publishing %s's app: commit %s on port %d", owner, commit[:7], release.port
            )
            began = time.monotonic()
            try:
                problem = await self._launch(state, release)
            except asyncio.CancelledError:
                await self._terminate(release, grace=0.5)
                raise
            if problem is None:
                try:
                    await self._route(owner, release.target, commit)
                except UpstreamError as e:
                    problem = str(e)
            if problem is not None:
                await self._terminate(release, grace=0.5)
                append(release.log_path, f"imad: {problem}")
                state.status = AppStatus.CRASHED.value
                state.updated_at = utcnow()
                if state.serving is None:
                    await self._route(owner, DEAD_TARGET, None)
                self._save()
                self.log.warning(
                    "Publishing %s's app (commit %s) failed: %s\nLast lines:\n%s",
                    owner, commit[:7], problem, "\n".join(tail(release.log_path, 10)),
                )  # fmt: skip
                return
            replaced = state.serving
            state.serving = release
            state.status = AppStatus.LIVE.value
            state.published_at = state.updated_at = utcnow()
            if replaced:
                state.retired.append(replaced)
            self._save()
            self.log.info(
                "%s's app is live: commit %s at %s (%.2f s)",
                owner, commit[:7], self.app_host(owner), time.monotonic() - began,
            )  # fmt: skip
            if replaced:
                self._track(
                    asyncio.create_task(self._retire([replaced], self.drain_seconds, state))
                )

    async def _launch(self, state: AppState, release: Release) -> str | None:
        """Start ``release``; None once it answers HTTP, else what went wrong."""
        os.makedirs(release.dir, exist_ok=True)
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        node = self.settings["apps"]["node_command"]
        if os.path.isabs(node):  # a node of its own: first on the app's PATH
            env["PATH"] = os.pathsep.join([os.path.dirname(node), env.get("PATH", os.defpath)])
        home = self.root / state.slug / "home"
        home.mkdir(parents=True, exist_ok=True)
        env.update(
            HOME=str(home),
            REPO_URL=state.repo_url,
            COMMIT=release.commit,
            APP_DIR=release.app_dir,
            PORT=str(release.port),
            NPM_CACHE_DIR=str(self.root / state.slug / "npm-cache"),
            NPM_CONFIG_UPDATE_NOTIFIER="false",
        )
        process, logpipe = spawn_logged(
            ["/bin/sh", self.entrypoint],
            release.log_path,
            self.log_max_bytes,
            env=env,
            cwd=release.dir,
        )
        self._children += [process, logpipe]
        release.pid = process.pid
        release.pid_started = proc_start_time(process.pid)
        release.started_at = utcnow()
        self._save()
        deadline = time.monotonic() + self.start_timeout
        host = self.app_host(state.owner)
        while True:
            code = process.poll()
            if code is not None:
                await self._wait_logpipe(logpipe)
                return (
                    f"the app exited with code {code} before it answered on port {release.port}."
                    " See the lines above."
                )
            if await http_answers(release.port, host, timeout=min(1.0, self.start_timeout)):
                return None
            if time.monotonic() > deadline:
                return (
                    f"the app did not answer HTTP on port {release.port} (the PORT environment"
                    f" variable) within {self.start_timeout:g} s, so it was stopped."
                    " Make it listen on process.env.PORT."
                )
            await asyncio.sleep(0.02)

    async def _wait_logpipe(self, logpipe, timeout=1.0):
        """Let the logpipe write the app's last words before we read or add to the log."""
        deadline = time.monotonic() + timeout
        while logpipe.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    # --- stopping ------------------------------------------------------------------------------

    async def _retire(self, releases, delay, state: AppState | None = None, remove=None):
        """After ``delay`` seconds, stop ``releases`` and delete their folders."""
        if delay:
            await asyncio.sleep(delay)
        await asyncio.gather(*(self._terminate(r) for r in releases))
        for release in releases:
            if state is not None and release in state.retired:
                state.retired.remove(release)
            await asyncio.to_thread(shutil.rmtree, release.dir, True)
        if remove and remove not in {s.slug for s in self._apps.values()}:
            await asyncio.to_thread(shutil.rmtree, self.root / remove, True)
        if state is not None:
            self._save()

    async def _terminate(self, release: Release, grace: float | None = None):
        """SIGTERM the release's process group, SIGKILL it after ``grace`` seconds."""
        grace = self.stop_grace if grace is None else grace
        if not self._alive(release):
            return
        pid = release.pid
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while self._alive(release) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        try:
            os.killpg(pid, signal.SIGKILL)  # the group: npm's children too
        except ProcessLookupError:
            pass
        self._reap()

    def _alive(self, release: Release | None) -> bool:
        if release is None:
            return False
        for child in self._children:
            if child.pid == release.pid:
                return child.poll() is None
        return pid_alive(release.pid, release.pid_started)

    def _reap(self):
        self._children = [c for c in self._children if c.poll() is None]

    # --- watching --------------------------------------------------------------------------------

    async def _monitor(self):
        """Notice apps that died after going live: ``crashed``, route to the 503 page."""
        while True:
            await asyncio.sleep(self.monitor_interval)
            try:
                for owner, state in list(self._apps.items()):
                    lock = self._lock(owner)
                    if lock.locked() or state.serving is None or self._alive(state.serving):
                        continue
                    async with lock:
                        await self._serving_died(owner, state)
                self._reap()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("Checking the apps failed")

    async def _serving_died(self, owner: str, state: AppState):
        dead = state.serving
        if dead is None or self._apps.get(owner) is not state:
            return
        state.serving = None
        if state.release is dead or (state.release and state.release.id == dead.id):
            state.status = AppStatus.CRASHED.value
            append(dead.log_path, "imad: the app stopped; it is not running any more.")
        state.updated_at = utcnow()
        self._save()
        await self._route(owner, DEAD_TARGET, None)
        self.log.warning(
            "%s's app (commit %s) stopped. Last lines:\n%s",
            owner, dead.commit[:7], "\n".join(tail(dead.log_path, 10)),
        )  # fmt: skip

    # --- the proxy --------------------------------------------------------------------------------

    def _proxy(self) -> ProxyClient:
        if self.proxy is None:
            raise UpstreamError("The local publisher is not started.")
        return self.proxy

    def _routespec(self, owner: str) -> str:
        return "/" + self.app_host(owner)

    async def _route(self, owner: str, target: str, commit: str | None):
        await self._proxy().add_route(self._routespec(owner), target, owner=owner, commit=commit)

    async def _ensure_proxy(self):
        token_path = self.root / "proxy-token"
        if not token_path.exists():
            fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        token = token_path.read_text().strip()
        self.proxy = ProxyClient(f"http://127.0.0.1:{self.proxy_api_port}", token)
        if await self.proxy.ping():
            self.log.info("Using the running apps proxy (API port %d)", self.proxy_api_port)
            return
        old = self._proxy_record
        if pid_alive(old.get("pid"), old.get("pid_started")):
            # a proxy of ours on other ports (the settings changed): replace it
            os.killpg(old["pid"], signal.SIGTERM)
        argv = proxy_argv(
            self.proxy_command, ip=self.proxy_ip, port=self.proxy_port, api_port=self.proxy_api_port
        )
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        env["CONFIGPROXY_AUTH_TOKEN"] = token
        # names its state dir, so test harnesses can find (and end) a proxy left running
        env["IMAD_APPS_ROOT"] = str(self.root)
        log_path = self.root / "proxy.log"
        try:
            process, logpipe = spawn_logged(
                argv, log_path, self.log_max_bytes, env=env, cwd=str(self.root)
            )
        except OSError as e:
            raise UpstreamError(f"Could not start the apps proxy {argv[0]}: {e}") from e
        self._children += [process, logpipe]
        deadline = time.monotonic() + self.proxy_start_timeout
        while not await self.proxy.ping():
            if process.poll() is not None or time.monotonic() > deadline:
                await self._wait_logpipe(logpipe)
                raise UpstreamError(
                    f"The apps proxy did not start on port {self.proxy_port} (API"
                    f" {self.proxy_api_port}): " + " | ".join(tail(log_path, 5))
                )
            await asyncio.sleep(0.05)
        self._proxy_record = {
            "pid": process.pid,
            "pid_started": proc_start_time(process.pid),
            "port": self.proxy_port,
            "api_port": self.proxy_api_port,
        }
        self.log.info(
            "Started the apps proxy on %s:%d (API port %d)",
            self.proxy_ip, self.proxy_port, self.proxy_api_port,
        )  # fmt: skip

    async def _sync_routes(self):
        """Make the proxy's routes exactly what the registry says."""
        proxy = self._proxy()
        routes = await proxy.routes()
        wanted = {}
        for owner, state in self._apps.items():
            serving = state.serving
            wanted[self._routespec(owner)] = (
                owner,
                serving.target if serving else DEAD_TARGET,
                serving.commit if serving else None,
            )
        for spec in routes:
            if spec not in wanted and spec != "/":
                await proxy.delete_route(spec)
        for spec, (owner, target, commit) in wanted.items():
            if routes.get(spec, {}).get("target") != target:
                await self._route(owner, target, commit)

    # --- the registry ------------------------------------------------------------------------------

    async def _recover(self) -> list[tuple[str, str]]:
        """Classify what survived a restart; return the (owner, commit) to publish again.

        A serving release is adopted when its process is still the one we started (pid
        and start time) and answers HTTP on its port; anything else of ours is stopped.
        """
        restart = []
        for owner, state in list(self._apps.items()):
            keep = None
            if state.serving is not None and self._alive(state.serving):
                if await http_answers(state.serving.port, self.app_host(owner)):
                    keep = state.serving
            for release in (state.release, state.serving, *state.retired):
                if release is not None and release is not keep and self._alive(release):
                    os.killpg(release.pid, signal.SIGTERM)  # cut short, draining or wedged
            state.retired = []
            if state.status == AppStatus.STARTING.value:
                restart.append((owner, state.commit))  # a publish cut short: do it again
            elif state.serving is not None and keep is None:
                if state.status == AppStatus.LIVE.value:
                    restart.append((owner, state.serving.commit))
            state.serving = keep
            if keep is not None:
                self.log.info("Adopted %s's running app (commit %s)", owner, keep.commit[:7])
        return restart

    def _load(self):
        self._proxy_record, self._apps = load_registry(self.registry_path, self.log)

    def _save(self):
        save_registry(self.registry_path, self._proxy_record, self._apps)

    # --- small things --------------------------------------------------------------------------------

    def _lock(self, owner: str) -> asyncio.Lock:
        return self._locks.setdefault(owner, asyncio.Lock())

    def _track(self, task: asyncio.Task):
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _used_ports(self) -> set[int]:
        ports = {self.proxy_port, self.proxy_api_port}
        for state in self._apps.values():
            for release in (state.release, state.serving, *state.retired):
                if release:
                    ports.add(release.port)
        return ports

    @staticmethod
    def _is_serving(state: AppState, release: Release) -> bool:
        return state.serving is not None and state.serving.id == release.id
