"""The fake kubelet: runs each pod's containers as local processes, reports like a kubelet.

- Scheduling: every new pod is bound to the one node (``spec.nodeName``) and gets its own
  loopback address as pod IP (``<prefix>.N``, e.g. 127.0.0.N or 127.R.S.N). A small C
  shim (``netns_shim.c``, LD_PRELOAD) binds "all addresses" to that IP, standing in for
  the pod's network namespace, so two pods can both listen on one port.
- Images: a registry of ``ImageSpec`` (entrypoint, cmd, env, workingDir) stands in for
  the image's config: the container's ``command``/``args`` override them as in Docker.
- Volumes: ``emptyDir`` and ``persistentVolumeClaim`` volumes are local directories
  (a claim's directory outlives the pod); ``secret``/``configMap`` volumes are files.
  The container's paths are rewritten: any ``mountPath`` in argv, env values or
  ``workingDir`` becomes the local directory (``/home/jovyan`` -> ``<root>/pvc/...``).
  Claims are bound (``status.phase: Bound``) when created, as a dynamic provisioner would.
- Status: phase, podIP/hostIP, conditions (PodScheduled, Initialized, ContainersReady,
  Ready), containerStatuses (waiting ContainerCreating / running / terminated,
  lastState, restartCount, ready from the readiness probe: tcpSocket, httpGet or exec).
- Restarts: ``restartPolicy`` Always/OnFailure restart an exited container after a
  back-off (``CrashLoopBackOff``; ``backoff_base`` doubling to ``backoff_max`` seconds,
  much shorter than Kubernetes' 10 s to 5 min); Never ends the pod Succeeded/Failed.
- Logs: stdout+stderr of each run, per container; ``previous`` reads the run before.
- Deletion: ``preStop`` (``sleep`` and ``exec``), then SIGTERM to the process group,
  SIGKILL after the grace period, then the pod is removed from the store.
- Events (Scheduled, Pulled, Created, Started, Killing, BackOff, Unhealthy) as
  ``v1 Event`` objects, which KubeSpawner shows as spawn progress.
- ``start_delay`` (seconds) slows every pod start (the "slow pod start" fault).

Not emulated: users and groups (``runAsUser`` ...), read-only root filesystems,
capabilities, resource limits, image pulls, init containers, liveness probes.

Parts: ``ImageSpec``, ``FakeKubelet``.
"""

import asyncio
import contextlib
import copy
import os
import re
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from .store import ApiError, now_iso

SHIM_SOURCE = Path(__file__).with_name("netns_shim.c")


@dataclass
class ImageSpec:
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""


def build_shim(dest: Path) -> Path:
    out = dest / "netns_shim.so"
    if not out.exists():
        subprocess.run(
            ["gcc", "-shared", "-fPIC", "-O2", "-o", str(out), str(SHIM_SOURCE), "-ldl"],
            check=True,
            capture_output=True,
        )
    return out


class Container:
    """One container of a pod: its process, runs and status."""

    def __init__(self, pod: "PodRuntime", spec: dict):
        self.pod = pod
        self.spec = spec
        self.name = spec["name"]
        self.proc: asyncio.subprocess.Process | None = None
        self.restart_count = 0
        self.state: dict = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: dict = {}
        self.ready = False
        self.started_at = None
        self.log_dir = pod.dir / "logs" / self.name
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def log_path(self, run: int) -> Path:
        return self.log_dir / f"{run}.log"

    def status(self) -> dict:
        s = {
            "name": self.name,
            "image": self.spec["image"],
            "imageID": f"fake://{self.spec['image']}",
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": "running" in self.state,
            "state": copy.deepcopy(self.state),
            "lastState": copy.deepcopy(self.last_state),
        }
        if "waiting" not in self.state:
            s["containerID"] = f"fake://{self.pod.uid}-{self.name}-{self.restart_count}"
        return s


