"""The fake cluster's controllers: Deployments (with ReplicaSets) and Ingresses.

``FakeDeploymentController`` does what kube-controller-manager does for Deployments, in
a simplified way: one ReplicaSet per pod template (named ``<deployment>-<hash>``, pods
labelled ``pod-template-hash``), pods created from the template, a rolling update that
respects ``maxSurge``/``maxUnavailable`` (defaults 25%/25%, so one replica rolls with
surge 1 and nothing unavailable), ``Recreate``, scale up/down, old ReplicaSets beyond
``revisionHistoryLimit`` removed, and the Deployment's status (``observedGeneration``,
``replicas``, ``updatedReplicas``, ``readyReplicas``, ``availableReplicas``,
``conditions``). ``minReadySeconds`` and progress deadlines are not modelled.

``FakeIngressController`` plays ingress-nginx: it runs configurable-http-proxy with
``--host-routing`` and keeps one route per Ingress host (``/<host>`` -> the newest ready,
not terminating pod behind the rule's Service, on the Service's ``targetPort``), the way
ingress-nginx sends traffic to a Service's ready endpoints. One target per host (CHP has
no load balancing); TLS, paths other than ``/`` and annotations are not modelled.

Parts: ``FakeDeploymentController``, ``FakeIngressController``.
"""

import asyncio
import contextlib
import copy
import hashlib
import json
import math
import os
import random
import socket
import string
from pathlib import Path

import aiohttp

from .store import ApiError, matches, now_iso, parse_field_selector, parse_label_selector

CHECKOUT = Path(__file__).resolve().parents[2]
CHP = CHECKOUT / "node_modules" / ".bin" / "configurable-http-proxy"


def owner_ref(obj: dict) -> dict:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: dict, owner: dict) -> bool:
    uid = owner["metadata"]["uid"]
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])


def pod_ready(pod: dict) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    for cond in pod.get("status", {}).get("conditions", []):
        if cond["type"] == "Ready":
            return cond["status"] == "True"
    return False


