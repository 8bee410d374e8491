"""The fake Kubernetes cluster itself: API semantics, kubelet, controllers, ingress, kubectl.

These pin the behaviours the publisher and KubeSpawner rely on, so a test that passes
against the fake says something about the real API.
"""

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from .fake_k8s import FakeCluster, ImageSpec

ECHO = ImageSpec(
    entrypoint=[sys.executable, str(Path(__file__).parent / "fake_k8s" / "echo_server.py")]
)
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def cluster(tmp_path):
    c = FakeCluster(tmp_path / "cluster", images={"echo:1": ECHO}, ingress=True)
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
async def api(cluster, tmp_path):
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with client.ApiClient(cfg) as api_client:
        yield api_client


def pod_manifest(name, labels=None, env=None, probe=True):
    container = {
        "name": "app",
        "image": "echo:1",
        "env": [{"name": k, "value": v} for k, v in {"PORT": "8080", **(env or {})}.items()],
        "ports": [{"name": "http", "containerPort": 8080}],
    }
    if probe:
        container["readinessProbe"] = {"tcpSocket": {"port": "http"}, "periodSeconds": 1}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 2},
    }


def deployment_manifest(name, message, replicas=1):
    pod = pod_manifest(name, env={"MESSAGE": message})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod["spec"]},
        },
    }


async def until(predicate, timeout=15.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate.__qualname__}")


async def test_crud_status_errors_and_strict_validation(api):
    core = client.CoreV1Api(api)
    created = await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "c1"}, "data": {"a": "1"}}
    )
    meta = created.metadata
    assert (
        meta.uid
        and meta.creation_timestamp
        and meta.namespace == "default"
        and meta.resource_version
    )
    with pytest.raises(ApiException) as e:
        await core.create_namespaced_config_map("default", {"metadata": {"name": "c1"}})
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as e:
        await core.read_namespaced_pod("nope", "default")
    body = json.loads(e.value.body)
    assert (e.value.status, body["kind"], body["reason"]) == (404, "Status", "NotFound")
    with pytest.raises(ApiException) as e:  # strict: an unknown field is refused
        await core.create_namespaced_config_map("default", {"metadata": {"name": "c2"}, "bogus": 1})
    assert e.value.status == 422 and "bogus" in json.loads(e.value.body)["message"]
    with pytest.raises(ApiException) as e:  # PUT with a stale resourceVersion
        stale = {"metadata": {"name": "c1", "resourceVersion": "1"}, "data": {}}
        await core.replace_namespaced_config_map("c1", "default", stale)
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "Conflict"
    patched = await core.patch_namespaced_config_map(
        "c1", "default", {"data": {"a": None, "b": "2"}}
    )
    assert patched.data == {"b": "2"}
    with pytest.raises(ApiException) as e:
        await core.create_namespaced_config_map("missing-ns", {"metadata": {"name": "c"}})
    assert e.value.status == 404


async def test_server_side_apply_creates_merges_and_drops_unapplied_fields(api, cluster):
    core = client.CoreV1Api(api)
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "labels": {"a": "1", "b": "2"}},
        "data": {"k": "v"},
    }
    first = await core.patch_namespaced_config_map(
        "x", "default", cm, field_manager="imad", _content_type="application/apply-patch+yaml"
    )
    assert first.metadata.labels == {"a": "1", "b": "2"}
    # another writer adds a label: apply keeps it; a label imad no longer applies goes
    await core.patch_namespaced_config_map("x", "default", {"metadata": {"labels": {"other": "y"}}})
    cm["metadata"]["labels"] = {"a": "1"}
    second = await core.patch_namespaced_config_map(
        "x", "default", cm, field_manager="imad", _content_type="application/apply-patch+yaml"
    )
    assert second.metadata.labels == {"a": "1", "other": "y"}
    again = await core.patch_namespaced_config_map(
        "x", "default", cm, field_manager="imad", _content_type="application/apply-patch+yaml"
    )
    assert again.metadata.resource_version == second.metadata.resource_version  # no-op apply


