"""Kubernetes API access for the classroom service: clients, calls, retries, watch caches.

The one place that makes kubernetes_asyncio clients (like kubespawner's ``clients.py``)
and the small machinery the Kubernetes publisher is built on:

- ``make_api_client(kubeconfig="")``: in the cluster, the pod's service account; else
  ``kubeconfig`` or ``$KUBECONFIG`` (or ``~/.kube/config``);
- ``call_json(method, ...)``: call an API method and answer the JSON body as a dict
  (no model classes); a non-2xx answer raises ``KubeApiError`` with the ``Status``;
- ``with_retries(fn, ...)``: retry on 409/429/5xx and connection errors with
  exponential backoff and jitter;
- ``Reflector``: a watch cache of one kind in one namespace for one label selector:
  list, then watch from that resourceVersion; a watch that ends (timeout) resumes from
  the last version seen, a 410 Gone or a dropped connection relists, so the cache
  converges on the cluster's state whatever happens to the connection. Its
  ``transform`` (like client-go's informer transforms) trims each object before it is
  stored, so the cache holds only the fields its user reads.

Parts: ``KubeApiError``, ``make_api_client``, ``call_json``, ``with_retries``,
``RETRYABLE``, ``Reflector``.
"""

import asyncio
import json
import logging
import os
import random
from collections.abc import Awaitable, Callable

import aiohttp
from kubernetes_asyncio import client, config

RETRYABLE = frozenset({409, 429, 500, 502, 503, 504})
log = logging.getLogger(__name__)


class KubeApiError(Exception):
    """A Kubernetes API call answered with an error ``Status`` (or no answer: status 0)."""

    def __init__(self, status: int, reason: str = "", message: str = ""):
        super().__init__(f"{status} {reason}: {message}".strip())
        self.status = status
        self.reason = reason
        self.message = message


async def make_api_client(kubeconfig: str = "") -> client.ApiClient:
    """An ApiClient: in-cluster credentials in a pod, else a kubeconfig file."""
    cfg = client.Configuration()
    if (
        not kubeconfig
        and not os.environ.get("KUBECONFIG")
        and os.environ.get("KUBERNETES_SERVICE_HOST")
    ):
        config.load_incluster_config(client_configuration=cfg)
    else:
        await config.load_kube_config(
            config_file=kubeconfig or os.environ.get("KUBECONFIG") or None, client_configuration=cfg
        )
    return client.ApiClient(cfg)


async def call_json(method: Callable[..., Awaitable], *args, **kwargs) -> dict:
    """``method(*args, **kwargs)`` answering its JSON body; errors raise ``KubeApiError``."""
    try:
        resp = await method(*args, _preload_content=False, **kwargs)
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        raise KubeApiError(0, "ConnectionError", str(e) or type(e).__name__) from e
    async with resp:
        body = await resp.read()
    if resp.status >= 300:
        try:
            status = json.loads(body)
        except ValueError:
            status = {"message": body.decode(errors="replace")[:500]}
        raise KubeApiError(
            resp.status, status.get("reason", resp.reason or ""), status.get("message", "")
        )
    ctype = resp.headers.get("Content-Type", "")
    if "json" not in ctype:
        return {"text": body.decode(errors="replace")}
    return json.loads(body)


async def with_retries(fn: Callable[[], Awaitable], *, tries: int = 6, base_delay: float = 0.2,
                       max_delay: float = 5.0, what: str = "Kubernetes API call"):  # fmt: skip
    """``await fn()``, retried on 409, 429, 5xx and connection errors with backoff."""
    delay = base_delay
    for attempt in range(1, tries + 1):
        try:
            return await fn()
        except KubeApiError as e:
            if (e.status not in RETRYABLE and e.status != 0) or attempt == tries:
                raise
            log.warning("%s failed (%s), retry %d/%d in %.1fs", what, e, attempt, tries - 1, delay)
        await asyncio.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, max_delay)


