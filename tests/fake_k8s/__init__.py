"""A fake Kubernetes cluster for tests: API server, kubelet, controllers, over real HTTP.

``FakeCluster`` runs, on its own thread and event loop:

- ``apiserver``: Kubernetes' REST API (list/watch, apply, Status errors, strict
  kubernetes-validate on every write, fault injection) on ``127.0.0.1:<random port>``;
- ``kubelet``: runs every pod's containers as local processes on the pod's own loopback
  address, with logs, probes, restarts and graceful deletion;
- ``FakeDeploymentController``: ReplicaSets, pods and rolling updates for Deployments;
- ``FakeIngressController`` (``ingress=True``): configurable-http-proxy with host
  routing, one route per Ingress host to a ready pod.

Use it from any thread: ``start()``/``stop()``, ``write_kubeconfig(path)``, ``call(fn,
*args)`` (run ``fn`` on the cluster's loop and return its result; coroutine functions
are awaited) and ``await acall(fn, *args)`` from a test's own event loop. Faults:
``cluster.faults.fail("PATCH", "/deployments/", 500)``, ``cluster.faults.drop_watches()``
(via ``call``), ``cluster.kubelet.start_delay = 2``, ``cluster.call(cluster.store.compact)``.

Parts: ``FakeCluster``, ``ImageSpec``.
"""

import asyncio
import concurrent.futures
import inspect
import random
import threading
from pathlib import Path

import yaml
from aiohttp import web

from .apiserver import Faults, make_app
from .controllers import FakeDeploymentController, FakeIngressController, free_port
from .kubelet import FakeKubelet, ImageSpec
from .store import Store

__all__ = ["FakeCluster", "ImageSpec"]


class FakeCluster:
    def __init__(
        self,
        root: Path,
        images: dict[str, ImageSpec] | None = None,
        namespaces=("default", "kube-system"),
        token: str | None = None,  # kubectl sends no token over plain http
        ingress: bool = False,
        ingress_class: str = "nginx",
        ip_prefix: str | None = None,
        history_limit: int = 5000,
    ):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.images = images or {}
        self.namespaces = list(namespaces)
        self.token = token
        self.want_ingress = ingress
        self.ingress_class = ingress_class
        # A random 127.R.S.N block per cluster: tests running side by side never share
        # a pod address (every 127/8 address is loopback on Linux).
        self.ip_prefix = ip_prefix or f"127.{random.randint(1, 254)}.{random.randint(0, 255)}"
        self.store = Store(history_limit=history_limit)
        self.faults = Faults()
        self.kubelet: FakeKubelet | None = None
        self.deployments: FakeDeploymentController | None = None
        self.ingress: FakeIngressController | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ingress_url(self) -> str:
        return self.ingress.url

    # -- lifecycle
    def start(self) -> "FakeCluster":
        ready = concurrent.futures.Future()

        def main():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self._start())
            except BaseException as e:  # report start-up failures to the caller
                ready.set_exception(e)
                return
            ready.set_result(None)
            self.loop.run_forever()

        self.thread = threading.Thread(target=main, name="fake-k8s", daemon=True)
        self.thread.start()
        ready.result(timeout=30)
        return self

    async def _start(self):
        for ns in self.namespaces:
            self.store.create("namespaces", None, {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": ns}})  # fmt: skip
        self.kubelet = FakeKubelet(self.store, self.root / "kubelet", self.images, self.ip_prefix)
        self.deployments = FakeDeploymentController(self.store)
        self.deployments.start()
        if self.want_ingress:
            self.ingress = FakeIngressController(self.store, self.ingress_class)
            await self.ingress.start_proxy(self.root / "ingress-proxy.log")
        self.runner = web.AppRunner(make_app(self), access_log=None, handler_cancellation=True)
        await self.runner.setup()
        self.port = free_port()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, shutdown_timeout=0.5)
        await site.start()

    async def _stop(self):
        self.faults.drop_watches()
        if self.ingress:
            await self.ingress.stop()
        if self.deployments:
            await self.deployments.stop()
        if self.kubelet:
            await self.kubelet.shutdown()
        if self.runner:
            await self.runner.cleanup()

    def stop(self):
        if not self.loop or not self.thread:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()
            self.loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- running things on the cluster's loop
    def _submit(self, fn, *args, **kwargs) -> concurrent.futures.Future:
        async def run():
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self.loop)

    def call(self, fn, *args, timeout: float = 30, **kwargs):
        """Run ``fn(*args)`` on the cluster's loop (from another thread); return its result."""
        return self._submit(fn, *args, **kwargs).result(timeout=timeout)

    async def acall(self, fn, *args, **kwargs):
        """``call`` for a test's own event loop: awaits without blocking it."""
        return await asyncio.wrap_future(self._submit(fn, *args, **kwargs))

    # -- conveniences
    def kubeconfig(self, namespace: str = "default") -> dict:
        user = {"token": self.token} if self.token else {}
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake-user", "user": user}],
            "contexts": [
                {
                    "name": "fake",
                    "context": {"cluster": "fake", "user": "fake-user", "namespace": namespace},
                }
            ],  # fmt: skip
            "current-context": "fake",
        }

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        path = Path(path)
        path.write_text(yaml.safe_dump(self.kubeconfig(namespace)))
        path.chmod(0o600)
        return path

    def create_namespace(self, name: str):
        return self.call(self.store.create, "namespaces", None,
                         {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})  # fmt: skip

    def objects(self, plural: str, namespace: str | None = None, label_selector: str | None = None):
        return self.call(self.store.list, plural, namespace, label_selector)
