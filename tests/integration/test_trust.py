"""The trust model the API server enforces (docs/security.md), on the real local apiserver.

- Aggregated ClusterRoles: a namespace user bound to the built-in ``edit`` (or ``admin``)
  ClusterRole may create and change our kinds but never write their status; one bound to
  ``view`` may only read. Checked by SubjectAccessReviews for made-up users, and by acting
  as them (impersonation): real creates, and real refusals.
- ``admissionPolicy.enabled``: the chart's ValidatingAdmissionPolicy, applied from ``helm
  template --show-only`` and bound to the test's namespace only (the cluster may be shared),
  refuses each forbidden field of a TrainingJob's or a RetrainPolicy template's pods with a
  message that names the field, lets an allowed manifest through, and lets metadata updates
  of objects made before it through.
- The NetworkPolicy and the policy's binding as rendered from values.

The operator's own service account (what it may and may not do) is tested in
test_chart.py, on a real ``helm install``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s_client
from kubernetes.client import ApiClient

from localcluster.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "mlops-operator"
HELM = REPO / ".local" / "bin" / "helm"
KUBECTL = REPO / ".local" / "bin" / "kubectl"
EXAMPLES = REPO / "examples"

pytestmark = pytest.mark.skipif(
    not HELM.exists(), reason=f"{HELM} is missing: `make toolchain` builds helm"
)

Obj = dict[str, Any]
OURS = ["trainingjobs", "modeldeployments", "retrainpolicies"]
STATUS = [f"{plural}/status" for plural in OURS]
WRITE = ["create", "update", "patch", "delete"]
READ = ["get", "list", "watch"]


def helm_template(release: str, namespace: str, values: Obj, *show_only: str) -> list[Obj]:
    args = [str(HELM), "template", release, str(CHART), "--namespace", namespace]
    args += [a for s in show_only for a in ("--show-only", f"templates/{s}")]
    args += ["--values", "-"]
    result = subprocess.run(
        args, input=yaml.safe_dump(values), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def kubectl(
    kubeconfig: str, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(KUBECTL), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "KUBECONFIG": kubeconfig},
    )
    if check and result.returncode != 0:
        pytest.fail(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
    return result


def example(name: str, kind: str | None = None) -> Obj:
    docs = list(yaml.safe_load_all((EXAMPLES / name).read_text()))
    found: Obj = next(d for d in docs if kind is None or d["kind"] == kind)
    return found


# --- rendered: aggregated roles, NetworkPolicy, the admission policy ----------------------


def _rules(role: Obj) -> set[tuple[str, str, str]]:
    return {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def test_aggregated_roles_render() -> None:
    objs = helm_template("rel", "ops", {}, "aggregated-roles.yaml")
    roles = {o["metadata"]["name"]: o for o in objs}
    assert set(roles) == {"rel-mlops-operator-ops-view", "rel-mlops-operator-ops-edit"}
    view, edit = roles["rel-mlops-operator-ops-view"], roles["rel-mlops-operator-ops-edit"]
    aggregate = "rbac.authorization.k8s.io/aggregate-to-"
    assert {k for k in view["metadata"]["labels"] if k.startswith(aggregate)} == {
        f"{aggregate}view"
    }
    assert {k for k in edit["metadata"]["labels"] if k.startswith(aggregate)} == {
        f"{aggregate}edit",
        f"{aggregate}admin",
    }
    assert _rules(view) == {("mlops.dev", r, v) for r in OURS + STATUS for v in READ}
    assert _rules(edit) == {("mlops.dev", r, v) for r in OURS for v in [*WRITE, "deletecollection"]}
    off = subprocess.run(
        [str(HELM), "template", "rel", str(CHART), "--set", "rbac.aggregateToDefaultRoles=false"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "aggregate-to-" not in off


def test_network_policy_renders() -> None:
    (policy,) = helm_template("rel", "ops", {}, "networkpolicy.yaml")
    (deployment,) = helm_template("rel", "ops", {}, "deployment.yaml")
    spec = policy["spec"]
    assert spec["podSelector"] == deployment["spec"]["selector"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert [r["ports"] for r in spec["ingress"]] == [
        [{"port": "metrics", "protocol": "TCP"}],
        [{"port": "health", "protocol": "TCP"}],
    ]
    assert "from" not in spec["ingress"][0]  # metricsFrom empty: anyone may scrape
    egress = [sorted((p["port"], p["protocol"]) for p in r["ports"]) for r in spec["egress"]]
    assert egress == [
        [(443, "TCP"), (6443, "TCP")],  # the API server
        [(9090, "TCP")],  # Prometheus
        [(53, "TCP"), (53, "UDP")],  # DNS
    ]
    assert all("to" not in r for r in spec["egress"])

    prometheus_peer = {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}
    extra = {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 443}]}
    (narrow,) = helm_template(
        "rel",
        "ops",
        {
            "networkPolicy": {
                "metricsFrom": [prometheus_peer],
                "apiServer": {"ports": [6443], "cidrs": ["10.96.0.1/32", "192.168.1.10/32"]},
                "prometheus": {"ports": [9090, 10902], "to": [prometheus_peer]},
                "dns": False,
                "extraEgress": [extra],
            }
        },
        "networkpolicy.yaml",
    )
    rules = narrow["spec"]
    assert rules["ingress"][0]["from"] == [prometheus_peer]
    assert rules["egress"] == [
        {
            "ports": [{"port": 6443, "protocol": "TCP"}],
            "to": [{"ipBlock": {"cidr": "10.96.0.1/32"}}, {"ipBlock": {"cidr": "192.168.1.10/32"}}],
        },
        {
            "ports": [{"port": 9090, "protocol": "TCP"}, {"port": 10902, "protocol": "TCP"}],
            "to": [prometheus_peer],
        },
        extra,
    ]
    off = subprocess.run(
        [str(HELM), "template", "rel", str(CHART), "--set", "networkPolicy.enabled=false"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "kind: NetworkPolicy" not in off


def test_admission_policy_is_off_by_default_and_bound_as_asked() -> None:
    default = subprocess.run(
        [str(HELM), "template", "rel", str(CHART)], capture_output=True, text=True, check=True
    ).stdout
    assert "ValidatingAdmissionPolicy" not in default

    on: Obj = {"admissionPolicy": {"enabled": True}}
    policy, binding = helm_template("rel", "ops", on, "admissionpolicy.yaml")
    assert policy["kind"] == "ValidatingAdmissionPolicy"
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert binding["spec"] == {
        "policyName": policy["metadata"]["name"],
        "validationActions": ["Deny"],
    }
    # A namespace list: the served namespaces.
    listed = {**on, "namespaces": ["team-a", "team-b"]}
    _, binding = helm_template("rel", "ops", listed, "admissionpolicy.yaml")
    assert binding["spec"]["matchResources"] == {
        "namespaceSelector": {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "In",
                    "values": ["team-a", "team-b"],
                }
            ]
        }
    }
    # An explicit selector wins; Warn + Audit to try it first.
    selector = {"matchLabels": {"mlops.dev/restricted": "true"}}
    tried = {
        "admissionPolicy": {
            "enabled": True,
            "namespaceSelector": selector,
            "validationActions": ["Warn", "Audit"],
        },
        "namespaces": ["team-a"],
    }
    _, binding = helm_template("rel", "ops", tried, "admissionpolicy.yaml")
    assert binding["spec"]["matchResources"] == {"namespaceSelector": selector}
    assert binding["spec"]["validationActions"] == ["Warn", "Audit"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("admissionPolicy.validationActions={Deny,Warn}", "/admissionPolicy/validationActions"),
        ("admissionPolicy.validationActions={Block}", "/admissionPolicy/validationActions/0"),
        ("admissionPolicy.serviceAccounts={Bad_Name}", "/admissionPolicy/serviceAccounts/0"),
        ("admissionPolicy.priorityClass={x}", "'priorityClass' not allowed"),
        ("networkPolicy.apiServer.ports={0}", "/networkPolicy/apiServer/ports/0"),
        ("networkPolicy.apiServer.cidrs={10.0.0.1}", "/networkPolicy/apiServer/cidrs/0"),
        ("rbac.aggregate=true", "'aggregate' not allowed"),
        ("readinessProbe.periodSeconds=0", "/readinessProbe/periodSeconds"),
    ],
)
def test_schema_refuses_bad_values(value: str, message: str) -> None:
    result = subprocess.run(
        [str(HELM), "template", "rel", str(CHART), "--set", value],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0, f"{value} was accepted"
    assert message in result.stderr, result.stderr


# --- on the cluster: namespace users through the built-in roles ---------------------------


def _can(k8s: ApiClient, user: str, verb: str, resource: str, namespace: str) -> bool:
    plural, _, sub = resource.partition("/")
    review = k8s_client.V1SubjectAccessReview(
        spec=k8s_client.V1SubjectAccessReviewSpec(
            user=user,
            groups=["system:authenticated"],
            resource_attributes=k8s_client.V1ResourceAttributes(
                namespace=namespace, verb=verb, group="mlops.dev", resource=plural,
                subresource=sub or None,
            ),
        )
    )  # fmt: skip
    status = k8s_client.AuthorizationV1Api(k8s).create_subject_access_review(review).status
    assert status is not None
    return bool(status.allowed)


@pytest.fixture
def aggregated_roles(kubeconfig: str, namespace: str, crds: list[str]) -> Iterator[list[str]]:
    """The chart's aggregated ClusterRoles, named after the test's namespace (unique on a
    shared cluster), applied and deleted afterwards."""
    objs = helm_template("trust", namespace, {}, "aggregated-roles.yaml")
    names = [o["metadata"]["name"] for o in objs]
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps({"kind": "List", "apiVersion": "v1",
                                                              "items": objs}))  # fmt: skip
    try:
        yield names
    finally:
        kubectl(kubeconfig, "delete", "clusterrole", *names, "--ignore-not-found")


def test_namespace_users_get_our_kinds_through_view_edit_admin(
    kubeconfig: str, k8s: ApiClient, namespace: str, aggregated_roles: list[str]
) -> None:
    users = {role: f"{role}-user-{namespace}" for role in ("view", "edit", "admin")}
    for role, user in users.items():
        kubectl(kubeconfig, "create", "rolebinding", f"{role}-user", f"--clusterrole={role}",
                f"--user={user}", "-n", namespace)  # fmt: skip

    # The aggregation controller copies our rules into view, edit and admin.
    wait_for(
        lambda: (
            _can(k8s, users["view"], "list", "trainingjobs", namespace)
            and _can(k8s, users["edit"], "create", "retrainpolicies", namespace)
            and _can(k8s, users["admin"], "delete", "modeldeployments", namespace)
        ),
        30,
        "our rules aggregated into view, edit and admin",
    )
    expected: dict[tuple[str, str, str], bool] = {}
    for role in users:
        for resource in OURS:
            for verb in READ:
                expected[(role, verb, resource)] = True
            for verb in WRITE:
                expected[(role, verb, resource)] = role != "view"
        for resource in STATUS:
            expected[(role, "get", resource)] = True
            for verb in ("update", "patch"):
                expected[(role, verb, resource)] = False  # status is the operator's alone
    actual = {
        (role, verb, resource): _can(k8s, users[role], verb, resource, namespace)
        for role, verb, resource in expected
    }
    wrong = {k: v for k, v in actual.items() if v != expected[k]}
    assert not wrong, f"allowed (True) or refused (False) against the trust model: {wrong}"
    # A RoleBinding gives nothing outside its namespace.
    assert not _can(k8s, users["admin"], "list", "trainingjobs", "default")
    assert not _can(k8s, users["edit"], "create", "trainingjobs", "")

    # As the users themselves (impersonated): real requests, real refusals.
    tj = example("trainingjob-single-gpu.yaml")
    tj["spec"]["suspend"] = True  # no operator runs here; nothing would start anyway
    edit = ("--as", users["edit"], "-n", namespace)
    view = ("--as", users["view"], "-n", namespace)
    kubectl(kubeconfig, "create", *edit, "-f", "-", stdin=json.dumps(tj))
    name = tj["metadata"]["name"]
    kubectl(kubeconfig, "label", *edit, "trainingjob", name, "team=a")
    status = json.dumps({"status": {"phase": "Succeeded"}})
    faked = kubectl(kubeconfig, "patch", *edit, "trainingjob", name, "--subresource=status",
                    "--type=merge", "-p", status, check=False)  # fmt: skip
    assert faked.returncode != 0
    assert "Forbidden" in faked.stderr, faked.stderr
    assert 'cannot patch resource "trainingjobs/status"' in faked.stderr, faked.stderr
    listed = kubectl(kubeconfig, "get", *view, "trainingjobs", "-o", "name")
    assert listed.stdout.strip() == f"trainingjob.mlops.dev/{name}"
    for args in (["delete", "trainingjob", name], ["label", "trainingjob", name, "x=y"]):
        refused = kubectl(kubeconfig, *args, *view, check=False)
        assert refused.returncode != 0
        assert "Forbidden" in refused.stderr, refused.stderr
    kubectl(kubeconfig, "delete", *edit, "trainingjob", name)


# --- on the cluster: the ValidatingAdmissionPolicy ----------------------------------------

ALLOWED_SA = "trainer"
ALLOWED_PRIORITY = "batch-high"


def tj_with(name: str, spec: Obj | None = None, pod: Obj | None = None) -> Obj:
    """A small TrainingJob, with ``spec`` merged into its spec and ``pod`` as its
    ``podTemplate.spec``."""
    body: Obj = {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {"image": "ghcr.io/example/train:1", "suspend": True, **(spec or {})},
    }
    if pod is not None:
        body["spec"]["podTemplate"] = {"spec": pod}
    return body


def rp_with(name: str, spec: Obj | None = None, pod: Obj | None = None) -> Obj:
    """The example RetrainPolicy, with the same changes made to its TrainingJob template."""
    body = example("retrainpolicy-drift.yaml", "RetrainPolicy")
    body["metadata"] = {"name": name}
    template = body["spec"]["trainingJobTemplate"]["spec"]
    template.update(spec or {})
    if pod is not None:
        template["podTemplate"] = {"spec": pod}
    return body


P = "spec.podTemplate.spec"
RP = "spec.trainingJobTemplate.spec"
PRIVILEGED = {"securityContext": {"privileged": True}}

#: (manifest, the text the refusal must contain: the field, and its value where it has one)
REFUSED: list[tuple[Obj, str]] = [
    (tj_with("host-network", pod={"hostNetwork": True}), f"{P}.hostNetwork:"),
    (tj_with("host-pid", pod={"hostPID": True}), f"{P}.hostPID:"),
    (tj_with("host-ipc", pod={"hostIPC": True}), f"{P}.hostIPC:"),
    (
        tj_with(
            "host-path",
            pod={
                "volumes": [
                    {"name": "data", "emptyDir": {}},
                    {"name": "root", "hostPath": {"path": "/"}},
                ]
            },
        ),
        f"{P}.volumes[root].hostPath: hostPath volumes are not allowed",
    ),
    (
        tj_with("privileged-trainer", pod={"containers": [PRIVILEGED]}),
        f"{P}.containers[trainer].securityContext.privileged: privileged containers",
    ),
    (
        tj_with(
            "privileged-sidecar", pod={"containers": [{"name": "side", "image": "x", **PRIVILEGED}]}
        ),
        f"{P}.containers[side].securityContext.privileged",
    ),
    (
        tj_with(
            "privileged-init",
            pod={"initContainers": [{"name": "init", "image": "x", **PRIVILEGED}]},
        ),
        f"{P}.initContainers[init].securityContext.privileged",
    ),
    (tj_with("node-name", pod={"nodeName": "gpu-node-0"}), f"{P}.nodeName: not allowed"),
    (
        tj_with("sa", {"serviceAccountName": "builder"}),
        'spec.serviceAccountName "builder": not an allowed ServiceAccount '
        f"(allowed: default, {ALLOWED_SA})",
    ),
    (
        tj_with("pod-sa", pod={"serviceAccountName": "admin"}),
        f'{P}.serviceAccountName "admin": not an allowed ServiceAccount',
    ),
    (
        tj_with("pod-old-sa", pod={"serviceAccount": "admin"}),
        f'{P}.serviceAccount "admin": not an allowed ServiceAccount',
    ),
    (
        tj_with("priority", {"priorityClassName": "system-node-critical"}),
        'spec.priorityClassName "system-node-critical": not an allowed PriorityClass '
        f"(allowed: {ALLOWED_PRIORITY})",
    ),
    (
        tj_with("pod-priority", pod={"priorityClassName": "system-cluster-critical"}),
        f'{P}.priorityClassName "system-cluster-critical": not an allowed PriorityClass',
    ),
    (rp_with("rp-host-network", pod={"hostNetwork": True}), f"{RP}.podTemplate.spec.hostNetwork:"),
    (
        rp_with("rp-host-path", pod={"volumes": [{"name": "v", "hostPath": {"path": "/etc"}}]}),
        f"{RP}.podTemplate.spec.volumes[v].hostPath",
    ),
    (
        rp_with("rp-privileged", pod={"containers": [PRIVILEGED]}),
        f"{RP}.podTemplate.spec.containers[trainer].securityContext.privileged",
    ),
    (rp_with("rp-node-name", pod={"nodeName": "n"}), f"{RP}.podTemplate.spec.nodeName"),
    (rp_with("rp-sa", {"serviceAccountName": "builder"}), f'{RP}.serviceAccountName "builder"'),
    (
        rp_with("rp-priority", pod={"priorityClassName": "p"}),
        f'{RP}.podTemplate.spec.priorityClassName "p"',
    ),
]


def _apply(kubeconfig: str, namespace: str, obj: Obj) -> subprocess.CompletedProcess[str]:
    return kubectl(kubeconfig, "create", "-n", namespace, "-f", "-", stdin=json.dumps(obj),
                   check=False)  # fmt: skip


@pytest.fixture
def admission_policy(kubeconfig: str, namespace: str, crds: list[str]) -> Iterator[str]:
    """The chart's policy and binding (admissionPolicy.enabled), bound to the test's
    namespace only, with one allowed ServiceAccount and PriorityClass; deleted afterwards.
    Returns the policy's name."""
    values = {
        "admissionPolicy": {
            "enabled": True,
            "serviceAccounts": [ALLOWED_SA],
            "priorityClasses": [ALLOWED_PRIORITY],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        }
    }
    objs = helm_template("trust", namespace, values, "admissionpolicy.yaml")
    name = objs[0]["metadata"]["name"]
    # Made before the policy: must stay updatable as far as metadata goes.
    for old in (tj_with("before", pod={"hostNetwork": True}),
                rp_with("before", pod={"hostNetwork": True})):  # fmt: skip
        assert _apply(kubeconfig, namespace, old).returncode == 0
    kubectl(kubeconfig, "apply", "-f", "-",
            stdin=json.dumps({"kind": "List", "apiVersion": "v1", "items": objs}))  # fmt: skip
    try:
        # Bindings take effect once the API server's informers have them.
        probe = tj_with("probe", pod={"hostNetwork": True})
        wait_for(
            lambda: "denied request" in kubectl(
                kubeconfig, "create", "--dry-run=server", "-n", namespace, "-f", "-",
                stdin=json.dumps(probe), check=False,
            ).stderr,
            30,
            f"ValidatingAdmissionPolicy {name} in force",
        )  # fmt: skip
        yield name
    finally:
        kubectl(kubeconfig, "delete", "validatingadmissionpolicybinding,validatingadmissionpolicy",
                name, "--ignore-not-found")  # fmt: skip


