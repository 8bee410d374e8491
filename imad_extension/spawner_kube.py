"""Workspaces on Kubernetes: KubeSpawner traits from the classroom settings.

``configure_kubespawner(c, settings)`` sets (only sets) KubeSpawner's traits on
JupyterHub's config object ``c``; ``hubconfig.update_spawner`` calls it when
``workspace.spawner`` is ``kubernetes``. On z2jh it runs from ``hub.extraConfig``, after
the chart's own configuration, so these values win over ``singleuser.*`` (keep the
helm values' ``singleuser.image`` equal to ``workspace.image``: the image puller and the
NetworkPolicy use the chart's values; ``tests/test_helm_values.py`` checks they agree).

A workspace is one pod per student:

- the singleuser image (``workspace.image``: JupyterLab, both IMAD extensions, node,
  git), started with ``jupyterhub-singleuser``;
- CPU and memory guarantee and limit from ``workspace.*``;
- a PersistentVolumeClaim ``claim-<user>`` of ``workspace.storage`` mounted at the home,
  so ``~/app`` (the student's clone) survives restarts;
- no service-account token, non-root (uid 1000, gid 100, fsGroup 100 as z2jh), no
  privilege escalation, all capabilities dropped, the runtime's default seccomp profile;
- no Service links in the environment (nothing of the namespace leaks into the pod).

Parts: ``HOME``, ``configure_kubespawner``.
"""

HOME = "/home/jovyan"


def configure_kubespawner(c, settings: dict):
    ws = settings["workspace"]
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    k = c.KubeSpawner
    k.image = ws["image"]
    k.image_pull_policy = "IfNotPresent"
    k.cmd = ["jupyterhub-singleuser"]
    k.working_dir = HOME
    k.cpu_guarantee = ws["cpu_guarantee"]
    k.cpu_limit = ws["cpu_limit"]
    k.mem_guarantee = ws["mem_guarantee"]
    k.mem_limit = ws["mem_limit"]
    # Home on a claim of its own: the clone in ~/app survives a restart of the pod.
    k.storage_pvc_ensure = True
    k.pvc_name_template = "claim-{user_server}"
    k.storage_capacity = ws["storage"]
    k.storage_access_modes = ["ReadWriteOnce"]
    k.volumes = [{"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}]
    k.volume_mounts = [{"name": "home", "mountPath": HOME}]
    # z2jh's security context (singleuser.uid/fsGid/allowPrivilegeEscalation), tightened.
    k.uid = 1000
    k.gid = 100
    k.fs_gid = 100
    k.allow_privilege_escalation = False
    k.container_security_context = {
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    k.automount_service_account_token = False
    k.extra_pod_config = {"enableServiceLinks": False}
    k.extra_labels = {"imad/owner": "{username}"}
    # Generous: the first start on a node pulls the image.
    k.start_timeout = 300
    k.http_timeout = 120
    return c