def _scaled(value, replicas: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    pct = int(str(value).rstrip("%"))
    raw = replicas * pct / 100
    return math.ceil(raw) if round_up else math.floor(raw)


class _Reconciler:
    """Runs ``reconcile(key)`` for keys marked dirty by store events, one at a time."""

    def __init__(self, store):
        self.store = store
        self.dirty: set = set()
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        store.subscribers.append(self.on_event)

    def mark(self, key):
        self.dirty.add(key)
        self.wake.set()

    def start(self):
        self.task = asyncio.get_running_loop().create_task(self.loop())

    async def loop(self):
        while True:
            await self.wake.wait()
            self.wake.clear()
            await asyncio.sleep(0.01)  # coalesce bursts of events
            keys, self.dirty = self.dirty, set()
            for key in keys:
                try:
                    await self.reconcile(key)
                except (ApiError, aiohttp.ClientError, OSError) as e:
                    print(f"fake {type(self).__name__}: {key}: {e}", flush=True)
                    self.mark(key)
                    await asyncio.sleep(0.2)

    async def stop(self):
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        with contextlib.suppress(ValueError):
            self.store.subscribers.remove(self.on_event)


class FakeDeploymentController(_Reconciler):
    def on_event(self, ev):
        meta = ev.obj["metadata"]
        ns = meta.get("namespace")
        if ev.plural == "deployments" and ev.type != "DELETED":
            self.mark((ns, meta["name"]))
        elif ev.plural in ("replicasets", "pods"):
            for ref in meta.get("ownerReferences") or []:
                if ev.plural == "replicasets" and ref["kind"] == "Deployment":
                    self.mark((ns, ref["name"]))
                if ev.plural == "pods" and ref["kind"] == "ReplicaSet":
                    rs = self.store.find("replicasets", ns, ref["name"])
                    for r2 in (rs or {"metadata": {}})["metadata"].get("ownerReferences") or []:
                        if r2["kind"] == "Deployment":
                            self.mark((ns, r2["name"]))

    async def reconcile(self, key):
        ns, name = key
        store = self.store
        dep = store.find("deployments", ns, name)
        if dep is None or dep["metadata"].get("deletionTimestamp"):
            return
        spec = dep["spec"]
        replicas = spec.get("replicas", 1)
        template = spec["template"]
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        rss = [rs for rs in store.list("replicasets", ns) if owned_by(rs, dep)]
        new_rs = next(
            (rs for rs in rss if rs["metadata"]["labels"].get("pod-template-hash") == digest), None
        )
        revision = 1 + max(
            (
                int(
                    rs["metadata"]
                    .get("annotations", {})
                    .get("deployment.kubernetes.io/revision", 0)
                )
                for rs in rss
            ),
            default=0,
        )
        if new_rs is None:
            labels = {**(template["metadata"].get("labels") or {}), "pod-template-hash": digest}
            rs_template = copy.deepcopy(template)
            rs_template["metadata"]["labels"] = labels
            new_rs = store.create("replicasets", ns, {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{name}-{digest}", "namespace": ns, "labels": labels,
                             "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                             "ownerReferences": [owner_ref(dep)]},
                "spec": {"replicas": replicas,
                         "selector": {"matchLabels": {**spec["selector"].get("matchLabels", {}),
                                                      "pod-template-hash": digest}},
                         "template": rs_template},
            })  # fmt: skip
        old_rss = [rs for rs in rss if rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        pods = store.list("pods", ns)

        def pods_of(rs, alive=True):
            return [
                p
                for p in pods
                if owned_by(p, rs) and not (alive and p["metadata"].get("deletionTimestamp"))
            ]

        new_pods = pods_of(new_rs)
        old_pods = [p for rs in old_rss for p in pods_of(rs)]
        strategy = spec.get("strategy", {}).get("type", "RollingUpdate")
        if strategy == "Recreate":
            for p in old_pods:
                store.delete("pods", ns, p["metadata"]["name"])
            if any(pods_of(rs, alive=False) for rs in old_rss):
                self.set_status(dep, new_pods, old_pods)
                return
            old_pods = []
            for _ in range(replicas - len(new_pods)):
                new_pods.append(self.create_pod(new_rs))
        else:
            ru = spec.get("strategy", {}).get("rollingUpdate", {})
            surge = _scaled(ru.get("maxSurge", "25%"), replicas, True)
            unavailable = _scaled(ru.get("maxUnavailable", "25%"), replicas, False)
            if surge == 0 and unavailable == 0:
                surge = 1
            room = replicas + surge - len(new_pods) - len(old_pods)
            for _ in range(max(0, min(room, replicas - len(new_pods)))):
                new_pods.append(self.create_pod(new_rs))
            for p in sorted(new_pods, key=pod_ready)[: max(0, len(new_pods) - replicas)]:
                store.delete("pods", ns, p["metadata"]["name"])
                new_pods.remove(p)
            ready = sum(map(pod_ready, new_pods)) + sum(map(pod_ready, old_pods))
            removable = ready - (replicas - unavailable)
            for p in sorted(old_pods, key=pod_ready):  # not-ready old pods go first
                if not pod_ready(p) or removable > 0:
                    if pod_ready(p):
                        removable -= 1
                    store.delete("pods", ns, p["metadata"]["name"])
                    old_pods.remove(p)
        for rs in old_rss + [new_rs]:
            self.set_rs_status(rs, pods_of(rs))
        history = spec.get("revisionHistoryLimit", 10)
        empty_old = [rs for rs in old_rss if not pods_of(rs, alive=False)]
        for rs in empty_old[: max(0, len(empty_old) - history)]:
            store.delete("replicasets", ns, rs["metadata"]["name"])
        self.set_status(dep, new_pods, old_pods)

    def create_pod(self, rs: dict) -> dict:
        t = rs["spec"]["template"]
        suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        meta = copy.deepcopy(t.get("metadata") or {})
        meta.update({"name": f"{rs['metadata']['name']}-{suffix}", "namespace": rs["metadata"]["namespace"],
                     "ownerReferences": [owner_ref(rs)]})  # fmt: skip
        return self.store.create(
            "pods", rs["metadata"]["namespace"],
            {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(t["spec"])},
        )  # fmt: skip

    def set_rs_status(self, rs, pods):
        cur = self.store.find("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"])
        if cur is None:
            return
        new = copy.deepcopy(cur)
        new["spec"]["replicas"] = len(pods)
        ready = sum(map(pod_ready, pods))
        new["status"] = {"replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
                         "observedGeneration": cur["metadata"].get("generation", 1)}  # fmt: skip
        ns, name = cur["metadata"]["namespace"], cur["metadata"]["name"]
        if new["spec"] != cur["spec"]:
            cur = self.store.replace(
                "replicasets", ns, name, {**new, "status": cur.get("status")}, check_rv=False
            )
        self.store.replace(
            "replicasets",
            ns,
            name,
            {**cur, "status": new["status"]},
            subresource="status",
            check_rv=False,
        )

    def set_status(self, dep, new_pods, old_pods):
        replicas = dep["spec"].get("replicas", 1)
        ready = sum(map(pod_ready, new_pods)) + sum(map(pod_ready, old_pods))
        t = now_iso()
        complete = (
            len(new_pods) == replicas and not old_pods and sum(map(pod_ready, new_pods)) == replicas
        )
        status = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": len(new_pods) + len(old_pods),
            "updatedReplicas": len(new_pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, replicas - ready),
            "conditions": [
                {"type": "Available", "status": "True" if ready >= replicas else "False",
                 "reason": "MinimumReplicasAvailable" if ready >= replicas else "MinimumReplicasUnavailable",
                 "lastUpdateTime": t, "lastTransitionTime": t, "message": ""},
                {"type": "Progressing", "status": "True",
                 "reason": "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                 "lastUpdateTime": t, "lastTransitionTime": t, "message": ""},
            ],
        }  # fmt: skip
        cur = self.store.find("deployments", dep["metadata"]["namespace"], dep["metadata"]["name"])
        if cur is None:
            return
        old = cur.get("status", {})
        same = {k: v for k, v in old.items() if k != "conditions"} == {
            k: v for k, v in status.items() if k != "conditions"
        } and [(c["type"], c["status"], c["reason"]) for c in old.get("conditions", [])] == [
            (c["type"], c["status"], c["reason"]) for c in status["conditions"]
        ]
        if not same:
            self.store.replace("deployments", cur["metadata"]["namespace"], cur["metadata"]["name"],
                               {**cur, "status": status}, subresource="status", check_rv=False)  # fmt: skip


def free_port(host="127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class FakeIngressController(_Reconciler):
    """ingress-nginx's part: Ingress hosts -> configurable-http-proxy routes."""

    def __init__(self, store, ingress_class: str = "nginx", host: str = "127.0.0.1"):
        super().__init__(store)
        self.ingress_class = ingress_class
        self.host = host
        self.port = free_port(host)
        self.api_port = free_port(host)
        self.token = os.urandom(16).hex()
        self.proc = None
        self.routes: dict[str, str] = {}
        self.session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start_proxy(self, log_path: Path):
        log = open(log_path, "ab")  # noqa: SIM115
        self.proc = await asyncio.create_subprocess_exec(
            str(CHP), "--host-routing", "--ip", self.host, "--port", str(self.port),
            "--api-ip", self.host, "--api-port", str(self.api_port), "--log-level", "warn",
            env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": self.token},
            stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        log.close()
        self.session = aiohttp.ClientSession(headers={"Authorization": f"token {self.token}"})
        for _ in range(100):
            try:
                async with self.session.get(f"http://{self.host}:{self.api_port}/api/routes") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("configurable-http-proxy did not start")
        self.start()
        self.mark("all")

    def on_event(self, ev):
        if ev.plural in ("ingresses", "services", "pods"):
            self.mark("all")

    def desired_routes(self) -> dict[str, str]:
        store = self.store
        routes = {}
        for ing in store.list("ingresses"):
            if ing["spec"].get("ingressClassName", self.ingress_class) != self.ingress_class:
                continue
            ns = ing["metadata"]["namespace"]
            for rule in ing["spec"].get("rules", []):
                host = rule.get("host")
                paths = rule.get("http", {}).get("paths", [])
                if not host or not paths:
                    continue
                backend = paths[0]["backend"].get("service")
                svc = store.find("services", ns, backend["name"]) if backend else None
                if svc is None:
                    continue
                port = backend["port"]
                sport = next((p for p in svc["spec"].get("ports", [])
                              if p.get("port") == port.get("number") or p.get("name") == port.get("name")), None)  # fmt: skip
                if sport is None:
                    continue
                selector = ",".join(
                    f"{k}={v}" for k, v in (svc["spec"].get("selector") or {}).items()
                )
                lp, fp = parse_label_selector(selector), parse_field_selector("")
                ready = [
                    p for p in store.list("pods", ns) if matches(p, ns, lp, fp) and pod_ready(p)
                ]
                if not ready:
                    continue
                pod = max(
                    ready,
                    key=lambda p: (
                        p["metadata"]["creationTimestamp"],
                        int(p["metadata"]["resourceVersion"]),
                    ),
                )
                target = sport.get("targetPort", sport["port"])
                if isinstance(target, str):
                    target = next((cp["containerPort"] for c in pod["spec"]["containers"]
                                   for cp in c.get("ports", []) if cp.get("name") == target), None)  # fmt: skip
                if target is None:
                    continue
                routes[f"/{host}"] = f"http://{pod['status']['podIP']}:{target}"
        return routes

    async def reconcile(self, key):
        desired = self.desired_routes()
        api = f"http://{self.host}:{self.api_port}/api/routes"
        for path, target in desired.items():
            if self.routes.get(path) != target:
                async with self.session.post(api + path, json={"target": target}) as r:
                    r.raise_for_status()
                self.routes[path] = target
        for path in [p for p in self.routes if p not in desired]:
            async with self.session.delete(api + path) as r:
                if r.status not in (204, 404):
                    r.raise_for_status()
            del self.routes[path]

    async def stop(self):
        await super().stop()
        if self.session:
            await self.session.close()
        if self.proc and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
