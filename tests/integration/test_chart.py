"""The Helm chart (charts/mlops-operator), with the real helm binary and the real cluster.

Without a cluster: ``helm lint --strict``; ``helm template`` with the default values and
with a namespace list and two replicas, asserting on the rendered objects (RBAC rules
exactly what the operator does, Pod Security "restricted", the operator's flags, leader
election through a Lease and nothing of kopf peering, CRDs that are the generated ones and
carry ``helm.sh/resource-policy: keep``); and values.schema.json refusing bad values with a
message that names them.

With the cluster (fixtures from hack/localcluster/pytest_plugin.py): a server-side dry
run of everything the chart renders, and a real ``helm install`` into a namespace that
enforces Pod Security "restricted". There, SubjectAccessReviews show that the chart's
service account may do each thing the operator does and may not read Secrets, exec into
pods or write RBAC; and the operator runs as that service account (a token of it, from this
machine), takes the Lease and finishes a TrainingJob: proof that the RBAC rules are
enough, not just that they look right.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s_client
from kubernetes.client import ApiClient

from localcluster.ports import free_ports
from localcluster.waiting import wait_for
from mlops_operator.api import crdgen

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "mlops-operator"
HELM = REPO / ".local" / "bin" / "helm"
KUBECTL = REPO / ".local" / "bin" / "kubectl"

pytestmark = pytest.mark.skipif(
    not HELM.exists(),
    reason=f"{HELM} is missing: `make toolchain` builds helm and links it there",
)

Obj = dict[str, Any]
Rule = tuple[str, str, str]  # (apiGroup, resource, verb)

# --- what the operator does, as (group, resource, verb) -----------------------------------


def _rules(groups: list[str], resources: list[str], verbs: list[str]) -> set[Rule]:
    return {(g, r, v) for g in groups for r in resources for v in verbs}


CRUD = ["get", "list", "watch", "create", "patch", "delete"]
READ = ["get", "list", "watch"]
OURS = ["trainingjobs", "modeldeployments", "retrainpolicies"]
NAMESPACED_RULES = (
    _rules(["mlops.dev"], OURS, READ)
    | _rules(["mlops.dev"], ["trainingjobs"], ["create", "delete"])  # RetrainPolicy runs, TTL
    | _rules(["mlops.dev"], [f"{plural}/status" for plural in OURS], ["get", "patch", "update"])
    # blockOwnerDeletion under OwnerReferencesPermissionEnforcement (OpenShift).
    | _rules(["mlops.dev"], [f"{plural}/finalizers" for plural in OURS], ["update"])
    | _rules(["batch"], ["jobs"], CRUD)
    | _rules([""], ["services"], CRUD)
    | _rules(["apps"], ["deployments"], CRUD)
    | _rules(["autoscaling"], ["horizontalpodautoscalers"], CRUD)
    # The user's route: patched for the canary split, never created or deleted.
    | _rules(["gateway.networking.k8s.io"], ["httproutes"], ["get", "list", "watch", "patch"])
    | _rules(["kueue.x-k8s.io"], ["workloads"], ["list"])
    | _rules([""], ["pods"], ["get", "list"])  # pending pods, rank 0's message; never watched
    | _rules([""], ["events"], ["create", "list"])  # ours; a Job's FailedCreate
)  # fmt: skip
CRD_RULES = _rules(
    ["apiextensions.k8s.io"], ["customresourcedefinitions"], ["get", "list", "watch"]
)
NAMESPACE_RULES = _rules([""], ["namespaces"], ["list", "watch"])


def lease_rules(lease: str) -> list[Obj]:
    """The leader-election Role's rules: create any Lease (RBAC cannot name a create's
    object), read and update only ours."""
    group = ["coordination.k8s.io"]
    return [
        {"apiGroups": group, "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": group,
            "resources": ["leases"],
            "resourceNames": [lease],
            "verbs": ["get", "update"],
        },
    ]


# --- helpers ------------------------------------------------------------------------------


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, timeout=60, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{result.stderr}")
    return result


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


def values_file(tmp_path: Path, values: Obj) -> str:
    path = tmp_path / f"values-{len(list(tmp_path.glob('values-*')))}.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def template_text(
    tmp_path: Path, values: Obj | None = None, *extra: str, namespace: str = "ops"
) -> str:
    args = ["template", "rel", str(CHART), "--namespace", namespace, *extra]
    if values:
        args += ["--values", values_file(tmp_path, values)]
    return helm(*args).stdout


def render(tmp_path: Path, values: Obj | None = None, *extra: str) -> list[Obj]:
    return [d for d in yaml.safe_load_all(template_text(tmp_path, values, *extra)) if d]


def only(objs: list[Obj], kind: str) -> Obj:
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def of_kind(objs: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def named(objs: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def triples(role: Obj) -> set[Rule]:
    """A Role's rules flattened to (group, resource, verb); wildcards are refused."""
    out: set[Rule] = set()
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, rule
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"wildcard in {role['metadata']['name']}: {rule}"
        out |= _rules(rule["apiGroups"], rule["resources"], rule["verbs"])
    return out


