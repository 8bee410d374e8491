"""Golden tests of the pure builders of a published app's Kubernetes objects.

The literal dicts below are the review surface: a change to what the cluster runs shows
up here as a diff. Every object also passes kubernetes-validate (strict, 1.32).
"""

import copy

import kubernetes_validate
import pytest

from imad_extension.names import app_slug
from imad_extension.publisher.k8s_objects import (
    AppSpec,
    make_app_objects,
    make_deployment,
    make_ingress,
    make_service,
    managed_selector,
    object_name,
)
from imad_extension.settings import DEFAULTS

SHA = "0123456789abcdef0123456789abcdef01234567"
APPS = dict(
    DEFAULTS["apps"],
    publisher="kubernetes",
    domain="apps.example.org",
    scheme="https",
    namespace="imad-apps",
    image="imad/nodejs-student:0.1.0",
    ingress_class="nginx",
    tls_secret="apps-wildcard-tls",
    cpu_limit="500m",
    memory_limit="256Mi",
    node_selector={},
)
ALICE = AppSpec(
    owner="alice",
    slug="alice",
    host="alice.apps.example.org",
    commit=SHA,
    repo_url="https://github.com/alice/imad-app.git",
    published_at="2026-01-02T03:04:05Z",
)
LABELS = {
    "app.kubernetes.io/name": "imad-app",
    "app.kubernetes.io/instance": "app-alice",
    "app.kubernetes.io/component": "student-app",
    "app.kubernetes.io/managed-by": "imad",
    "imad/owner": "alice",
}
SELECTOR = {"app.kubernetes.io/name": "imad-app", "app.kubernetes.io/instance": "app-alice"}

GOLDEN_DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "app-alice",
        "namespace": "imad-apps",
        "labels": LABELS,
        "annotations": {
            "imad/owner": "alice",
            "imad/commit": SHA,
            "imad/published-at": "2026-01-02T03:04:05Z",
        },
    },
    "spec": {
        "replicas": 1,
        "revisionHistoryLimit": 2,
        "selector": {"matchLabels": SELECTOR},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        },
        "template": {
            "metadata": {
                "labels": LABELS,
                "annotations": {"imad/owner": "alice", "imad/commit": SHA},
            },
            "spec": {
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 1000,
                    "runAsGroup": 1000,
                    "fsGroup": 1000,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "terminationGracePeriodSeconds": 20,
                "containers": [
                    {
                        "name": "app",
                        "image": "imad/nodejs-student:0.1.0",
                        "imagePullPolicy": "IfNotPresent",
                        "env": [
                            {"name": "REPO_URL", "value": "https://github.com/alice/imad-app.git"},
                            {"name": "COMMIT", "value": SHA},
                            {"name": "APP_DIR", "value": "/srv/app"},
                            {"name": "NPM_CACHE_DIR", "value": "/srv/cache"},
                            {"name": "PORT", "value": "8080"},
                            {"name": "HOME", "value": "/tmp"},
                        ],
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                        "readinessProbe": {
                            "tcpSocket": {"port": "http"},
                            "periodSeconds": 2,
                            "timeoutSeconds": 1,
                            "failureThreshold": 3,
                            "successThreshold": 1,
                        },
                        "resources": {
                            "requests": {"cpu": "25m", "memory": "96Mi"},
                            "limits": {"cpu": "500m", "memory": "256Mi"},
                        },
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 1000,
                            "runAsGroup": 1000,
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "volumeMounts": [
                            {"name": "app", "mountPath": "/srv/app"},
                            {"name": "cache", "mountPath": "/srv/cache"},
                            {"name": "tmp", "mountPath": "/tmp"},
                        ],
                        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                    }
                ],
                "volumes": [
                    {"name": "app", "emptyDir": {"sizeLimit": "256Mi"}},
                    {"name": "cache", "emptyDir": {"sizeLimit": "512Mi"}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                ],
            },
        },
    },
}

GOLDEN_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "app-alice",
        "namespace": "imad-apps",
        "labels": LABELS,
        "annotations": {"imad/owner": "alice"},
    },
    "spec": {
        "type": "ClusterIP",
        "selector": SELECTOR,
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
    },
}

GOLDEN_INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {
        "name": "app-alice",
        "namespace": "imad-apps",
        "labels": LABELS,
        "annotations": {"imad/owner": "alice"},
    },
    "spec": {
        "ingressClassName": "nginx",
        "rules": [
            {
                "host": "alice.apps.example.org",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "app-alice", "port": {"name": "http"}}},
                        }
                    ]
                },
            }
        ],
        "tls": [{"hosts": ["alice.apps.example.org"], "secretName": "apps-wildcard-tls"}],
    },
}


def test_deployment_golden():
    assert make_deployment(ALICE, APPS) == GOLDEN_DEPLOYMENT


def test_service_golden():
    assert make_service(ALICE, APPS) == GOLDEN_SERVICE


def test_ingress_golden():
    assert make_ingress(ALICE, APPS) == GOLDEN_INGRESS


def test_no_tls_without_a_secret_and_node_selector_when_set():
    apps = dict(APPS, tls_secret="", node_selector={"pool": "apps"})
    assert "tls" not in make_ingress(ALICE, apps)["spec"]
    assert make_deployment(ALICE, apps)["spec"]["template"]["spec"]["nodeSelector"] == {
        "pool": "apps"
    }


def test_a_new_commit_changes_the_pod_template_so_it_rolls():
    other = make_deployment(AppSpec(**{**ALICE.__dict__, "commit": "f" * 40}), APPS)
    assert other["spec"]["template"] != GOLDEN_DEPLOYMENT["spec"]["template"]
    again = make_deployment(
        AppSpec(**{**ALICE.__dict__, "published_at": "2027-01-01T00:00:00Z"}), APPS
    )
    assert (
        again["spec"]["template"] == GOLDEN_DEPLOYMENT["spec"]["template"]
    )  # same commit: no roll


@pytest.mark.parametrize(
    "owner",
    ["alice", "admin", "Bob.Smith", "1337-hacker", "a" * 64, "x_y_z", "dots.and-dashes."],
    ids=[
        "plain",
        "reserved",
        "dots-and-case",
        "leading-digit",
        "longest",
        "underscores",
        "trailing-dot",
    ],
)
def test_every_object_is_valid_for_kubernetes_1_32_strict(owner):
    slug = app_slug(owner.lower())
    app = AppSpec(
        owner.lower(),
        slug,
        f"{slug}.apps.example.org",
        SHA,
        "https://example.org/r.git",
        "2026-01-01T00:00:00Z",
    )
    for obj in make_app_objects(app, dict(APPS, node_selector={"pool": "apps"})):
        assert kubernetes_validate.validate(copy.deepcopy(obj), "1.32", strict=True)
        name = obj["metadata"]["name"]
        assert len(name) <= 63 and name[0].isalpha()
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "imad"
        assert obj["metadata"]["annotations"]["imad/owner"] == owner.lower()


def test_object_names_are_distinct_for_long_slugs():
    a, b = "a" * 62 + "b", "a" * 62 + "c"
    assert object_name(a) != object_name(b) and len(object_name(a)) == 63


def test_managed_selector():
    assert (
        managed_selector()
        == "app.kubernetes.io/managed-by=imad,app.kubernetes.io/component=student-app"
    )
