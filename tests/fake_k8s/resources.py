"""The kinds the fake API server serves, and its discovery documents.

Parts: ``Resource``, ``RESOURCES``, ``RESOURCES_BY_PLURAL``, ``api_versions``,
``api_groups``, ``api_resource_list``.
"""

from dataclasses import dataclass, field

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple = ()
    has_status: bool = False  # a /status subresource; writes to the object keep status
    has_generation: bool = False
    subresources: tuple = field(default=())

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


RESOURCES = [
    Resource("", "v1", "namespaces", "Namespace", False, ("ns",), has_status=True),
    Resource("", "v1", "pods", "Pod", True, ("po",), True, False, ("status", "log")),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), True),
    Resource("", "v1", "secrets", "Secret"),
    Resource("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    Resource("", "v1", "services", "Service", True, ("svc",), True),
    Resource("", "v1", "events", "Event", True, ("ev",)),
    Resource("apps", "v1", "deployments", "Deployment", True, ("deploy",), True, True, ("status",)),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), True, True, ("status",)),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), True),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
]
RESOURCES_BY_PLURAL = {r.plural: r for r in RESOURCES}


def group_versions() -> dict[str, list[Resource]]:
    out: dict[str, list[Resource]] = {}
    for r in RESOURCES:
        out.setdefault(r.api_version, []).append(r)
    return out


def find_resource(group: str, version: str, plural: str) -> Resource | None:
    r = RESOURCES_BY_PLURAL.get(plural)
    if r and r.group == group and r.version == version:
        return r
    return None


def api_versions(server_address: str) -> dict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_groups() -> dict:
    groups = []
    for gv in group_versions():
        if "/" not in gv:
            continue
        name, version = gv.split("/")
        entry = {"groupVersion": gv, "version": version}
        groups.append({"name": name, "versions": [entry], "preferredVersion": entry})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(group_version: str) -> dict | None:
    resources = group_versions().get(group_version)
    if resources is None:
        return None
    out = []
    for r in resources:
        out.append(
            {
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": _VERBS,
                "shortNames": list(r.short_names),
            }
        )
        for sub in r.subresources:
            verbs = ["get"] if sub == "log" else ["get", "patch", "update"]
            out.append(
                {
                    "name": f"{r.plural}/{sub}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": "Pod" if sub == "log" else r.kind,
                    "verbs": verbs,
                }  # fmt: skip
            )
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": out}  # fmt: skip
