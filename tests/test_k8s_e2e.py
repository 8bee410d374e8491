"""End to end in kubernetes mode, against the fake cluster.

The real hub (``jupyterhub -f jupyterhub_config.py``) with ``workspace.spawner:
kubernetes`` and ``apps.publisher: kubernetes``, pointed at the fake API server through a
generated kubeconfig: alice logs in, her workspace is a pod spawned by unmodified
KubeSpawner (its singleuser server a local process on the pod's own 127.x.y.N address,
its home a PersistentVolumeClaim), she edits, commits and publishes; her app is a
Deployment + Service + Ingress, reached by host name through the fake ingress
controller; a republish fails no request; unpublish leaves no object behind; stopping
the workspace deletes its pod and keeps its claim.

The hub itself runs in local mode here (its database, proxy and service on this
machine): only the parts that differ in a cluster (workspaces, apps) are Kubernetes.
"""

import json
import os
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from . import classroom as classroom_module
from .classroom import AppPoller, Classroom
from .fake_k8s import FakeCluster, ImageSpec
from .publisher_helpers import ENTRYPOINT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
NAMESPACE = "imad-apps"
VENV_BIN = str(Path(sys.executable).parent)
IMAGES = {
    # the singleuser image: this checkout's venv has JupyterLab and both extensions
    "imad/singleuser:0.1.0": ImageSpec(
        entrypoint=[str(classroom_module.ROOT / "images" / "singleuser" / "start.sh")],
        cmd=["jupyterhub-singleuser"],
        env={
            "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/home/jovyan",
            "SHELL": "/bin/sh",
        },
        working_dir="/home/jovyan",
    ),
    "imad/nodejs-student:0.1.0": ImageSpec(
        entrypoint=[str(ENTRYPOINT)],
        env={
            "APP_DIR": "/srv/app",
            "NPM_CACHE_DIR": "/srv/cache",
            "PORT": "8080",
            "HOME": "/home/node",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        },  # fmt: skip
    ),
}