async def test_list_watch_selectors_resume_and_410(api, cluster):
    core = client.CoreV1Api(api)
    for name, tier in (("a", "web"), ("b", "db")):
        await core.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "labels": {"tier": tier}}}
        )
    listed = await core.list_namespaced_config_map("default", label_selector="tier in (web)")
    assert [i.metadata.name for i in listed.items] == ["a"]
    listed = await core.list_namespaced_config_map(
        "default", field_selector="metadata.name!=a", label_selector="tier"
    )
    assert [i.metadata.name for i in listed.items] == ["b"]
    rv = listed.metadata.resource_version
    await core.patch_namespaced_config_map("a", "default", {"data": {"x": "1"}})
    await core.patch_namespaced_config_map(
        "b", "default", {"metadata": {"labels": {"tier": "web"}}}
    )
    await core.delete_namespaced_config_map("a", "default")
    events = []
    async with watch.Watch().stream(core.list_namespaced_config_map, "default", label_selector="tier=web",
                                    resource_version=rv, timeout_seconds=1) as stream:  # fmt: skip
        async for ev in stream:
            events.append((ev["type"], ev["object"].metadata.name))
    assert events == [("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    cluster.call(cluster.store.compact)
    with pytest.raises(ApiException) as e:
        async with watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=rv,
                                        timeout_seconds=1) as stream:  # fmt: skip
            async for _ in stream:
                pass
    assert e.value.status == 410


async def test_faults_error_once_then_succeed(api, cluster):
    core = client.CoreV1Api(api)
    cluster.faults.fail("POST", "/configmaps", 500)
    with pytest.raises(ApiException) as e:
        await core.create_namespaced_config_map("default", {"metadata": {"name": "f"}})
    assert e.value.status == 500 and json.loads(e.value.body)["reason"] == "InternalError"
    await core.create_namespaced_config_map("default", {"metadata": {"name": "f"}})


async def test_dropped_watch_ends_the_stream(api, cluster):
    core = client.CoreV1Api(api)
    got = []

    async def consume():
        try:
            async with watch.Watch().stream(
                core.list_namespaced_config_map, "default", timeout_seconds=30
            ) as s:
                async for ev in s:
                    got.append(ev["type"])
        except (TimeoutError, aiohttp.ClientError):
            got.append("dropped")

    task = asyncio.create_task(consume())
    await until(lambda: asyncio.sleep(0, len(cluster.faults.watches)))
    assert cluster.call(cluster.faults.drop_watches) == 1
    await asyncio.wait_for(task, 5)  # the client sees the connection end, not a hang


async def test_kubelet_runs_pods_on_their_own_ip_with_logs_and_restarts(api, cluster):
    core = client.CoreV1Api(api)
    await core.create_namespaced_pod("default", pod_manifest("one"))
    await core.create_namespaced_pod("default", pod_manifest("two"))

    async def both_ready():
        pods = (await core.list_namespaced_pod("default")).items
        ready = [
            p
            for p in pods
            if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        return ready if len(ready) == 2 else None

    pods = await until(both_ready)
    ips = {p.status.pod_ip for p in pods}
    assert len(ips) == 2 and all(ip.startswith(cluster.ip_prefix) for ip in ips)
    assert all(p.spec.node_name == "fake-node" and p.status.phase == "Running" for p in pods)
    async with aiohttp.ClientSession() as s:
        for ip in ips:  # both listen on 8080, each on its own pod IP
            async with s.get(f"http://{ip}:8080/") as r:
                assert await r.text() == "hello"
    assert "listening on 8080" in await core.read_namespaced_pod_log("one", "default")
    events = await core.list_namespaced_event(
        "default", field_selector="involvedObject.kind=Pod,involvedObject.name=one"
    )
    assert {"Scheduled", "Started"} <= {e.reason for e in events.items}

    await core.create_namespaced_pod("default", pod_manifest("crash", env={"CRASH": "1"}))

    async def crash_looping():
        p = await core.read_namespaced_pod("crash", "default")
        cs = (p.status.container_statuses or [None])[0]
        return (
            cs
            if cs
            and cs.restart_count >= 1
            and cs.state.waiting
            and cs.state.waiting.reason == "CrashLoopBackOff"
            else None
        )

    cs = await until(crash_looping)
    assert cs.last_state.terminated.exit_code == 1 and not cs.ready
    assert "crashed on purpose" in await core.read_namespaced_pod_log(
        "crash", "default", previous=True, tail_lines=5
    )

    await core.delete_namespaced_pod("one", "default")
    terminating = await core.read_namespaced_pod("one", "default")
    assert terminating.metadata.deletion_timestamp is not None

    async def gone():
        names = [p.metadata.name for p in (await core.list_namespaced_pod("default")).items]
        return "one" not in names

    await until(gone)


async def test_deployment_rolls_out_and_ingress_routes_by_host(api, cluster):
    apps = client.AppsV1Api(api)
    net = client.NetworkingV1Api(api)
    core = client.CoreV1Api(api)
    await apps.create_namespaced_deployment("default", deployment_manifest("web", "v1"))
    await core.create_namespaced_service("default", {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
    })  # fmt: skip
    await net.create_namespaced_ingress("default", {
        "metadata": {"name": "web"},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "web.apps.test", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]},
    })  # fmt: skip

    async def ready(n=1):
        d = await apps.read_namespaced_deployment("web", "default")
        st = d.status
        done = st.ready_replicas == n and st.updated_replicas == n and st.replicas == n
        return d if done and st.observed_generation == d.metadata.generation else None

    await until(ready)

    async def body():
        async with aiohttp.ClientSession() as s:
            async with s.get(cluster.ingress_url, headers={"Host": "web.apps.test"}) as r:
                return await r.text() if r.status == 200 else None

    assert await until(body) == "v1"
    first_pods = {
        p.metadata.name
        for p in (await core.list_namespaced_pod("default", label_selector="app=web")).items
    }
    await apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {"containers": [
        {**deployment_manifest("web", "v2")["spec"]["template"]["spec"]["containers"][0]}]}}}})  # fmt: skip

    async def v2():
        return (await body()) == "v2"

    await until(v2)
    await until(ready)

    async def old_gone():
        pods = {
            p.metadata.name
            for p in (await core.list_namespaced_pod("default", label_selector="app=web")).items
        }
        return not (pods & first_pods)

    await until(old_gone)
    rs = await apps.list_namespaced_replica_set("default")
    assert len(rs.items) == 2  # the old ReplicaSet is kept (history), scaled to 0
    await apps.delete_namespaced_deployment("web", "default")

    async def all_gone():
        pods = (await core.list_namespaced_pod("default", label_selector="app=web")).items
        return not pods and not (await apps.list_namespaced_replica_set("default")).items

    await until(all_gone)


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed")
def test_kubectl_works_against_the_fake(cluster, tmp_path):
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
    manifest = tmp_path / "pod.json"
    manifest.write_text(json.dumps(pod_manifest("kubectl-pod")))

    def kubectl(*args):
        return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args],
                              capture_output=True, text=True, timeout=30)  # fmt: skip

    applied = kubectl("apply", "--server-side", "--validate=false", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        out = kubectl("get", "pods")
        if "1/1" in out.stdout:
            break
        time.sleep(0.2)
    assert out.returncode == 0 and "kubectl-pod" in out.stdout and "Running" in out.stdout, out
    deleted = kubectl("delete", "pod", "kubectl-pod", "--grace-period=1")
    assert deleted.returncode == 0, deleted.stderr
    assert "No resources found" in kubectl("get", "pods").stderr