def test_admission_policy_refuses_each_field_by_name(
    kubeconfig: str, namespace: str, admission_policy: str
) -> None:
    status = kubectl(kubeconfig, "get", "validatingadmissionpolicy", admission_policy,
                     "-o", "json")  # fmt: skip
    # The API server type-checked every expression against our CRDs without a warning.
    assert (
        not json.loads(status.stdout)["status"].get("typeChecking", {}).get("expressionWarnings")
    ), status.stdout

    wrong: list[str] = []
    for manifest, expected in REFUSED:
        result = _apply(kubeconfig, namespace, manifest)
        name = manifest["metadata"]["name"]
        if result.returncode == 0:
            wrong.append(f"{manifest['kind']} {name} was accepted")
        elif f"ValidatingAdmissionPolicy '{admission_policy}'" not in result.stderr:
            wrong.append(f"{name}: refused, but not by the policy: {result.stderr}")
        elif expected not in result.stderr:
            wrong.append(f"{name}: {expected!r} not in {result.stderr!r}")
    assert not wrong, "\n".join(wrong)


def test_admission_policy_lets_allowed_manifests_and_metadata_updates_through(
    kubeconfig: str, namespace: str, admission_policy: str
) -> None:
    pod = {
        "serviceAccountName": ALLOWED_SA,
        "priorityClassName": ALLOWED_PRIORITY,
        "hostNetwork": False,
        "nodeSelector": {"pool": "a100"},
        "volumes": [{"name": "scratch", "emptyDir": {}}],
        "containers": [{"securityContext": {"privileged": False}}],
    }
    allowed = [
        tj_with("allowed", {"serviceAccountName": "default",
                            "priorityClassName": ALLOWED_PRIORITY}, pod),
        tj_with("plain"),
        rp_with("allowed", {"serviceAccountName": ALLOWED_SA}, pod),
        example("trainingjob-pytorch-2x4.yaml"),
        example("retrainpolicy-drift.yaml", "RetrainPolicy"),
    ]  # fmt: skip
    for manifest in allowed:
        result = _apply(kubeconfig, namespace, manifest)
        assert result.returncode == 0, (manifest["metadata"]["name"], result.stderr)

    # Objects made before the policy: metadata still changes (labels; the garbage
    # collector's finalizers), a spec change is checked.
    for kind in ("trainingjob", "retrainpolicy"):
        kubectl(kubeconfig, "label", "-n", namespace, kind, "before", "checked=later")
    changed = kubectl(kubeconfig, "patch", "-n", namespace, "retrainpolicy", "before",
                      "--type=merge", "-p", json.dumps({"spec": {"cooldown": "1h"}}),
                      check=False)  # fmt: skip
    assert changed.returncode != 0
    assert f"{RP}.podTemplate.spec.hostNetwork:" in changed.stderr, changed.stderr