def images(root: Path) -> dict:
    """The fake image registry. The fake kubelet cannot switch users (runAsUser): when the
    tests run as root, the singleuser image's Jupyter config allows root, as the real
    image (uid 1000) never needs to."""
    if os.geteuid() != 0:
        return IMAGES
    conf = root / "singleuser-jupyter-config"
    conf.mkdir()
    (conf / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"allow_root": True}})
    )
    singleuser = IMAGES["imad/singleuser:0.1.0"]
    env = {**singleuser.env, "JUPYTER_CONFIG_DIR": str(conf)}
    return {
        **IMAGES,
        "imad/singleuser:0.1.0": ImageSpec(
            singleuser.entrypoint, singleuser.cmd, env, singleuser.working_dir
        ),
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    c = FakeCluster(root, images=images(root), namespaces=("default", NAMESPACE), ingress=True)
    c.start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def k8s_classroom(tmp_path_factory, cluster):
    root = tmp_path_factory.mktemp("k8s-classroom")
    kubeconfig = cluster.write_kubeconfig(root / "kubeconfig")
    config = root / "imad.yaml"
    config.write_text(yaml.safe_dump({
        "workspace": {"spawner": "kubernetes"},
        "apps": {"publisher": "kubernetes", "namespace": NAMESPACE, "start_timeout": 30},
    }))  # fmt: skip
    room = Classroom(
        root / "state", extra_env={"IMAD_CONFIG": str(config), "KUBECONFIG": str(kubeconfig)}
    )
    room.ports["IMAD_APPS_PORT"] = cluster.ingress.port  # apps are served by the ingress
    room.apps_port = cluster.ingress.port
    try:  # the hub hands KUBECONFIG on to the classroom service (hubconfig.update_service)
        room.start(timeout=90)
    except Exception:
        room.stop()
        raise
    yield room
    room.stop()


def test_spawn_commit_publish_republish_unpublish(k8s_classroom, cluster):
    room = k8s_classroom
    session = room.login("alice")
    assert session.login_response.status_code == 302, session.login_response.text
    token = room.token(session, "alice")
    room.spawn(token, "alice", timeout=120)

    # the workspace is a pod of KubeSpawner's, with its home on a claim
    pods = cluster.objects("pods", "default", "component=singleuser-server")
    assert [p["metadata"]["name"] for p in pods] == ["jupyter-alice"]
    pod = pods[0]
    assert pod["status"]["podIP"].startswith(cluster.ip_prefix)
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["spec"]["containers"][0]["image"] == "imad/singleuser:0.1.0"
    assert [
        c["metadata"]["name"] for c in cluster.objects("persistentvolumeclaims", "default")
    ] == ["claim-alice"]

    def api(method, path, **kw):
        return room.server_api(token, "alice", method, f"imad/api/{path}", **kw)

    def wait_ready():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ws = api("GET", "workspace")
            if ws.status_code == 200 and ws.json()["state"] == "ready":
                return ws.json()
            time.sleep(0.3)
        raise AssertionError(f"workspace not ready: {ws.status_code} {ws.text}")

    wait_ready()
    page = room.server_api(token, "alice", "GET", "api/contents/app/public/index.html").json()[
        "content"
    ]
    marker = f"k8s-{uuid.uuid4().hex[:8]}"
    r = room.server_api(token, "alice", "PUT", "api/contents/app/public/index.html",
                        json={"type": "file", "format": "text", "content": page.replace("Hello", marker)})  # fmt: skip
    assert r.status_code == 200, r.text
    r = api("POST", "publish", json={"message": "My first change"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "live", body
    sha = body["commit"]

    def fetch(timeout=5):
        return room.fetch_app("alice", timeout=timeout)

    deadline = time.monotonic() + 15
    while marker not in fetch().text and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker in fetch().text
    deployments = cluster.objects("deployments", NAMESPACE)
    assert [d["metadata"]["annotations"]["imad/commit"] for d in deployments] == [sha]

    # republish while a client polls: no failed request
    marker2 = f"second-{uuid.uuid4().hex[:8]}"
    page = room.server_api(token, "alice", "GET", "api/contents/app/public/index.html").json()[
        "content"
    ]
    room.server_api(token, "alice", "PUT", "api/contents/app/public/index.html",
                    json={"type": "file", "format": "text", "content": page.replace(marker, marker2)})  # fmt: skip
    with AppPoller(fetch, marker2) as poller:
        r = api("POST", "publish", json={"message": "Second version"})
        assert r.status_code == 200 and r.json()["status"] == "live", r.text
        deadline = time.monotonic() + 15
        poller.wait_for_marker(15)
        while len(cluster.objects("pods", NAMESPACE)) > 1 and time.monotonic() < deadline:
            time.sleep(0.1)  # until the old pod is gone
        time.sleep(0.3)
    assert poller.failed == [] and poller.saw_marker and poller.ok > 20, poller

    # unpublish: nothing of the app is left in the cluster
    r = api("DELETE", "app")
    assert r.status_code == 200 and r.json()["status"] == "unpublished", r.text
    deadline = time.monotonic() + 30
    kinds = ("deployments", "replicasets", "pods", "services", "ingresses")
    while any(cluster.objects(k, NAMESPACE) for k in kinds) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(cluster.objects(k, NAMESPACE) for k in kinds)
    assert fetch().status_code == 404

    # stopping the workspace deletes its pod; the claim (her ~/app) stays
    r = requests.delete(
        room.url("hub/api/users/alice/server"),
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    assert r.status_code in (202, 204), r.text
    deadline = time.monotonic() + 60
    while (
        cluster.objects("pods", "default", "component=singleuser-server")
        and time.monotonic() < deadline
    ):
        time.sleep(0.3)
    assert not cluster.objects("pods", "default", "component=singleuser-server")
    assert [
        c["metadata"]["name"] for c in cluster.objects("persistentvolumeclaims", "default")
    ] == ["claim-alice"]
