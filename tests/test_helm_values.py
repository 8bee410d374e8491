"""The kubernetes-mode deployment files: z2jh values against the chart's schema, and the
apps-namespace manifests against Kubernetes 1.32 (kubernetes-validate, strict).

The chart's schema and default values are in ../shared/reference/z2jh/ (see its README);
these tests skip when that directory is absent.
"""

import copy
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from imad_extension.hubconfig import roles_for
from imad_extension.publisher.k8s_objects import AppSpec, make_app_objects, managed_selector
from imad_extension.roster import Roster
from imad_extension.settings import DEFAULTS, _merge

ROOT = Path(__file__).resolve().parent.parent
VALUES = ROOT / "helm-values" / "values.yaml"
MANIFESTS = sorted((ROOT / "helm-values" / "apps-namespace").glob("*.yaml"))
Z2JH = ROOT.parent / "shared" / "reference" / "z2jh"
needs_chart = pytest.mark.skipif(
    not (Z2JH / "values.schema.yaml").exists(), reason="z2jh schema not present"
)


def deep_merge(base, over):
    """Helm's merge of user values over chart defaults: maps merge, anything else replaces."""
    if not isinstance(base, dict) or not isinstance(over, dict):
        return copy.deepcopy(over)
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = deep_merge(out.get(key), value) if key in out else copy.deepcopy(value)
    return out


def load_values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def merged_values(values=None) -> dict:
    defaults = yaml.safe_load((Z2JH / "values.yaml").read_text())
    return deep_merge(defaults, values if values is not None else load_values())


def chart_schema() -> dict:
    return yaml.safe_load((Z2JH / "values.schema.yaml").read_text())


def imad_settings(values: dict) -> dict:
    """The classroom settings the hub will load from the values (defaults + the file)."""
    settings = copy.deepcopy(DEFAULTS)
    _merge(settings, values["hub"]["extraFiles"]["imad-config"]["data"], "helm-values")
    return settings


@needs_chart
def test_values_validate_against_the_chart_schema():
    jsonschema.validate(merged_values(), chart_schema())


@needs_chart
def test_a_typo_in_the_values_fails_the_schema():
    values = load_values()
    values["singleuser"]["memroy"] = {"limit": "1G"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(merged_values(values), chart_schema())


def test_the_embedded_classroom_settings_are_valid_and_in_kubernetes_mode():
    settings = imad_settings(load_values())
    assert settings["mode"] == "kubernetes"
    assert settings["workspace"]["spawner"] == "kubernetes"
    assert settings["apps"]["publisher"] == "kubernetes"
    assert settings["auth"]["kind"] == "github"
    hub_domain = settings["hub"]["public_url"].split("//")[1]
    # the apps live under a different registrable domain from the hub's
    assert hub_domain.split(".")[-2:] != settings["apps"]["domain"].split(".")[-2:]


def test_the_embedded_roster_parses():
    from imad_extension.roster_csv import parse_roster_csv

    roster = parse_roster_csv(load_values()["hub"]["extraFiles"]["imad-roster"]["stringData"])
    assert roster.cohorts


def test_chart_values_agree_with_the_classroom_settings():
    values = load_values()
    settings = imad_settings(values)
    ws, su = settings["workspace"], values["singleuser"]
    assert f"{su['image']['name']}:{su['image']['tag']}" == ws["image"]
    assert (su["cpu"]["guarantee"], su["cpu"]["limit"]) == (ws["cpu_guarantee"], ws["cpu_limit"])
    assert (su["memory"]["guarantee"], su["memory"]["limit"]) == (
        ws["mem_guarantee"],
        ws["mem_limit"],
    )
    assert su["storage"]["capacity"] == ws["storage"]
    port = settings["service"]["port"]
    assert values["hub"]["service"]["extraPorts"][0]["port"] == port
    extra = values["prePuller"]["extraImages"]["nodejs-student"]
    assert f"{extra['name']}:{extra['tag']}" == settings["apps"]["image"]
    role = values["hub"]["loadRoles"]["imad-service"]
    expected = next(r for r in roles_for(settings, Roster({}, [])) if r["name"] == "imad-service")
    assert (
        sorted(role["scopes"]) == sorted(expected["scopes"])
        and role["services"] == expected["services"]
    )
    assert "configure(c, load_settings())" in values["hub"]["extraConfig"]["imad"]
    assert (
        values["hub"]["extraEnv"]["IMAD_CONFIG"]
        == values["hub"]["extraFiles"]["imad-config"]["mountPath"]
    )


def manifests():
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.name, doc


@pytest.mark.parametrize(
    "name, doc", list(manifests()), ids=lambda x: x if isinstance(x, str) else x["metadata"]["name"]
)
def test_apps_namespace_manifests_are_valid_for_kubernetes_1_32_strict(name, doc):
    kubernetes_validate.validate(doc, "1.32", strict=True)
    namespace = imad_settings(load_values())["apps"]["namespace"]
    assert doc["metadata"].get("namespace", doc["metadata"]["name"]) == namespace


def test_every_manifest_the_project_writes_is_valid_for_kubernetes_1_32_strict():
    settings = imad_settings(load_values())
    app = AppSpec(
        "alice",
        "alice",
        f"alice.{settings['apps']['domain']}",
        "a" * 40,
        "https://github.com/alice/imad-app.git",
        "2026-01-01T00:00:00Z",
    )
    for obj in make_app_objects(app, settings["apps"]):
        kubernetes_validate.validate(obj, "1.32", strict=True)


def test_the_role_allows_exactly_what_the_publisher_does():
    docs = dict((d["kind"], d) for _, d in manifests() if d["kind"] in ("Role", "RoleBinding"))
    rules = {
        (g, r): set(rule["verbs"])
        for rule in docs["Role"]["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    apply_verbs = {"create", "patch", "delete", "get"}
    assert rules == {
        ("apps", "deployments"): apply_verbs | {"list", "watch"},
        ("", "services"): apply_verbs,
        ("networking.k8s.io", "ingresses"): apply_verbs,
        ("", "pods"): {"get", "list", "watch"},
        ("", "pods/log"): {"get"},
    }
    assert docs["RoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "hub", "namespace": "jhub"}
    ]


def test_network_policies_select_the_apps_the_publisher_makes():
    policies = [d for _, d in manifests() if d["kind"] == "NetworkPolicy"]
    selected = dict(kv.split("=") for kv in managed_selector().split(","))
    for p in policies:
        match = p["spec"]["podSelector"].get("matchLabels", {})
        assert match.items() <= selected.items()
    egress = next(p for p in policies if p["metadata"]["name"] == "apps-to-dns-and-internet")
    blocked = egress["spec"]["egress"][1]["to"][0]["ipBlock"]["except"]
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(blocked)
