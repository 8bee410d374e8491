"""Kubernetes publisher: each app is a Deployment + Service + Ingress in the apps namespace.

- ``publish`` writes the app's three objects (``k8s_objects``) by server-side apply with
  one field manager (3 writes), each retried with backoff on 409/429/5xx. The commit is
  an annotation of the pod template, so a republish is a rolling update: the new pod
  must be ready before the old one goes (``maxUnavailable: 0``), and a republish that
  crashes leaves the previous version serving, as in local mode.
- ``status``, ``statuses`` and ``list_apps`` read two watch caches
  (``kube.Reflector``): the labelled Deployments and the labelled Pods of the apps
  namespace, each object trimmed to the fields read here (``trim_deployment``,
  ``trim_pod``) so 10,000 apps fit in little memory. No API call per request, except
  the pod log API for the logs of one app (``status(owner, logs=True)``), and only
  when that pod's container changed since its logs were read (a crash loop restarts,
  a pod starts) or, for a running container whose logs grow, at most once per
  ``log_cache_seconds``. A container that has not run yet has no logs: no call.
- An app is ``live`` when a pod of its latest commit is ready, ``crashed`` when such a
  pod has exited (restarted, ``CrashLoopBackOff``, image errors, ``Failed``), else
  ``starting``; its logs are the last ``apps.log_lines`` lines of that pod (of the run
  that crashed, for a crash loop). ``serving`` is the commit of the newest ready pod.
- ``unpublish`` deletes the three objects (the pods go with the Deployment).
- Everything is in the cluster (owner, commit and publish time are annotations), so a
  restarted service rebuilds its state from the first list: nothing is lost.

Parts: ``KubernetesPublisher``, ``pod_crashed``, ``pod_ready``, ``trim_deployment``,
``trim_pod``.
"""

import asyncio
import sys
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


# --- what the watch caches keep (``Reflector(transform=...)``) ----------------------------
# Only the fields this module reads, plus a few that say where an object is (generation,
# replica counts) for whoever debugs the cache. A full Pod or Deployment is ~3 KB of JSON
# (spec, pod template, managedFields) and ~20 KB as Python objects; the trimmed copy is a
# small fraction. Keys come from the literals below (one shared string each), label keys
# and values and the condition and state words are interned: 10,000 apps repeat them.

_METADATA_KEYS = ("name", "namespace", "uid", "resourceVersion", "generation",
                  "creationTimestamp", "deletionTimestamp")  # fmt: skip
_SKIPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
_CONDITION_KEYS = ("type", "status", "reason", "lastTransitionTime")
_STATE_KEYS = ("reason", "exitCode", "signal", "startedAt", "finishedAt")
_CONTAINER_KEYS = ("name", "ready", "started", "restartCount")
_POD_STATUS_KEYS = ("phase", "reason", "podIP")
_DEPLOYMENT_STATUS_KEYS = ("observedGeneration", "replicas", "readyReplicas",
                           "updatedReplicas", "availableReplicas", "unavailableReplicas")  # fmt: skip


def _pick(d: dict | None, keys) -> dict:
    return {k: d[k] for k in keys if k in d} if d else {}


def _intern(value):
    return sys.intern(value) if isinstance(value, str) else value


def _trim_metadata(meta: dict) -> dict:
    out = _pick(meta, _METADATA_KEYS)
    if meta.get("labels"):
        out["labels"] = {sys.intern(k): _intern(v) for k, v in meta["labels"].items()}
    if meta.get("annotations"):
        out["annotations"] = {
            sys.intern(k): v
            for k, v in meta["annotations"].items()
            if k not in _SKIPPED_ANNOTATIONS
        }
    return out


def _trim_conditions(conditions: list | None) -> list:
    return [{k: _intern(v) for k, v in _pick(c, _CONDITION_KEYS).items()} for c in conditions or ()]