class PodRuntime:
    def __init__(self, kubelet: "FakeKubelet", pod: dict, ip: str):
        self.kubelet = kubelet
        self.ns = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.ip = ip
        self.dir = kubelet.root / "pods" / self.uid
        self.dir.mkdir(parents=True, exist_ok=True)
        self.spec = pod["spec"]
        self.containers = [Container(self, c) for c in self.spec["containers"]]
        self.tasks: list[asyncio.Task] = []
        self.terminating = False
        self.phase = "Pending"
        self.mounts: dict[str, dict[str, Path]] = {}
        self.start_time = None

    # -- status
    def publish_status(self):
        store = self.kubelet.store
        pod = store.find("pods", self.ns, self.name)
        if pod is None or pod["metadata"]["uid"] != self.uid:
            return
        all_ready = all(c.ready for c in self.containers)
        started = any("waiting" not in c.state for c in self.containers)
        t = now_iso()
        old = {c["type"]: c for c in pod.get("status", {}).get("conditions", [])}

        def cond(type_, ok):
            value = "True" if ok else "False"
            prev = old.get(type_)
            when = prev["lastTransitionTime"] if prev and prev["status"] == value else t
            return {
                "type": type_,
                "status": value,
                "lastTransitionTime": when,
                "lastProbeTime": None,
            }

        status = {
            "phase": self.phase,
            "hostIP": self.kubelet.host_ip,
            "hostIPs": [{"ip": self.kubelet.host_ip}],
            "podIP": self.ip,
            "podIPs": [{"ip": self.ip}],
            "startTime": self.start_time or t,
            "qosClass": "Burstable",
            "conditions": [
                cond("PodScheduled", True),
                cond("Initialized", True),
                cond("ContainersReady", all_ready and started),
                cond("Ready", all_ready and started),
            ],
            "containerStatuses": [c.status() for c in self.containers],
        }
        self.start_time = status["startTime"]
        new = copy.deepcopy(pod)
        new["status"] = status
        store.replace("pods", self.ns, self.name, new, subresource="status", check_rv=False)

    # -- volumes and paths
    def prepare_volumes(self, container: dict) -> list[tuple[str, Path]]:
        store = self.kubelet.store
        vols = {v["name"]: v for v in self.spec.get("volumes", [])}
        mounts = []
        for m in container.get("volumeMounts", []):
            vol = vols.get(m["name"])
            if vol is None:
                raise RuntimeError(f"volume {m['name']} not found")
            if "persistentVolumeClaim" in vol:
                claim = vol["persistentVolumeClaim"]["claimName"]
                store.get("persistentvolumeclaims", self.ns, claim)
                path = self.kubelet.root / "pvc" / self.ns / claim
            elif "emptyDir" in vol:
                path = self.dir / "volumes" / m["name"]
            elif "secret" in vol or "configMap" in vol:
                path = self.dir / "volumes" / m["name"]
                if "secret" in vol:
                    obj = store.get("secrets", self.ns, vol["secret"]["secretName"])
                    import base64

                    data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
                    data.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
                else:
                    obj = store.get("configmaps", self.ns, vol["configMap"]["name"])
                    data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
                path.mkdir(parents=True, exist_ok=True)
                for k, v in data.items():
                    (path / k).write_bytes(v)
            else:
                raise RuntimeError(
                    f"volume type of {m['name']} is not supported by the fake kubelet"
                )
            if m.get("subPath"):
                path = path / m["subPath"]
            path.mkdir(parents=True, exist_ok=True)
            mounts.append((m["mountPath"].rstrip("/") or "/", path))
        mounts.sort(key=lambda mp: -len(mp[0]))
        return mounts

    @staticmethod
    def map_paths(value: str, mounts) -> str:
        """Rewrite paths under a mountPath to the volume's local directory.

        A path that exists on this machine (``/tmp/pytest-.../repo.git``) is this
        machine's and is left alone, even when a volume is mounted at ``/tmp``.
        """
        for mount_path, local in mounts:
            pattern = (
                r"(?:(?<=^)|(?<=[\s=:,\"']))"
                + re.escape(mount_path)
                + r"(/[^\s:=,;\"']*)?(?=$|[\s:=,;\"'])"
            )

            def swap(m, local=local):
                if os.path.exists(m.group(0)):
                    return m.group(0)
                return str(local) + (m.group(1) or "")

            value = re.sub(pattern, swap, value)
        return value

    def env_for(self, container: dict, image: ImageSpec, mounts) -> dict:
        store = self.kubelet.store
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOSTNAME": self.name}
        env.update(image.env)
        for e in container.get("env", []):
            if "value" in e:
                env[e["name"]] = str(e["value"])
            elif "valueFrom" in e:
                src = e["valueFrom"]
                if "fieldRef" in src:
                    path = src["fieldRef"]["fieldPath"]
                    env[e["name"]] = {
                        "status.podIP": self.ip,
                        "metadata.name": self.name,
                        "metadata.namespace": self.ns,
                        "spec.nodeName": self.kubelet.node_name,
                    }.get(path, "")
                elif "secretKeyRef" in src:
                    import base64

                    ref = src["secretKeyRef"]
                    obj = store.get("secrets", self.ns, ref["name"])
                    env[e["name"]] = base64.b64decode(
                        obj.get("data", {}).get(ref["key"], "")
                    ).decode()
            else:
                env[e["name"]] = ""
        env = {k: self.map_paths(v, mounts) for k, v in env.items()}
        env["FAKE_POD_IP"] = self.ip
        env["LD_PRELOAD"] = str(self.kubelet.shim)
        return env

    def argv_for(self, container: dict, image: ImageSpec, mounts) -> list[str]:
        if container.get("command"):
            argv = list(container["command"]) + list(container.get("args", []))
        else:
            argv = list(image.entrypoint) + list(container.get("args") or image.cmd)
        if not argv:
            raise RuntimeError("no command: neither the container nor its image sets one")
        return [self.map_paths(a, mounts) for a in argv]

    # -- lifecycle
    async def run(self):
        kubelet = self.kubelet
        kubelet.event(
            self,
            "Normal",
            "Scheduled",
            f"Successfully assigned {self.ns}/{self.name} to {kubelet.node_name}",
        )
        self.publish_status()
        if kubelet.start_delay:
            await asyncio.sleep(kubelet.start_delay)
        if self.terminating:
            return
        self.phase = "Running"
        self.tasks += [asyncio.create_task(self.run_container(c)) for c in self.containers]

    async def start_process(self, c: Container):
        image = self.kubelet.images.get(c.spec["image"])
        if image is None:
            image = self.kubelet.default_image
        mounts = self.prepare_volumes(c.spec)
        env = self.env_for(c.spec, image, mounts)
        argv = self.argv_for(c.spec, image, mounts)
        workdir = c.spec.get("workingDir") or image.working_dir or ""
        cwd = self.map_paths(workdir, mounts) if workdir else ""
        if not cwd or not Path(cwd).is_dir():
            cwd = str(self.dir)
        log = open(c.log_path(c.restart_count), "ab")  # noqa: SIM115 (owned by the process)
        try:
            c.proc = await asyncio.create_subprocess_exec(
                *argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()
        self.kubelet.processes.add(c.proc)

    async def run_container(self, c: Container):
        kubelet = self.kubelet
        backoff = kubelet.backoff_base
        policy = self.spec.get("restartPolicy", "Always")
        while not self.terminating:
            kubelet.event(
                self,
                "Normal",
                "Pulled",
                f'Container image "{c.spec["image"]}" already present on machine',
            )
            try:
                await self.start_process(c)
            except (OSError, RuntimeError, ApiError) as e:
                c.state = {"waiting": {"reason": "CreateContainerError", "message": str(e)}}
                kubelet.event(self, "Warning", "Failed", f"Error: {e}")
                self.publish_status()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, kubelet.backoff_max)
                continue
            kubelet.event(self, "Normal", "Created", f"Created container {c.name}")
            kubelet.event(self, "Normal", "Started", f"Started container {c.name}")
            c.started_at = now_iso()
            c.state = {"running": {"startedAt": c.started_at}}
            c.ready = not c.spec.get("readinessProbe")
            self.publish_status()
            probe = asyncio.create_task(self.probe_loop(c))
            started = time.monotonic()
            code = await c.proc.wait()
            kubelet.processes.discard(c.proc)
            probe.cancel()
            c.ready = False
            finished = now_iso()
            term = {
                "exitCode": code if code >= 0 else 128 - code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": c.started_at,
                "finishedAt": finished,
                "containerID": f"fake://{self.uid}-{c.name}-{c.restart_count}",
            }
            if code < 0:
                term["signal"] = -code
            if self.terminating:
                c.state = {"terminated": term}
                return
            restart = policy == "Always" or (policy == "OnFailure" and code != 0)
            if not restart:
                c.state = {"terminated": term}
                if all("terminated" in x.state for x in self.containers):
                    ok = all(x.state["terminated"]["exitCode"] == 0 for x in self.containers)
                    self.phase = "Succeeded" if ok else "Failed"
                self.publish_status()
                return
            if time.monotonic() - started > kubelet.backoff_reset:
                backoff = kubelet.backoff_base
            c.last_state = {"terminated": term}
            c.state = {"waiting": {"reason": "CrashLoopBackOff",
                                   "message": f"back-off {backoff}s restarting failed container={c.name} pod={self.name}"}}  # fmt: skip
            self.publish_status()
            kubelet.event(self, "Warning", "BackOff", "Back-off restarting failed container")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, kubelet.backoff_max)
            c.restart_count += 1

    async def probe_loop(self, c: Container):
        probe = c.spec.get("readinessProbe")
        if not probe:
            return
        await asyncio.sleep(min(probe.get("initialDelaySeconds", 0), 1))
        period = min(probe.get("periodSeconds", 10), self.kubelet.probe_period)
        threshold = probe.get("failureThreshold", 3)
        failures = 0
        while True:
            ok = await self.check(c, probe)
            failures = 0 if ok else failures + 1
            ready = ok or (c.ready and failures < threshold)
            if ready != c.ready:
                c.ready = ready
                self.publish_status()
            await asyncio.sleep(period)

    def resolve_port(self, c: Container, port) -> int:
        if isinstance(port, int):
            return port
        for p in c.spec.get("ports", []):
            if p.get("name") == port:
                return p["containerPort"]
        raise RuntimeError(f"port {port!r} not found")

    async def check(self, c: Container, probe: dict) -> bool:
        timeout = probe.get("timeoutSeconds", 1)
        try:
            if "tcpSocket" in probe:
                port = self.resolve_port(c, probe["tcpSocket"]["port"])
                _, writer = await asyncio.wait_for(asyncio.open_connection(self.ip, port), timeout)
                writer.close()
                return True
            if "httpGet" in probe:
                h = probe["httpGet"]
                port = self.resolve_port(c, h["port"])
                url = f"http://{self.ip}:{port}{h.get('path', '/')}"
                async with (
                    aiohttp.ClientSession() as s,
                    s.get(
                        url, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
                    ) as r,
                ):
                    return 200 <= r.status < 400
            if "exec" in probe:
                p = await asyncio.create_subprocess_exec(*probe["exec"]["command"])
                return await asyncio.wait_for(p.wait(), timeout) == 0
        except (OSError, TimeoutError, RuntimeError, aiohttp.ClientError):
            return False
        return False

    async def terminate(self, grace: float):
        if self.terminating:
            return
        self.terminating = True
        kubelet = self.kubelet
        deadline = time.monotonic() + grace
        for c in self.containers:
            if c.proc and c.proc.returncode is None:
                kubelet.event(self, "Normal", "Killing", f"Stopping container {c.name}")
        pre_stops = []
        for c in self.containers:
            pre = (c.spec.get("lifecycle") or {}).get("preStop") or {}
            if c.proc and c.proc.returncode is None and pre:
                if "sleep" in pre:
                    pre_stops.append(asyncio.sleep(pre["sleep"]["seconds"]))
                elif "exec" in pre:
                    pre_stops.append(self.exec_hook(c, pre["exec"]["command"]))
        if pre_stops:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*pre_stops), max(0, deadline - time.monotonic())
                )
        for c in self.containers:
            _signal(c.proc, signal.SIGTERM)
        for c in self.containers:
            if c.proc and c.proc.returncode is None:
                try:
                    await asyncio.wait_for(c.proc.wait(), max(0.05, deadline - time.monotonic()))
                except TimeoutError:
                    _signal(c.proc, signal.SIGKILL)
                    await c.proc.wait()
        for t in self.tasks:
            t.cancel()

    async def exec_hook(self, c, command):
        p = await asyncio.create_subprocess_exec(
            *command, env={"FAKE_POD_IP": self.ip, "PATH": os.environ["PATH"]}
        )
        await p.wait()


