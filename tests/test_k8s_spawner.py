"""configure_kubespawner: the workspace pod and claim KubeSpawner makes from the settings.

Unmodified KubeSpawner builds the manifests from the config the function writes; they
must say what the design asks (image, resources, claim at the home, no token, non-root,
no privilege escalation, capabilities dropped) and pass kubernetes-validate (strict,
1.32). Spawning through a real hub is in test_k8s_e2e.py.
"""

import copy
from unittest import mock

import kubernetes_validate
from jupyterhub.objects import Hub, Server
from kubernetes_asyncio.client import ApiClient
from kubespawner import KubeSpawner
from traitlets.config import Config

from imad_extension.settings import DEFAULTS
from imad_extension.spawner_kube import configure_kubespawner


def settings(**workspace):
    s = copy.deepcopy(DEFAULTS)
    s["workspace"].update(spawner="kubernetes", **workspace)
    return s


def make_spawner(config: Config) -> KubeSpawner:
    user = mock.Mock(name="alice", url="/user/alice/", escaped_name="alice", id=1)
    user.name = "alice"
    user.server = Server()
    user.settings = {}
    hub = Hub()
    # no cluster: KubeSpawner neither loads a kubeconfig nor watches anything here
    with (
        mock.patch("kubespawner.spawner.load_config"),
        mock.patch("kubespawner.spawner.shared_client"),
        mock.patch.object(KubeSpawner, "_start_watching_pods"),
        mock.patch.object(KubeSpawner, "_start_watching_events"),
    ):
        spawner = KubeSpawner(config=config, user=user, hub=hub, namespace="jhub", _mock=True)
    spawner.api_token = "secret-token"
    return spawner


def test_traits_follow_the_settings():
    c = configure_kubespawner(
        Config(), settings(image="example.org/imad/singleuser:1.2.3", mem_limit="2G")
    )
    assert c.JupyterHub.spawner_class == "kubespawner.KubeSpawner"
    assert c.KubeSpawner.image == "example.org/imad/singleuser:1.2.3"
    assert c.KubeSpawner.mem_limit == "2G" and c.KubeSpawner.storage_capacity == "1Gi"
    again = configure_kubespawner(
        copy.deepcopy(c), settings(image="example.org/imad/singleuser:1.2.3", mem_limit="2G")
    )
    assert again == c  # set-only: applying twice changes nothing


async def test_pod_and_claim_manifests():
    spawner = make_spawner(configure_kubespawner(Config(), settings()))
    pod = await spawner.get_pod_manifest()
    pvc = spawner.get_pvc_manifest()
    api = ApiClient()
    pod, pvc = api.sanitize_for_serialization(pod), api.sanitize_for_serialization(pvc)
    await api.close()
    kubernetes_validate.validate(pod, "1.32", strict=True)
    kubernetes_validate.validate(pvc, "1.32", strict=True)

    spec = pod["spec"]
    (container,) = spec["containers"]
    assert container["image"] == "imad/singleuser:0.1.0"
    assert container["args"][0] == "jupyterhub-singleuser"
    # KubeSpawner's byte units: "256M" and "1G" are powers of 1024
    assert container["resources"] == {
        "requests": {"cpu": 0.1, "memory": 256 * 2**20},
        "limits": {"cpu": 1.0, "memory": 2**30},
    }
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["securityContext"]["fsGroup"] == 100
    sc = container["securityContext"]
    assert sc["runAsUser"] == 1000 and sc["runAsGroup"] == 100 and sc["runAsNonRoot"] is True
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "home", "mountPath": "/home/jovyan"} in container["volumeMounts"]
    assert {"name": "home", "persistentVolumeClaim": {"claimName": "claim-alice"}} in spec[
        "volumes"
    ]
    assert pod["metadata"]["labels"]["imad/owner"] == "alice"
    assert pvc["metadata"]["name"] == "claim-alice"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert "secret-token" not in str(
        pod["metadata"]
    )  # the token only in the env, as KubeSpawner does
    assert env.get("JUPYTERHUB_USER") == "alice"