def _trim_state(state: dict | None) -> dict:
    """``{"running"|"waiting"|"terminated": {reason, exitCode, signal, startedAt, finishedAt}}``"""
    return {
        sys.intern(kind): {k: _intern(v) for k, v in _pick(detail, _STATE_KEYS).items()}
        for kind, detail in (state or {}).items()
    }


def trim_pod(pod: dict) -> dict:
    """The copy of a Pod the cache keeps: metadata, and status phase, podIP, conditions
    and containerStatuses (name, ready, started, restartCount, state, lastState)."""
    status = pod.get("status") or {}
    kept = {k: _intern(v) for k, v in _pick(status, _POD_STATUS_KEYS).items()}
    if "conditions" in status:
        kept["conditions"] = _trim_conditions(status["conditions"])
    if "containerStatuses" in status:
        kept["containerStatuses"] = [
            {**_pick(cs, _CONTAINER_KEYS), "state": _trim_state(cs.get("state")),
             "lastState": _trim_state(cs.get("lastState"))}
            for cs in status["containerStatuses"]
        ]  # fmt: skip
    return {"metadata": _trim_metadata(pod["metadata"]), "status": kept}


def trim_deployment(dep: dict) -> dict:
    """The copy of a Deployment the cache keeps: metadata (the app's owner, commit and
    publish time are annotations), spec.replicas, and the rollout's status."""
    status = dep.get("status") or {}
    kept = _pick(status, _DEPLOYMENT_STATUS_KEYS)
    if "conditions" in status:
        kept["conditions"] = _trim_conditions(status["conditions"])
    return {
        "metadata": _trim_metadata(dep["metadata"]),
        "spec": _pick(dep.get("spec"), ("replicas",)),
        "status": kept,
    }


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
    log_cache_seconds = Float(
        10.0,
        config=True,
        help="""Seconds the logs of a running container are reused for before
        ``status(owner)`` reads them from the pod log API again (a live app's logs grow;
        its panel polls the status every 15 s). The logs of a container that is not
        running (crashed, waiting to restart, exited) are reused until its container
        status changes (state or restartCount): they cannot change meanwhile.""",
    )

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
        # pod name -> (what its logs were read for, when, the lines); see ``_logs``.
        self._log_cache: dict[str, tuple[tuple, float, list[str]]] = {}

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self):
        if self._api_client is None:
            self._api_client = await make_api_client(self.kubeconfig)
        apps, core = client.AppsV1Api(self._api_client), client.CoreV1Api(self._api_client)
        selector = managed_selector()
        self._deployments = Reflector(
            apps.list_namespaced_deployment, self.namespace, selector, self._on_deployment,
            self.watch_timeout, "deployments", transform=trim_deployment,
        )  # fmt: skip
        self._pods = Reflector(
            core.list_namespaced_pod, self.namespace, selector, self._on_pod,
            self.watch_timeout, "pods", transform=trim_pod,
        )  # fmt: skip
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
            for name in [n for n in self._log_cache if n not in self._pods.objects]:
                del self._log_cache[name]
        else:
            self._unindex_pod(obj["metadata"]["name"])
            if type_ != "DELETED":
                self._index_pod(obj)
            else:
                self._log_cache.pop(obj["metadata"]["name"], None)
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

    def _record(self, owner: str) -> tuple[dict, dict | None]:
        """The app dict of ``owner`` from the caches (no logs), and its newest pod of the
        latest commit (the one its status and logs are about)."""
        name = object_name(self.app_slug(owner))
        dep = self._deployments.objects.get(name) if self._deployments else None
        if dep is None or dep["metadata"].get("deletionTimestamp"):
            return self.app_dict(owner), None
        annotations = _annotations(dep)
        commit = annotations.get(COMMIT_ANNOTATION)
        pods = self._pods_by_app.get(name)
        if pods is None:
            pods = ()
        elif len(pods) == 1:
            pods = tuple(pods.values())
        else:
            pods = sorted(
                pods.values(),
                key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]),
            )
        current = [
            p for p in pods
            if _annotations(p).get(COMMIT_ANNOTATION) == commit and not p["metadata"].get("deletionTimestamp")
        ]  # fmt: skip
        ready = [p for p in pods if pod_ready(p)]
        live = [p for p in current if pod_ready(p)]
        if live:
            status, pod = AppStatus.LIVE, live[-1]
        elif crashed := [p for p in current if pod_crashed(p)]:
            status, pod = AppStatus.CRASHED, crashed[-1]
        else:
            status, pod = AppStatus.STARTING, (current[-1] if current else None)
        published_at = annotations.get(PUBLISHED_AT_ANNOTATION)
        times = [published_at]
        if pod:
            st = pod.get("status", {})
            times += [c.get("lastTransitionTime") for c in st.get("conditions", [])]
            for cs in st.get("containerStatuses", []):
                for state in (cs.get("state", {}), cs.get("lastState", {})):
                    for detail in state.values():
                        times += [detail.get("startedAt"), detail.get("finishedAt")]
        app = self.app_dict(
            owner,
            status=status.value,
            commit=commit,
            published_at=published_at,
            updated_at=_latest_time(*times),
            serving=_annotations(ready[-1]).get(COMMIT_ANNOTATION) if ready else None,
        )
        return app, pod

    async def _logs(self, pod: dict | None, crashed: bool) -> list[str]:
        """The last log lines of ``pod``'s app container: of the run that crashed, for a
        crash loop. Read from the API only when they may have changed (module docstring)."""
        if pod is None:
            return []
        name = pod["metadata"]["name"]
        statuses = pod.get("status", {}).get("containerStatuses", [])
        cs = next((c for c in statuses if c.get("name") == "app"), statuses[0] if statuses else {})
        state, restarts = cs.get("state") or {}, cs.get("restartCount", 0)
        if not state or ("waiting" in state and not restarts and not cs.get("lastState")):
            return []  # the container has not run yet: it has no logs to read
        running = "running" in state
        previous = crashed and not running and restarts > 0
        key = (restarts, next(iter(state)), previous)
        cached = self._log_cache.get(name)
        if cached and cached[0] == key:
            if not running or time.monotonic() - cached[1] < self.log_cache_seconds:
                return cached[2]
        core = client.CoreV1Api(self._api_client)
        try:
            body = await call_json(
                core.read_namespaced_pod_log, name, self.namespace,
                container="app", tail_lines=self.settings["apps"]["log_lines"], previous=previous,
                limit_bytes=self.settings["apps"]["log_max_bytes"],
            )  # fmt: skip
        except KubeApiError as e:
            self.log.debug("no logs for %s: %s", name, e)
            return []
        lines = body.get("text", "").splitlines()[-self.settings["apps"]["log_lines"] :]
        if name in self._pods.objects:  # not a pod deleted while we read
            self._log_cache[name] = (key, time.monotonic(), lines)
        return lines

    # --- the interface ------------------------------------------------------------------

    async def status(self, owner: str, logs: bool = True) -> dict:
        app, pod = self._record(owner)
        if logs and app["status"] != AppStatus.UNPUBLISHED.value:
            app["logs"] = await self._logs(pod, app["status"] == AppStatus.CRASHED.value)
        return app

    async def statuses(self, owners) -> list[dict]:
        """The apps of ``owners`` from the caches only, in one pass (no logs, no API call)."""
        return [self._record(owner)[0] for owner in owners]

    async def list_apps(self) -> list[dict]:
        """Every published app, from the caches only (``logs`` empty: see ``status``)."""
        owners = sorted(
            _annotations(d).get(OWNER_ANNOTATION)
            for d in self._deployments.objects.values()
            if _annotations(d).get(OWNER_ANNOTATION) and not d["metadata"].get("deletionTimestamp")
        )
        return await self.statuses(owners)

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
            app, _ = self._record(owner)
            settled = app["status"] in (AppStatus.LIVE.value, AppStatus.CRASHED.value)
            remaining = deadline - time.monotonic()
            if (settled and app["commit"] == commit) or remaining <= 0:
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