def _signal(proc, sig):
    if proc and proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


class FakeKubelet:
    """See the module docstring. ``images`` maps image names to ``ImageSpec``."""

    def __init__(self, store, root: Path, images: dict | None = None, ip_prefix: str = "127.0.0",
                 node_name: str = "fake-node"):  # fmt: skip
        self.store = store
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.images: dict[str, ImageSpec] = dict(images or {})
        self.default_image = ImageSpec()
        self.ip_prefix = ip_prefix
        self.host_ip = f"{ip_prefix}.2"
        self.node_name = node_name
        self.pods: dict[str, PodRuntime] = {}
        self.free_ips = [f"{ip_prefix}.{n}" for n in range(10, 250)]
        self.processes: set = set()
        self.start_delay = 0.0
        self.backoff_base = 0.5
        self.backoff_max = 4.0
        self.backoff_reset = 10.0
        self.probe_period = 0.25
        self.shim = build_shim(self.root)
        self.tasks: set[asyncio.Task] = set()
        store.subscribers.append(self.on_event)
        store.graceful_delete = self.graceful_delete

    def spawn(self, coro):
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def on_event(self, ev):
        if ev.plural == "persistentvolumeclaims" and ev.type == "ADDED":
            self.spawn(self.bind_claim(ev.obj))
        if ev.plural != "pods":
            return
        uid = ev.obj["metadata"]["uid"]
        if ev.type == "ADDED" and uid not in self.pods:
            ip = self.free_ips.pop(0)
            pod = ev.obj
            runtime = PodRuntime(self, pod, ip)
            self.pods[uid] = runtime
            self.spawn(self.bind_and_run(runtime))
        elif ev.type == "DELETED" and uid in self.pods:
            self.spawn(self.forget(uid, terminate=True))

    async def bind_claim(self, pvc):
        await asyncio.sleep(0)
        cur = self.store.find(
            "persistentvolumeclaims", pvc["metadata"]["namespace"], pvc["metadata"]["name"]
        )
        if cur is None:
            return
        new = copy.deepcopy(cur)
        new["status"] = {
            "phase": "Bound",
            "accessModes": cur["spec"].get("accessModes", ["ReadWriteOnce"]),
            "capacity": {
                "storage": cur["spec"]
                .get("resources", {})
                .get("requests", {})
                .get("storage", "1Gi")
            },
        }
        self.store.replace("persistentvolumeclaims", cur["metadata"]["namespace"], cur["metadata"]["name"],
                           new, subresource="status", check_rv=False)  # fmt: skip

    async def bind_and_run(self, rt: PodRuntime):
        await asyncio.sleep(0)
        pod = self.store.find("pods", rt.ns, rt.name)
        if pod is None or pod["metadata"]["uid"] != rt.uid:
            return
        if not pod["spec"].get("nodeName"):
            bound = copy.deepcopy(pod)
            bound["spec"]["nodeName"] = self.node_name
            self.store.replace("pods", rt.ns, rt.name, bound, check_rv=False)
        await rt.run()

    def graceful_delete(self, pod) -> bool:
        rt = self.pods.get(pod["metadata"]["uid"])
        if rt is None:
            return False
        self.spawn(
            self.forget(rt.uid, terminate=True, grace=pod["metadata"]["deletionGracePeriodSeconds"])
        )
        return True

    async def forget(self, uid: str, terminate: bool, grace: float = 0):
        rt = self.pods.get(uid)
        if rt is None:
            return
        if terminate:
            await rt.terminate(grace)
        self.pods.pop(uid, None)
        self.free_ips.append(rt.ip)
        cur = self.store.find("pods", rt.ns, rt.name)
        if cur is not None and cur["metadata"]["uid"] == uid:
            self.store.remove("pods", rt.ns, rt.name)

    def event(self, rt: PodRuntime, type_: str, reason: str, message: str):
        t = now_iso()
        with contextlib.suppress(ApiError):
            self.store.create("events", rt.ns, {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"{rt.name}.{uuid.uuid4().hex[:16]}", "namespace": rt.ns},
                "involvedObject": {"kind": "Pod", "namespace": rt.ns, "name": rt.name,
                                   "uid": rt.uid, "apiVersion": "v1"},
                "reason": reason, "message": message, "type": type_, "count": 1,
                "firstTimestamp": t, "lastTimestamp": t,
                "source": {"component": "kubelet", "host": self.node_name},
                "reportingComponent": "kubelet", "reportingInstance": self.node_name,
            })  # fmt: skip

    def read_log(self, ns, name, container=None, previous=False, tail=None) -> str:
        pod = self.store.get("pods", ns, name)
        rt = self.pods.get(pod["metadata"]["uid"])
        if rt is None:
            return ""
        c = rt.containers[0]
        if container:
            found = [x for x in rt.containers if x.name == container]
            if not found:
                raise ApiError(
                    400, "BadRequest", f"container {container} is not valid for pod {name}"
                )
            c = found[0]
        run = c.restart_count - 1 if previous else c.restart_count
        if previous and run < 0:
            raise ApiError(
                400,
                "BadRequest",
                f'previous terminated container "{c.name}" in pod "{name}" not found',
            )
        path = c.log_path(run)
        if not path.exists():
            if "waiting" in c.state and not previous and c.restart_count == 0:
                reason = c.state["waiting"].get("reason", "ContainerCreating")
                raise ApiError(
                    400,
                    "BadRequest",
                    f'container "{c.name}" in pod "{name}" is waiting to start: {reason}',
                )
            return ""
        text = path.read_text(errors="replace")
        if tail is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail:]) if tail > 0 else ""
        return text

    async def shutdown(self):
        await asyncio.gather(
            *(rt.terminate(1.0) for rt in list(self.pods.values())), return_exceptions=True
        )
        for p in list(self.processes):
            _signal(p, signal.SIGKILL)
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