def operator_role(objs: list[Obj]) -> Obj:
    """The operator's own ClusterRole (not the aggregated view/edit roles for users)."""
    return named(objs, "ClusterRole", "rel-mlops-operator-ops")


def container(objs: list[Obj]) -> Obj:
    containers = only(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Obj = containers[0]
    return result


MULTI: Obj = {"namespaces": ["team-a", "team-b"], "replicas": 2}


# --- lint, versions, layout ---------------------------------------------------------------


@pytest.mark.parametrize("values", [{}, MULTI], ids=["defaults", "namespaces-replicas"])
def test_lint_strict(tmp_path: Path, values: Obj) -> None:
    args = ["lint", "--strict", str(CHART)]
    if values:
        args += ["--values", values_file(tmp_path, values)]
    out = helm(*args).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out


def test_app_version_is_the_operators() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == project["version"]


def test_no_crds_dir() -> None:
    """mlops.dev CRDs come from templates (upgraded), never from crds/ (never upgraded); kopf
    runs standalone, so it needs none of its kopf.dev peering CRDs."""
    assert not (CHART / "crds").exists()


# --- default values: all namespaces, one replica ------------------------------------------


def test_defaults_render_the_expected_objects(tmp_path: Path) -> None:
    objs = render(tmp_path)
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == sorted(
        ["ServiceAccount", "ClusterRoleBinding", "Service", "Deployment", "NetworkPolicy"]
        + ["ClusterRole"] * 3  # the operator's; view and edit aggregation (test_trust.py)
        + ["CustomResourceDefinition"] * 3
    )
    for obj in objs:
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "rel", obj["kind"]


def test_crds_are_the_generated_ones_and_kept(tmp_path: Path) -> None:
    rendered = {
        o["metadata"]["name"]: o for o in of_kind(render(tmp_path), "CustomResourceDefinition")
    }
    expected = {crdgen.crd(k)["metadata"]["name"]: crdgen.crd(k) for k in crdgen.KINDS}
    assert set(rendered) == set(expected)
    for name, crd in rendered.items():
        assert crd["spec"] == expected[name]["spec"], f"{name} differs from the models"
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert crd["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mlops-operator"
    assert not of_kind(render(tmp_path, {"crds": {"create": False}}), "CustomResourceDefinition")


def test_clusterwide_rbac_is_exactly_what_the_operator_does(tmp_path: Path) -> None:
    objs = render(tmp_path)
    role = operator_role(objs)
    assert triples(role) == NAMESPACED_RULES | CRD_RULES
    binding = only(objs, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    sa = only(objs, "ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["name"], "namespace": "ops"}
    ]
    assert not of_kind(objs, "Role")
    assert not of_kind(objs, "RoleBinding")


def test_deployment_runs_the_operator_under_restricted(tmp_path: Path) -> None:
    objs = render(tmp_path)
    deployment = only(objs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # never two standalone
    pod = deployment["spec"]["template"]["spec"]
    c = container(objs)
    assert c["image"] == "ghcr.io/mlops-operator/mlops-operator:0.1.0"
    assert c["command"] == ["mlops-operator"]
    assert c["args"] == [
        "run",
        "--metrics-port=8080",
        "--health-port=8081",
        "--workers=16",
        "--log-level=INFO",
        "--log-format=json",
    ]
    env = {e["name"]: e for e in c["env"]}
    assert env["MLOPS_GPU_RESOURCE"]["value"] == "nvidia.com/gpu"
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"metrics": 8080, "health": 8081}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    # Readiness asks another question (is the metrics endpoint up), on another endpoint.
    assert c["readinessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert c["resources"]["requests"]
    assert c["resources"]["limits"]["memory"]
    # Pod Security "restricted" (the cluster test proves it against the admission plugin).
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["serviceAccountName"] == only(objs, "ServiceAccount")["metadata"]["name"]
    service = only(objs, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_values_become_flags_and_env(tmp_path: Path) -> None:
    values: Obj = {
        "image": {"repository": "registry.example/ops/mlops", "tag": "1.2.3"},
        "metricsPort": 9090,
        "healthPort": 9091,
        "workers": 4,
        "logLevel": "DEBUG",
        "logFormat": "console",
        "gpuResource": "amd.com/gpu",
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
    }
    c = container(render(tmp_path, values))
    assert c["image"] == "registry.example/ops/mlops:1.2.3"
    assert c["args"] == [
        "run",
        "--metrics-port=9090",
        "--health-port=9091",
        "--workers=4",
        "--log-level=DEBUG",
        "--log-format=console",
    ]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["MLOPS_GPU_RESOURCE"] == "amd.com/gpu"
    assert env["HTTPS_PROXY"] == "http://proxy:3128"
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"metrics": 9090, "health": 9091}


# --- a namespace list and two replicas: leader election -----------------------------------


def test_namespaces_and_replicas(tmp_path: Path) -> None:
    objs = render(tmp_path, MULTI)
    c = container(objs)
    assert c["args"][:3] == ["run", "--namespace=team-a", "--namespace=team-b"]
    deployment = only(objs, "Deployment")
    assert deployment["spec"]["replicas"] == 2

    # Cluster scope: only what kopf itself reads.
    assert triples(operator_role(objs)) == CRD_RULES | NAMESPACE_RULES
    roles = {r["metadata"]["namespace"]: r for r in of_kind(objs, "Role")}
    assert set(roles) == {"team-a", "team-b", "ops"}
    for ns in ("team-a", "team-b"):
        assert roles[ns]["metadata"]["name"] == "rel-mlops-operator"
        assert triples(roles[ns]) == NAMESPACED_RULES
    bindings = {b["metadata"]["namespace"]: b for b in of_kind(objs, "RoleBinding")}
    assert set(bindings) == {"team-a", "team-b", "ops"}
    for ns, binding in bindings.items():
        assert binding["roleRef"]["name"] == roles[ns]["metadata"]["name"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "rel-mlops-operator", "namespace": "ops"}
        ]
    pdb = only(objs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1


def test_two_replicas_elect_a_leader_through_a_lease(tmp_path: Path) -> None:
    """replicas=2: --leader-election, the pod's name and namespace from the Downward API,
    a Role for the one Lease in the release's namespace, and nothing of kopf peering."""
    text = template_text(tmp_path, {"replicas": 2})
    objs = [d for d in yaml.safe_load_all(text) if d]
    c = container(objs)
    assert c["args"][-1] == "--leader-election=rel-mlops-operator"
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    deployment = only(objs, "Deployment")
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert only(objs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1

    role = only(objs, "Role")
    assert role["metadata"]["name"] == "rel-mlops-operator-leader-election"
    assert role["metadata"]["namespace"] == "ops"
    assert role["rules"] == lease_rules("rel-mlops-operator")
    binding = only(objs, "RoleBinding")
    assert binding["metadata"]["namespace"] == "ops"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "rel-mlops-operator-leader-election",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "rel-mlops-operator", "namespace": "ops"}
    ]
    # All namespaces: one ClusterRole, with nothing of peering (kopf runs standalone).
    assert triples(operator_role(objs)) == NAMESPACED_RULES | CRD_RULES
    assert not {o["kind"] for o in objs} & {"KopfPeering", "ClusterKopfPeering"}
    assert "kopf.dev" not in text
    assert "peering" not in text.lower()


def test_leader_election_values(tmp_path: Path) -> None:
    # One replica may ask for it too: a rolling update then overlaps old and new pod safely.
    one = render(tmp_path, {"leaderElection": {"enabled": True, "leaseName": "ops-leader"}})
    assert "--leader-election=ops-leader" in container(one)["args"]
    assert only(one, "Deployment")["spec"]["strategy"]["type"] == "RollingUpdate"
    assert only(one, "Role")["rules"] == lease_rules("ops-leader")
    assert not of_kind(one, "PodDisruptionBudget")
    # Three replicas, leaseName set: the name reaches the flag and the Role alike.
    three = render(tmp_path, {"replicas": 3, "leaderElection": {"leaseName": "x"}})
    assert "--leader-election=x" in container(three)["args"]
    assert only(three, "Role")["rules"] == lease_rules("x")
    # Explicitly off with one replica: as the default.
    off = render(tmp_path, {"leaderElection": {"enabled": False}})
    assert not [a for a in container(off)["args"] if a.startswith("--leader-election")]
    assert only(off, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    assert not of_kind(off, "Role")
    # Without RBAC from the chart, no Role for the Lease either.
    assert not of_kind(render(tmp_path, {"replicas": 2, "rbac": {"create": False}}), "Role")


def test_two_replicas_without_leader_election_are_refused() -> None:
    result = helm(
        "template", "rel", str(CHART), "--set", "replicas=2",
        "--set", "leaderElection.enabled=false", check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "replicas=2 needs leader election" in result.stderr, result.stderr


def test_service_monitor_only_where_the_api_is_served(tmp_path: Path) -> None:
    enabled: Obj = {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}
    assert not of_kind(render(tmp_path, enabled), "ServiceMonitor")
    served = render(tmp_path, enabled, "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor")
    monitor = only(served, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    service = only(served, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    forced: Obj = {"serviceMonitor": {"enabled": True, "force": True}}
    assert of_kind(render(tmp_path, forced), "ServiceMonitor")


# --- values.schema.json -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("replicas=-1", "/replicas"),
        ("logFormat=xml", "/logFormat"),
        ("logLevel=LOUD", "/logLevel"),
        ("workers=0", "/workers"),
        ("metricsPort=70000", "/metricsPort"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("namespaces={Team_A}", "/namespaces/0"),
        ("gpuResource=gpu", "/gpuResource"),
        ("leaderElection.enabled=yes", "/leaderElection/enabled"),
        ("leaderElection.leaseName=Lease_1", "/leaderElection/leaseName"),
        ("peering.enabled=true", "'peering' not allowed"),
        ("replica=2", "'replica' not allowed"),
        ("crds.keep=false", "'keep' not allowed"),
    ],
)
def test_schema_refuses_bad_values(value: str, message: str) -> None:
    result = helm("template", "rel", str(CHART), "--set", value, check=False)
    assert result.returncode != 0, f"{value} was accepted"
    assert "don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr, result.stderr


def test_ports_must_differ() -> None:
    result = helm("template", "rel", str(CHART), "--set", "healthPort=8080", check=False)
    assert result.returncode != 0
    assert "metricsPort and healthPort must differ" in result.stderr


# --- against the cluster ------------------------------------------------------------------


def _restricted(kubeconfig: str, namespace: str) -> None:
    kubectl(
        kubeconfig,
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )


def test_server_side_dry_run(tmp_path: Path, kubeconfig: str, namespace: str) -> None:
    """Everything the chart renders (CRDs included) is accepted by the API server."""
    _restricted(kubeconfig, namespace)
    values: Obj = {"namespaces": [namespace], "replicas": 2}
    manifests = template_text(tmp_path, values, "--include-crds", namespace=namespace)
    result = kubectl(kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=manifests)
    applied = result.stdout.splitlines()
    for name in (
        "customresourcedefinition.apiextensions.k8s.io/trainingjobs.mlops.dev",
        "deployment.apps/rel-mlops-operator",
        f"clusterrole.rbac.authorization.k8s.io/rel-mlops-operator-{namespace}",
        "role.rbac.authorization.k8s.io/rel-mlops-operator",
        "role.rbac.authorization.k8s.io/rel-mlops-operator-leader-election",
        "rolebinding.rbac.authorization.k8s.io/rel-mlops-operator-leader-election",
        "poddisruptionbudget.policy/rel-mlops-operator",
    ):
        assert any(line.startswith(f"{name} ") for line in applied), (name, applied)
    assert "violate PodSecurity" not in result.stderr, result.stderr


class SAOperator:
    """``mlops-operator run`` on this machine, authenticated as a service account."""

    def __init__(
        self, kubeconfig: Path, log: Path, args: list[str], env: dict[str, str] | None = None
    ) -> None:
        self.metrics_port, self.health_port = free_ports(2)
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlops_operator",
                    "run",
                    *args,
                    f"--metrics-port={self.metrics_port}",
                    f"--health-port={self.health_port}",
                ],
                cwd=REPO,
                env={**os.environ, **(env or {}), "KUBECONFIG": str(kubeconfig)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def get(self, port: int, path: str) -> str:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the operator exited; see {self.log}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return str(response.read().decode())

    def metrics(self) -> str:
        return self.get(self.metrics_port, "/metrics")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def _service_account_kubeconfig(kubeconfig: str, namespace: str, sa: str, path: Path) -> Path:
    """The session's cluster, with the service account's token as the only user."""
    token = kubectl(kubeconfig, "create", "token", sa, "-n", namespace, "--duration=10m")
    raw = kubectl(kubeconfig, "config", "view", "--minify", "--flatten", "-o", "json")
    config = json.loads(raw.stdout)
    config["users"] = [{"name": "sa", "user": {"token": token.stdout.strip()}}]
    config["contexts"][0]["context"]["user"] = "sa"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def release(kubeconfig: str, namespace: str, crds: list[str]) -> Iterator[str]:
    """A real `helm install` into the test's namespace, uninstalled afterwards.

    The session's CRDs come from the ``crds`` fixture (another manager), so the release
    leaves them alone (crds.create=false). Two replicas: leader election is on.
    """
    _restricted(kubeconfig, namespace)
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    name = "mlops"
    args = [
        "install", name, str(CHART), "--namespace", namespace, "--wait", "--timeout=60s",
        "--set", "crds.create=false", "--set", "replicas=2", "--set", f"namespaces={{{namespace}}}",
    ]  # fmt: skip
    result = subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    try:
        yield name
    finally:
        out = subprocess.run(
            [str(HELM), "uninstall", name, "--namespace", namespace, "--wait"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert out.returncode == 0, out.stderr


def _can(
    k8s: ApiClient,
    namespace: str,
    sa: str,
    verb: str,
    group: str,
    resource: str,
    *,
    ns: str | None = None,
    name: str = "",
) -> bool:
    """A SubjectAccessReview for the service account (with its groups, as a token of it
    carries them): may it ``verb`` ``group``/``resource`` (``pods/exec`` style for a
    subresource) in ``ns`` (default ``namespace``; ``""`` for cluster scope)?"""
    plural, _, sub = resource.partition("/")
    review = k8s_client.V1SubjectAccessReview(
        spec=k8s_client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{namespace}:{sa}",
            groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                    "system:authenticated"],
            resource_attributes=k8s_client.V1ResourceAttributes(
                namespace=namespace if ns is None else ns, verb=verb, group=group,
                resource=plural, subresource=sub or None, name=name or None,
            ),
        )
    )  # fmt: skip
    result = k8s_client.AuthorizationV1Api(k8s).create_subject_access_review(review)
    assert result.status is not None
    return bool(result.status.allowed)


#: What the chart's service account must never do (in the namespace it serves, or at all).
FORBIDDEN: list[tuple[str, str, str, str | None]] = [
    # (verb, group, resource, namespace: None = the served one, "" = cluster scope)
    *[(v, "", "secrets", None) for v in ("get", "list", "watch")],
    *[(v, "", "secrets", "") for v in ("get", "list", "watch")],
    ("get", "", "configmaps", None),
    *[(v, "", f"pods/{sub}", None) for v in ("create", "get") for sub in ("exec", "attach")],
    ("create", "", "pods/portforward", None),
    ("create", "", "serviceaccounts/token", None),
    *[
        (v, "rbac.authorization.k8s.io", r, ns)
        for v in ("create", "update", "patch", "delete", "bind", "escalate")
        for r, ns in [("roles", None), ("rolebindings", None), ("clusterroles", ""),
                      ("clusterrolebindings", "")]
    ],
    ("impersonate", "", "users", ""),
    ("impersonate", "", "serviceaccounts", None),
    # Secrets and ConfigMaps are not written either (nor read, above).
    *[(v, "", r, None) for v in ("create", "update", "patch", "delete")
      for r in ("secrets", "configmaps")],
    # No cluster-wide writes: nothing cluster-scoped (its only cluster-scoped rights are
    # reads of CRDs and namespaces), and not even our kinds across all namespaces.
    *[
        (v, g, r, "")
        for v in ("create", "update", "patch", "delete")
        for g, r in [("", "namespaces"), ("", "nodes"), ("", "persistentvolumes"),
                     ("apiextensions.k8s.io", "customresourcedefinitions"),
                     ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
                     ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),
                     ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
                     ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
                     ("scheduling.k8s.io", "priorityclasses"),
                     ("storage.k8s.io", "storageclasses"),
                     ("certificates.k8s.io", "certificatesigningrequests")]
    ],
    *[(v, "mlops.dev", r, "") for v in ("list", "watch", "create", "delete") for r in OURS],
    *[(v, "mlops.dev", f"{r}/status", "") for v in ("patch", "update") for r in OURS],
    *[(v, g, r, "") for v in ("create", "delete")
      for g, r in [("batch", "jobs"), ("apps", "deployments"), ("", "services")]],
    ("create", "", "pods/eviction", None),
    # Nearby verbs the operator does not use.
    *[(v, "mlops.dev", "trainingjobs", None) for v in ("update", "patch", "deletecollection")],
    *[(v, "mlops.dev", r, None) for v in ("create", "delete") for r in OURS[1:]],
    *[(v, "gateway.networking.k8s.io", "httproutes", None) for v in ("create", "delete")],
    *[(v, "", "pods", None) for v in ("watch", "create", "delete", "patch")],
    *[(v, "", "events", None) for v in ("watch", "patch", "delete")],
    ("update", "batch", "jobs", None),
    ("deletecollection", "batch", "jobs", None),
    ("get", "", "nodes", ""),
    # Leases: nothing but create, and get/update of our own.
    ("delete", "coordination.k8s.io", "leases", None),
    ("list", "coordination.k8s.io", "leases", None),
]  # fmt: skip


def test_service_account_may_do_exactly_what_the_operator_does(
    k8s: ApiClient, namespace: str, release: str
) -> None:
    """``kubectl auth can-i`` as the chart's service account, through SubjectAccessReviews."""
    sa = f"{release}-mlops-operator"
    lease = sa  # leaderElection.leaseName defaults to the full name

    def can(verb: str, group: str, resource: str, ns: str | None = None, name: str = "") -> bool:
        return _can(k8s, namespace, sa, verb, group, resource, ns=ns, name=name)

    missing = [rule for rule in sorted(NAMESPACED_RULES) if not can(rule[2], rule[0], rule[1])]
    missing += [r for r in sorted(CRD_RULES | NAMESPACE_RULES) if not can(r[2], r[0], r[1], "")]
    missing += [
        ("coordination.k8s.io", "leases", verb)
        for verb, name in [("create", ""), ("get", lease), ("update", lease)]
        if not can(verb, "coordination.k8s.io", "leases", name=name)
    ]
    assert not missing, f"{sa} may not: {missing}"

    allowed: list[tuple[str | None, ...]] = [f for f in FORBIDDEN if can(*f)]
    # Only our Lease: not another's, and nothing of ours outside the served namespace.
    allowed += [
        ("update", "leases", name)
        for name in ("kube-scheduler", "another-operator")
        if can("update", "coordination.k8s.io", "leases", name=name)
    ]
    allowed += [
        (verb, resource, "default")
        for verb, group, resource in [
            ("list", "mlops.dev", "trainingjobs"),
            ("create", "batch", "jobs"),
            ("create", "coordination.k8s.io", "leases"),
        ]
        if can(verb, group, resource, "default")
    ]
    assert not allowed, f"{sa} may: {allowed}"


def test_helm_install_and_the_operator_runs_on_its_rbac(
    tmp_path: Path, kubeconfig: str, namespace: str, release: str
) -> None:
    """Installed under Pod Security "restricted"; the operator, as the chart's service
    account, takes the Lease, finishes a TrainingJob, releases the Lease on its way out,
    and never meets a 403.

    The pods of the Deployment run on KWOK (no container), so the operator runs here,
    with the service account's token and the pod's environment: the same identity, rules
    and flags as in the pod.
    """
    fullname = f"{release}-mlops-operator"
    deployment = json.loads(
        kubectl(kubeconfig, "get", "deployment", fullname, "-n", namespace, "-o", "json").stdout
    )
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--leader-election={fullname}" in args
    pods = kubectl(kubeconfig, "get", "pods", "-n", namespace, "-o", "json")
    assert len(json.loads(pods.stdout)["items"]) == 2  # admitted under "restricted"

    def holder() -> str | None:
        out = kubectl(kubeconfig, "get", "lease", fullname, "-n", namespace, "-o", "json",
                      check=False)  # fmt: skip
        if out.returncode != 0:
            return None
        return str(json.loads(out.stdout)["spec"].get("holderIdentity") or "")

    assert holder() is None  # the operator creates its Lease; the chart does not

    config = _service_account_kubeconfig(kubeconfig, namespace, fullname, tmp_path / "sa")
    identity = "mlops-operator-chart-test"
    operator = SAOperator(
        config,
        tmp_path / "operator.log",
        [f"--namespace={namespace}", f"--leader-election={fullname}"],
        env={"POD_NAME": identity, "POD_NAMESPACE": namespace},
    )
    try:
        wait_for(
            lambda: operator.get(operator.health_port, "/healthz"),
            30,
            f"operator /healthz (log: {operator.log})",
            ignore=(OSError,),
        )
        wait_for(lambda: holder() == identity, 30, f"the Lease held (log: {operator.log})")
        tj = yaml.safe_load((REPO / "examples" / "trainingjob-single-gpu.yaml").read_text())
        tj["spec"]["ttlSecondsAfterFinished"] = 1  # the operator deletes it: delete rights
        tj["spec"]["framework"] = "pytorch"  # a rendezvous: it creates its Service too
        kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=json.dumps(tj))

        def gone() -> bool:
            out = kubectl(kubeconfig, "get", "trainingjobs", "-n", namespace, "-o", "name")
            return not out.stdout.strip()

        wait_for(gone, 30, f"TrainingJob run and deleted by its TTL (log: {operator.log})")
        assert holder() == identity

        def renewed() -> bool:  # every retry period (2 s), by update
            sent = requests(operator.metrics())
            return any(k[:2] == ("leases", "update") and k[2] == "200" for k in sent)

        wait_for(renewed, 10, f"the Lease renewed (log: {operator.log})")
        metrics = operator.metrics()
    finally:
        code = operator.stop()
    log = operator.log.read_text()
    assert code == 0, log
    assert holder() == "", "the Lease was not released on a clean stop (update on it)"
    for needle in (r"\b403\b", r"Forbidden", r"Not enough permissions"):
        assert not re.search(needle, log), f"{needle!r} in the operator's log:\n{log}"
    sent = requests(metrics)
    assert not [k for k in sent if k[2] == "403"], sent
    for resource, verb in [
        ("jobs", "create"),
        ("services", "create"),
        ("trainingjobs", "delete"),
        ("leases", "create"),
        ("leases", "update"),
    ]:
        done = any(k[:2] == (resource, verb) and k[2].startswith("2") for k in sent)
        # A create that timed out on our side may have landed: the retry meets 409 and
        # reads the object to confirm it is ours. That too needs the permission.
        confirmed = (
            verb == "create"
            and (resource, "create", "409") in sent
            and any(k[:2] == (resource, "get") and k[2] == "200" for k in sent)
        )
        assert done or confirmed, sent


def requests(metrics: str) -> dict[tuple[str, str, str], float]:
    """``mlops_operator_kube_requests_total`` as (resource, verb, code) -> count."""
    out: dict[tuple[str, str, str], float] = {}
    for line in metrics.splitlines():
        if line.startswith("mlops_operator_kube_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            out[(labels["resource"], labels["verb"], labels["code"])] = float(line.split()[-1])
    return out
