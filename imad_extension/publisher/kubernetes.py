"""Kubernetes publisher: each app is a Deployment + Service + Ingress in the apps namespace.

- ``publish`` writes the app's three objects (``k8s_objects``) by server-side apply with
  one field manager (3 writes), each retried with backoff on 409/429/5xx. The commit is
  an annotation of the pod template, so a republish is a rolling update: the new pod
  must be ready before the old one goes (``maxUnavailable: 0``), and a republish that
  crashes leaves the previous version serving, as in local mode.
- ``status`` and ``list_apps`` read two watch caches (``kube.Reflector``): the labelled
  Deployments and the labelled Pods of the apps namespace. No API call per request,
  except the pod log API for the logs of one app (cached for ``log_cache_seconds``).
- An app is ``live`` when a pod of its latest commit is ready, ``crashed`` when such a
  pod has exited (restarted, ``CrashLoopBackOff``, image errors, ``Failed``), else
  ``starting``; its logs are the last ``apps.log_lines`` lines of that pod (of the run
  that crashed, for a crash loop). ``serving`` is the commit of the newest ready pod.
- ``unpublish`` deletes the three objects (the pods go with the Deployment).
- Everything is in the cluster (owner, commit and publish time are annotations), so a
  restarted service rebuilds its state from the first list: nothing is lost.

Parts: ``KubernetesPublisher``, ``pod_crashed``, ``pod_ready``.
"""

import asyncio
import time

from kubernetes_asyncio import client
from traitlets import Float, Integer, Unicode

from ..errors import UpstreamError
from ..kube import KubeApiError, Reflector, call_json, make_api_client, with_retries
from . import AppStatus, Publisher, utcnow
from .k8s_objects import (
    COMMIT_ANNOTATION,
    OWNER_ANNOTATION,
    PUBLISHED_AT_ANNOTATION,
    AppSpec,
    make_app_objects,
    managed_selector,
    object_name,
)

CRASH_REASONS = {
    "CrashLoopBackOff", "Error", "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError", "OOMKilled",
}  # fmt: skip


def pod_ready(pod: dict) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


def pod_crashed(pod: dict) -> bool:
    """Has the app's container exited or failed to start (and is not serving again)?"""
    status = pod.get("status", {})
    if status.get("phase") == "Failed":
        return True
    for cs in status.get("containerStatuses", []):
        if cs.get("ready"):
            continue
        state = cs.get("state", {})
        if cs.get("restartCount", 0) > 0 or "terminated" in state:
            return True
        if state.get("waiting", {}).get("reason") in CRASH_REASONS:
            return True
    return False


def _annotations(obj: dict) -> dict:
    return obj["metadata"].get("annotations") or {}


def _latest_time(*times) -> str | None:
    present = [t for t in times if t]
    return max(present) if present else None