class Reflector:
    """A watch cache: ``objects`` (name -> object dict) of one kind, kept current.

    ``list_method`` is a namespaced list method (e.g. ``AppsV1Api.list_namespaced_deployment``).
    ``on_change(type, obj)`` is called for every change (``type``: ADDED, MODIFIED,
    DELETED, or RELISTED with ``obj=None`` after a full list). ``transform(obj)``, when
    given, answers the copy to keep of every object listed, watched or ``put`` (it must
    keep ``metadata.name`` and ``metadata.resourceVersion``); ``on_change`` sees that
    copy. Full objects of thousands of apps are mostly spec and managedFields the
    cache's user never reads.
    """

    def __init__(self, list_method, namespace: str, label_selector: str, on_change=None,
                 timeout_seconds: int = 300, kind: str = "",
                 transform: Callable[[dict], dict] | None = None):  # fmt: skip
        self.list_method = list_method
        self.namespace = namespace
        self.label_selector = label_selector
        self.on_change = on_change or (lambda type_, obj: None)
        self.timeout_seconds = timeout_seconds
        self.kind = kind or getattr(list_method, "__name__", "objects")
        self.transform = transform or (lambda obj: obj)
        self.objects: dict[str, dict] = {}
        self.resource_version: str | None = None
        self.first_load = asyncio.Event()
        self.relists = 0  # how many full lists so far (1 + recoveries)
        self.task: asyncio.Task | None = None

    def start(self):
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"reflector {self.kind}"
        )

    async def stop(self):
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None

    async def _list(self):
        body = await call_json(self.list_method, self.namespace, label_selector=self.label_selector)
        items = body.pop("items", None) or []
        self.resource_version = body["metadata"]["resourceVersion"]
        objects = {}
        items.reverse()  # popped from the end: keep the list's order
        while items:  # trim as we go, so the full list is not held twice
            obj = self.transform(items.pop())
            objects[obj["metadata"]["name"]] = obj
        self.objects = objects
        self.relists += 1
        self.first_load.set()
        self.on_change("RELISTED", None)

    def put(self, obj: dict):
        """Put an object we just wrote into the cache, unless the cache holds a newer one."""
        obj = self.transform(obj)
        name = obj["metadata"]["name"]
        cur = self.objects.get(name)
        if cur is None or _newer(obj, cur):
            self.objects[name] = obj
            self.on_change("MODIFIED", obj)

    def forget(self, name: str):
        if self.objects.pop(name, None) is not None:
            self.on_change("DELETED", None)

    async def _watch(self):
        resp = await self.list_method(
            self.namespace,
            label_selector=self.label_selector,
            watch=True,
            resource_version=self.resource_version,
            timeout_seconds=self.timeout_seconds,
            allow_watch_bookmarks=True,
            _preload_content=False,
            _request_timeout=self.timeout_seconds + 30,
        )
        async with resp:
            if resp.status != 200:
                raise KubeApiError(resp.status, resp.reason or "", (await resp.text())[:300])
            while True:
                line = await resp.content.readline()
                if not line:
                    return  # the server ended the watch (timeoutSeconds): resume
                event = json.loads(line)
                type_, obj = event["type"], event["object"]
                if type_ == "ERROR":
                    raise KubeApiError(
                        obj.get("code", 500), obj.get("reason", ""), obj.get("message", "")
                    )
                self.resource_version = obj["metadata"]["resourceVersion"]
                if type_ == "BOOKMARK":
                    continue
                obj = self.transform(obj)
                name = obj["metadata"]["name"]
                if type_ == "DELETED":
                    self.objects.pop(name, None)
                else:
                    self.objects[name] = obj
                self.on_change(type_, obj)

    async def _run(self):
        delay = 0.1
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                await self._watch()
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except KubeApiError as e:
                need_list = True
                if e.status != 410:
                    log.warning("watch of %s failed: %s; relisting in %.1fs", self.kind, e, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
                need_list = True  # events may have been missed: start over from a list
                log.warning(
                    "watch of %s dropped (%s); relisting in %.1fs",
                    self.kind,
                    e or type(e).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)


def _newer(a: dict, b: dict) -> bool:
    """Is ``a`` a later version than ``b``? (resourceVersions are etcd revisions in practice)."""
    try:
        return int(a["metadata"]["resourceVersion"]) > int(b["metadata"]["resourceVersion"])
    except (KeyError, ValueError):
        return True
