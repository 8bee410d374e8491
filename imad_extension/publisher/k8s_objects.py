"""Pure builders of the Kubernetes objects of a published app (no I/O, no clients).

One app is three objects in the apps namespace, all named ``object_name(slug)`` and
labelled ``app.kubernetes.io/managed-by: imad`` plus the owner's slug:

- ``make_deployment``: one replica of the ``images/nodejs-student`` image running the
  app's commit (``REPO_URL``, ``COMMIT``, ``APP_DIR``, ``PORT`` in its env), a
  readiness probe on ``$PORT``, requests and limits, non-root, read-only root
  filesystem (emptyDirs for the checkout, npm's cache and /tmp), all capabilities
  dropped, no service-account token. The commit is an annotation of the pod template,
  so a republish changes the template and rolls out a new pod while the old one serves
  (``maxSurge: 1, maxUnavailable: 0``); a ``preStop`` sleep keeps the old pod answering
  while the ingress controller moves traffic away.
- ``make_service``: ClusterIP port 80 -> the pod's ``http`` port.
- ``make_ingress``: ``<slug>.<apps-domain>`` -> the Service, with the ingress class and
  the wildcard TLS secret of the settings.

The owner's exact user name is an annotation (``imad/owner``): a label value cannot
hold every user name, the slug can. Names are DNS-1035 labels (a Service name must
start with a letter): ``app-<slug>``, or a shortened slug plus a hash when too long.

Parts: ``MANAGED_BY``, ``OWNER_LABEL``, ``OWNER_ANNOTATION``, ``COMMIT_ANNOTATION``,
``PUBLISHED_AT_ANNOTATION``, ``APP_PORT``, ``AppSpec``, ``object_name``,
``selector_labels``, ``app_labels``, ``managed_selector``, ``make_deployment``,
``make_service``, ``make_ingress``, ``make_app_objects``.
"""

import hashlib
from dataclasses import dataclass

MANAGED_BY = {"app.kubernetes.io/managed-by": "imad"}
OWNER_LABEL = "imad/owner"  # the owner's slug: always a valid label value
OWNER_ANNOTATION = "imad/owner"  # the owner's exact user name
COMMIT_ANNOTATION = "imad/commit"
PUBLISHED_AT_ANNOTATION = "imad/published-at"
COMPONENT = "student-app"
APP_PORT = 8080
APP_DIR = "/srv/app"  # the nodejs-student image's checkout (an emptyDir here)
CACHE_DIR = "/srv/cache"  # npm's cache and installed dependencies (an emptyDir)
RUNTIME_UID = 1000  # the image's `node` user


@dataclass(frozen=True)
class AppSpec:
    """What one publish asks for; everything else comes from the settings."""

    owner: str  # JupyterHub user name
    slug: str  # DNS label of the host (imad_extension.names.app_slug)
    host: str  # <slug>.<apps-domain>
    commit: str  # 40 hex
    repo_url: str  # what the runtime fetches (no credentials: see the repository host)
    published_at: str  # ISO-8601 UTC


def object_name(slug: str) -> str:
    """``app-<slug>``: a DNS-1035 label of at most 63 characters, injective in practice."""
    name = f"app-{slug}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(slug.encode()).hexdigest()[:10]
    return f"app-{slug[: 63 - 4 - 11].rstrip('-')}-{digest}"


def selector_labels(slug: str) -> dict:
    """The labels a Service and the Deployment select the app's pods by (immutable)."""
    return {"app.kubernetes.io/name": "imad-app", "app.kubernetes.io/instance": object_name(slug)}


def app_labels(slug: str) -> dict:
    """The labels of every object of the app (and of its pods)."""
    return {
        **selector_labels(slug),
        "app.kubernetes.io/component": COMPONENT,
        **MANAGED_BY,
        OWNER_LABEL: slug,
    }


def managed_selector() -> str:
    """The label selector of everything the classroom manages in the apps namespace."""
    return ",".join(
        f"{k}={v}" for k, v in {**MANAGED_BY, "app.kubernetes.io/component": COMPONENT}.items()
    )


def _metadata(app: AppSpec, namespace: str, **annotations) -> dict:
    return {
        "name": object_name(app.slug),
        "namespace": namespace,
        "labels": app_labels(app.slug),
        "annotations": {OWNER_ANNOTATION: app.owner, **annotations},
    }


def make_deployment(
    app: AppSpec,
    apps: dict,
    *,
    cpu_request: str = "25m",
    memory_request: str = "96Mi",
    prestop_seconds: int = 5,
    termination_grace_seconds: int = 20,
) -> dict:
    """The app's Deployment. ``apps`` is the ``apps`` section of the settings.

    Requests are small (an idle course app needs ~50 MB and next to no CPU) so a class
    of 1,000 fits on a few nodes; limits come from the settings.
    """
    container = {
        "name": "app",
        "image": apps["image"],
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "REPO_URL", "value": app.repo_url},
            {"name": "COMMIT", "value": app.commit},
            {"name": "APP_DIR", "value": APP_DIR},
            {"name": "NPM_CACHE_DIR", "value": CACHE_DIR},
            {"name": "PORT", "value": str(APP_PORT)},
            {"name": "HOME", "value": "/tmp"},
        ],
        "ports": [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "tcpSocket": {"port": "http"},
            "periodSeconds": 2,
            "timeoutSeconds": 1,
            "failureThreshold": 3,
            "successThreshold": 1,
        },
        "resources": {
            "requests": {"cpu": cpu_request, "memory": memory_request},
            "limits": {"cpu": apps["cpu_limit"], "memory": apps["memory_limit"]},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "app", "mountPath": APP_DIR},
            {"name": "cache", "mountPath": CACHE_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "lifecycle": {"preStop": {"sleep": {"seconds": prestop_seconds}}},
    }
    pod_spec = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "fsGroup": RUNTIME_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": termination_grace_seconds,
        "containers": [container],
        "volumes": [
            {"name": "app", "emptyDir": {"sizeLimit": "256Mi"}},
            {"name": "cache", "emptyDir": {"sizeLimit": "512Mi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
    }
    if apps.get("node_selector"):
        pod_spec["nodeSelector"] = dict(apps["node_selector"])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(
            app,
            apps["namespace"],
            **{COMMIT_ANNOTATION: app.commit, PUBLISHED_AT_ANNOTATION: app.published_at},
        ),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": selector_labels(app.slug)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": app_labels(app.slug),
                    "annotations": {OWNER_ANNOTATION: app.owner, COMMIT_ANNOTATION: app.commit},
                },
                "spec": pod_spec,
            },
        },
    }


def make_service(app: AppSpec, apps: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(app, apps["namespace"]),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(app.slug),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def make_ingress(app: AppSpec, apps: dict) -> dict:
    spec = {
        "ingressClassName": apps["ingress_class"],
        "rules": [
            {
                "host": app.host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {
                                "service": {"name": object_name(app.slug), "port": {"name": "http"}}
                            },
                        }
                    ]
                },
            }
        ],
    }
    if apps.get("tls_secret"):
        spec["tls"] = [{"hosts": [app.host], "secretName": apps["tls_secret"]}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(app, apps["namespace"]),
        "spec": spec,
    }


def make_app_objects(app: AppSpec, apps: dict, **deployment_options) -> list[dict]:
    """The three objects of one app, in the order they are applied."""
    return [
        make_deployment(app, apps, **deployment_options),
        make_service(app, apps),
        make_ingress(app, apps),
    ]