class KubernetesPublisher(Publisher):
    """Publishes apps as Kubernetes objects (see the module docstring)."""

    kubeconfig = Unicode(
        "",
        config=True,
        help="""Kubeconfig file to use. Default: the pod's service account when running in
        a cluster, else $KUBECONFIG, else ~/.kube/config.""",
    )
    field_manager = Unicode(
        "imad-classroom",
        config=True,
        help="Field manager name of the service's server-side applies.",
    )
    apply_tries = Integer(6, config=True, help="Tries of each API write (409/429/5xx are retried).")
    retry_delay = Float(
        0.2, config=True, help="First retry delay in seconds; doubles each try (max 5 s)."
    )
    prestop_seconds = Integer(
        5,
        config=True,
        help="""Seconds an old pod keeps serving after it is told to stop, while the ingress
        controller moves traffic to the new pod (zero-downtime republish).""",
    )
    publish_timeout = Float(
        120.0,
        config=True,
        help="Seconds publish(wait=None) waits for the app to be live or crashed.",
    )
    watch_timeout = Integer(
        300, config=True, help="Seconds each watch request lasts before it is renewed."
    )
    log_cache_seconds = Float(2.0, config=True, help="Seconds the logs of one pod are reused for.")

    def __init__(self, settings: dict, api_client=None, **kwargs):
        super().__init__(settings, **kwargs)
        self.namespace = settings["apps"]["namespace"]
        self._api_client = api_client
        self._own_client = api_client is None
        self._changed = asyncio.Event()
        self._deployments: Reflector | None = None
        self._pods: Reflector | None = None
        self._tombstones: dict[str, str] = {}  # Deployment name -> uid being deleted
        # The pod cache indexed by app (instance label -> {pod name: pod}), kept in step
        # with it by ``_on_pod``, so an app's status costs O(its pods), not O(all pods).
        self._pods_by_app: dict[str, dict[str, dict]] = {}
        self._app_of_pod: dict[str, str] = {}
        self._log_cache: dict[tuple, tuple[float, list[str]]] = {}

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self):
        if self._api_client is None:
            self._api_client = await make_api_client(self.kubeconfig)
        apps, core = client.AppsV1Api(self._api_client), client.CoreV1Api(self._api_client)
        selector = managed_selector()
        self._deployments = Reflector(
            apps.list_namespaced_deployment, self.namespace, selector, self._on_deployment,
            self.watch_timeout, "deployments",
        )  # fmt: skip
        self._pods = Reflector(
            core.list_namespaced_pod,
            self.namespace,
            selector,
            self._on_pod,
            self.watch_timeout,
            "pods",
        )
        self._deployments.start()
        self._pods.start()
        try:
            await asyncio.wait_for(
                asyncio.gather(self._deployments.first_load.wait(), self._pods.first_load.wait()),
                30,
            )
        except TimeoutError:
            await self.stop()
            raise UpstreamError(
                f"Could not list the apps in namespace {self.namespace!r} of the Kubernetes cluster."
            ) from None

    async def stop(self):
        for r in (self._deployments, self._pods):
            if r:
                await r.stop()
        if self._own_client and self._api_client is not None:
            await self._api_client.close()
            self._api_client = None

    # --- the cache ----------------------------------------------------------------------

    def _on_deployment(self, type_, obj):
        # Events from before our own delete must not bring an unpublished app back.
        for name, uid in list(self._tombstones.items()):
            cached = self._deployments.objects.get(name)
            if type_ == "DELETED" and obj and obj["metadata"]["name"] == name:
                del self._tombstones[name]
            elif cached is not None and cached["metadata"]["uid"] == uid:
                del self._deployments.objects[name]
        self._on_change(type_, obj)

    def _on_pod(self, type_, obj):
        if obj is None:  # RELISTED: the cache was replaced wholesale
            self._pods_by_app.clear()
            self._app_of_pod.clear()
            for pod in self._pods.objects.values():
                self._index_pod(pod)
        else:
            self._unindex_pod(obj["metadata"]["name"])
            if type_ != "DELETED":
                self._index_pod(obj)
        self._on_change(type_, obj)

    def _index_pod(self, pod: dict):
        name = pod["metadata"]["name"]
        app = (pod["metadata"].get("labels") or {}).get("app.kubernetes.io/instance")
        self._pods_by_app.setdefault(app, {})[name] = pod
        self._app_of_pod[name] = app

    def _unindex_pod(self, name: str):
        app = self._app_of_pod.pop(name, None)
        pods = self._pods_by_app.get(app)
        if pods is not None:
            pods.pop(name, None)
            if not pods:
                del self._pods_by_app[app]

    def _on_change(self, type_, obj):
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _wait_change(self, timeout: float):
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    def _record(self, owner: str):
        """The app of ``owner`` from the caches, and its newest pod of the latest commit."""
        name = object_name(self.app_slug(owner))
        dep = self._deployments.objects.get(name) if self._deployments else None
        if dep is None or dep["metadata"].get("deletionTimestamp"):
            return self.app_record(owner), None
        commit = _annotations(dep).get(COMMIT_ANNOTATION)
        pods = list(self._pods_by_app.get(name, {}).values())
        pods.sort(key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
        current = [
            p for p in pods
            if _annotations(p).get(COMMIT_ANNOTATION) == commit and not p["metadata"].get("deletionTimestamp")
        ]  # fmt: skip
        ready = [p for p in pods if pod_ready(p)]
        if any(pod_ready(p) for p in current):
            status, pod = AppStatus.LIVE, [p for p in current if pod_ready(p)][-1]
        elif any(pod_crashed(p) for p in current):
            status, pod = AppStatus.CRASHED, [p for p in current if pod_crashed(p)][-1]
        else:
            status, pod = AppStatus.STARTING, (current[-1] if current else None)
        published_at = _annotations(dep).get(PUBLISHED_AT_ANNOTATION)
        times = [published_at]
        if pod:
            st = pod.get("status", {})
            times += [c.get("lastTransitionTime") for c in st.get("conditions", [])]
            for cs in st.get("containerStatuses", []):
                for state in (cs.get("state", {}), cs.get("lastState", {})):
                    for detail in state.values():
                        times += [detail.get("startedAt"), detail.get("finishedAt")]
        record = self.app_record(
            owner,
            status=status.value,
            commit=commit,
            published_at=published_at,
            updated_at=_latest_time(*times),
            serving=_annotations(ready[-1]).get(COMMIT_ANNOTATION) if ready else None,
        )
        return record, pod

    async def _logs(self, pod: dict | None, crashed: bool) -> list[str]:
        if pod is None:
            return []
        statuses = pod.get("status", {}).get("containerStatuses", [])
        cs = statuses[0] if statuses else {}
        previous = (
            crashed and "running" not in cs.get("state", {}) and cs.get("restartCount", 0) > 0
        )
        key = (pod["metadata"]["name"], cs.get("restartCount", 0), previous)
        cached = self._log_cache.get(key)
        if cached and time.monotonic() - cached[0] < self.log_cache_seconds:
            return cached[1]
        core = client.CoreV1Api(self._api_client)
        try:
            body = await call_json(
                core.read_namespaced_pod_log, pod["metadata"]["name"], self.namespace,
                container="app", tail_lines=self.settings["apps"]["log_lines"], previous=previous,
                limit_bytes=self.settings["apps"]["log_max_bytes"],
            )  # fmt: skip
        except KubeApiError as e:
            self.log.debug("no logs for %s: %s", pod["metadata"]["name"], e)
            return []
        lines = body.get("text", "").splitlines()[-self.settings["apps"]["log_lines"] :]
        self._log_cache = {k: v for k, v in self._log_cache.items() if k[0] != key[0]}
        self._log_cache[key] = (time.monotonic(), lines)
        return lines

    # --- the interface ------------------------------------------------------------------

    async def status(self, owner: str) -> dict:
        record, pod = self._record(owner)
        if record.status != AppStatus.UNPUBLISHED.value:
            record.logs = await self._logs(pod, record.status == AppStatus.CRASHED.value)
        return record.to_json()

    async def list_apps(self) -> list[dict]:
        """Every published app, from the caches only (``logs`` empty: see ``status``)."""
        owners = sorted(
            _annotations(d).get(OWNER_ANNOTATION)
            for d in self._deployments.objects.values()
            if _annotations(d).get(OWNER_ANNOTATION) and not d["metadata"].get("deletionTimestamp")
        )
        return [self._record(owner)[0].to_json() for owner in owners]

    async def publish(
        self, owner: str, commit: str, repo_url: str, wait: float | None = None
    ) -> dict:
        slug = self.app_slug(owner)
        app = AppSpec(owner, slug, self.app_host(owner), commit, repo_url, utcnow())
        objects = make_app_objects(app, self.settings["apps"], prestop_seconds=self.prestop_seconds)
        written = [await self._apply(obj) for obj in objects]
        self._tombstones.pop(object_name(slug), None)
        self._deployments.put(written[0])
        deadline = time.monotonic() + (self.publish_timeout if wait is None else wait)
        while True:
            record, _ = self._record(owner)
            settled = record.status in (AppStatus.LIVE.value, AppStatus.CRASHED.value)
            remaining = deadline - time.monotonic()
            if (settled and record.commit == commit) or remaining <= 0:
                break
            await self._wait_change(min(remaining, 1.0))
        return await self.status(owner)

    async def unpublish(self, owner: str, reason: str | None = None) -> dict:
        name = object_name(self.app_slug(owner))
        apps, core = client.AppsV1Api(self._api_client), client.CoreV1Api(self._api_client)
        net = client.NetworkingV1Api(self._api_client)
        dep = self._deployments.objects.get(name)
        if dep is not None:
            self._tombstones[name] = dep["metadata"]["uid"]
        for method in (
            net.delete_namespaced_ingress,
            core.delete_namespaced_service,
            apps.delete_namespaced_deployment,
        ):
            await self._delete(method, name)
        self._deployments.forget(name)
        self.log.info("unpublished %s's app%s", owner, f" ({reason})" if reason else "")
        return self.app_record(owner).to_json()

    # --- writes -------------------------------------------------------------------------

    async def _apply(self, obj: dict) -> dict:
        kind, name = obj["kind"], obj["metadata"]["name"]
        method = {
            "Deployment": client.AppsV1Api(self._api_client).patch_namespaced_deployment,
            "Service": client.CoreV1Api(self._api_client).patch_namespaced_service,
            "Ingress": client.NetworkingV1Api(self._api_client).patch_namespaced_ingress,
        }[kind]

        async def apply():
            return await call_json(
                method, name, self.namespace, obj, field_manager=self.field_manager, force=True,
                _content_type="application/apply-patch+yaml",
            )  # fmt: skip

        try:
            return await with_retries(
                apply,
                tries=self.apply_tries,
                base_delay=self.retry_delay,
                what=f"apply {kind} {name}",
            )
        except KubeApiError as e:
            raise UpstreamError(
                f"The cluster refused to publish the app ({kind} {name}: {e.status} {e.reason}). "
                "Try again in a minute; if it persists, tell your instructor.",
                kind=kind,
                status=e.status,
            ) from e

    async def _delete(self, method, name: str):
        async def delete():
            try:
                await call_json(method, name, self.namespace, propagation_policy="Background")
            except KubeApiError as e:
                if e.status != 404:
                    raise

        try:
            await with_retries(
                delete, tries=self.apply_tries, base_delay=self.retry_delay, what=f"delete {name}"
            )
        except KubeApiError as e:
            raise UpstreamError(
                f"The cluster refused to unpublish the app ({name}: {e.status} {e.reason}). Try again.",
                status=e.status,
            ) from e
