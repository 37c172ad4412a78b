"""The Helm chart (charts/mlops-operator), with the real helm binary and the real cluster.

Without a cluster: ``helm lint --strict``; ``helm template`` with the default values and
with a namespace list and two replicas, asserting on the rendered objects (RBAC rules
exactly what the operator does, Pod Security "restricted", the operator's flags, CRDs
that are the generated ones and carry ``helm.sh/resource-policy: keep``); and
values.schema.json refusing bad values with a message that names them.

With the cluster (fixtures from hack/localcluster/pytest_plugin.py): a server-side dry
run of everything the chart renders, and a real ``helm install`` into a namespace that
enforces Pod Security "restricted", where the operator then runs as the chart's service
account (a token of it, from this machine) and finishes a TrainingJob: proof that the
RBAC rules are enough, not just that they look right.
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
    | _rules(["mlops.dev"], [f"{plural}/status" for plural in OURS], ["patch"])
    | _rules(["mlops.dev"], ["trainingjobs"], ["delete"])  # ttlSecondsAfterFinished
    | _rules(["batch"], ["jobs"], CRUD)
    | _rules([""], ["pods"], ["get", "list"])  # listed for a slow start, never watched
    | _rules([""], ["services"], CRUD)
    | _rules([""], ["events"], ["create"])
    # The ModelDeployment controller to come.
    | _rules(["apps"], ["deployments"], CRUD)
    | _rules(["autoscaling"], ["horizontalpodautoscalers"], CRUD)
    | _rules(["gateway.networking.k8s.io"], ["httproutes"], CRUD)
)  # fmt: skip
CRD_RULES = _rules(
    ["apiextensions.k8s.io"], ["customresourcedefinitions"], ["get", "list", "watch"]
)
NAMESPACE_RULES = _rules([""], ["namespaces"], ["list", "watch"])
CLUSTER_PEERING_RULES = _rules(
    ["kopf.dev"], ["clusterkopfpeerings"], ["get", "list", "watch", "patch"]
)
PEERING_RULES = _rules(["kopf.dev"], ["kopfpeerings"], ["get", "list", "watch", "patch"])


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


def triples(role: Obj) -> set[Rule]:
    """A Role's rules flattened to (group, resource, verb); wildcards are refused."""
    out: set[Rule] = set()
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, rule
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"wildcard in {role['metadata']['name']}: {rule}"
        out |= _rules(rule["apiGroups"], rule["resources"], rule["verbs"])
    return out


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


def test_crds_dir_holds_only_kopfs_peering_crds() -> None:
    """mlops.dev CRDs must come from templates (upgraded), never from crds/ (never upgraded)."""
    names = set()
    for path in (CHART / "crds").glob("*.yaml"):
        names |= {d["metadata"]["name"] for d in yaml.safe_load_all(path.read_text()) if d}
    assert names == {"kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"}


# --- default values: all namespaces, one replica ------------------------------------------


def test_defaults_render_the_expected_objects(tmp_path: Path) -> None:
    objs = render(tmp_path)
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == sorted(
        ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "Deployment"]
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
    role = only(objs, "ClusterRole")
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
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"metrics": 8080, "health": 8081}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
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


# --- a namespace list and two replicas ----------------------------------------------------


def test_namespaces_and_replicas(tmp_path: Path) -> None:
    objs = render(tmp_path, MULTI)
    c = container(objs)
    assert c["args"][:3] == ["run", "--namespace=team-a", "--namespace=team-b"]
    assert "--peering=rel-mlops-operator" in c["args"]
    deployment = only(objs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"

    # Cluster scope: only what kopf itself reads.
    assert triples(only(objs, "ClusterRole")) == CRD_RULES | NAMESPACE_RULES
    roles = {r["metadata"]["namespace"]: r for r in of_kind(objs, "Role")}
    assert set(roles) == {"team-a", "team-b"}
    for role in roles.values():
        assert triples(role) == NAMESPACED_RULES | PEERING_RULES
    bindings = {b["metadata"]["namespace"]: b for b in of_kind(objs, "RoleBinding")}
    assert set(bindings) == {"team-a", "team-b"}
    for ns, binding in bindings.items():
        assert binding["roleRef"]["name"] == roles[ns]["metadata"]["name"]
        assert binding["subjects"][0]["namespace"] == "ops"

    peerings = of_kind(objs, "KopfPeering")
    assert {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in peerings} == {
        ("team-a", "rel-mlops-operator"),
        ("team-b", "rel-mlops-operator"),
    }
    assert all(p["apiVersion"] == "kopf.dev/v1" for p in peerings)
    assert not of_kind(objs, "ClusterKopfPeering")
    pdb = only(objs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1


def test_peering_across_all_namespaces(tmp_path: Path) -> None:
    objs = render(tmp_path, {"replicas": 3})
    assert (
        triples(only(objs, "ClusterRole")) == NAMESPACED_RULES | CRD_RULES | CLUSTER_PEERING_RULES
    )
    assert only(objs, "ClusterKopfPeering")["metadata"]["name"] == "rel-mlops-operator"
    assert not of_kind(objs, "KopfPeering")
    # One replica may ask for peering too (e.g. overlapping pods in a rolling update).
    one = render(tmp_path, {"peering": {"enabled": True, "name": "ops-peering"}})
    assert "--peering=ops-peering" in container(one)["args"]
    assert not of_kind(one, "PodDisruptionBudget")


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
        ("peering.enabled=yes", "/peering/enabled"),
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
    # KopfPeering objects need their CRD for real, as `helm install` creates it from crds/.
    for path in sorted((CHART / "crds").glob("*.yaml")):
        kubectl(kubeconfig, "apply", "--server-side", "--field-manager=helm", "-f", str(path))
    for path in sorted((CHART / "crds").glob("*.yaml")):
        kubectl(kubeconfig, "wait", "--for=condition=Established", "-f", str(path))
    values: Obj = {"namespaces": [namespace], "replicas": 2}
    manifests = template_text(tmp_path, values, "--include-crds", namespace=namespace)
    result = kubectl(kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=manifests)
    applied = result.stdout.splitlines()
    for kind in ("customresourcedefinition", "deployment", "clusterrole", "role", "kopfpeering"):
        assert any(line.startswith(f"{kind}.") for line in applied), (kind, applied)
    assert "violate PodSecurity" not in result.stderr, result.stderr


class SAOperator:
    """``mlops-operator run`` on this machine, authenticated as a service account."""

    def __init__(self, kubeconfig: Path, log: Path, args: list[str]) -> None:
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
                env={**os.environ, "KUBECONFIG": str(kubeconfig)},
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
    leaves them alone (crds.create=false); its kopf.dev peering CRDs come from crds/.
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


def test_helm_install_and_the_operator_runs_on_its_rbac(
    tmp_path: Path, kubeconfig: str, namespace: str, release: str
) -> None:
    """Installed under Pod Security "restricted"; the operator, as the chart's service
    account, finishes a TrainingJob with peering on and never meets a 403.

    The pods of the Deployment run on KWOK (no container), so the operator runs here,
    with the service account's token: the same identity and rules as in the pod.
    """
    fullname = f"{release}-mlops-operator"
    pods = kubectl(kubeconfig, "get", "pods", "-n", namespace, "-o", "json")
    assert len(json.loads(pods.stdout)["items"]) == 2  # admitted under "restricted"
    peering = kubectl(kubeconfig, "get", "kopfpeering", fullname, "-n", namespace, "-o", "name")
    assert peering.stdout.strip() == f"kopfpeering.kopf.dev/{fullname}"

    config = _service_account_kubeconfig(kubeconfig, namespace, fullname, tmp_path / "sa")
    operator = SAOperator(
        config, tmp_path / "operator.log", [f"--namespace={namespace}", f"--peering={fullname}"]
    )
    try:
        wait_for(
            lambda: operator.get(operator.health_port, "/healthz"),
            30,
            f"operator /healthz (log: {operator.log})",
            ignore=(OSError,),
        )
        tj = yaml.safe_load((REPO / "examples" / "trainingjob-single-gpu.yaml").read_text())
        tj["spec"]["ttlSecondsAfterFinished"] = 1  # the operator deletes it: delete rights
        kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=json.dumps(tj))

        def gone() -> bool:
            out = kubectl(kubeconfig, "get", "trainingjobs", "-n", namespace, "-o", "name")
            return not out.stdout.strip()

        wait_for(gone, 30, f"TrainingJob run and deleted by its TTL (log: {operator.log})")
        metrics = operator.metrics()
        # The peering object carries this operator's keep-alive (patch on kopfpeerings).
        status = kubectl(kubeconfig, "get", "kopfpeering", fullname, "-n", namespace, "-o", "json")
        assert json.loads(status.stdout).get("status"), "no keep-alive in the KopfPeering"
    finally:
        code = operator.stop()
    log = operator.log.read_text()
    assert code == 0, log
    for needle in (r"\b403\b", r"Forbidden", r"Not enough permissions"):
        assert not re.search(needle, log), f"{needle!r} in the operator's log:\n{log}"
    sent = requests(metrics)
    assert not [k for k in sent if k[2] == "403"], sent
    for resource, verb in [("jobs", "create"), ("services", "create"), ("trainingjobs", "delete")]:
        assert any(k[:2] == (resource, verb) and k[2].startswith("2") for k in sent), sent


def requests(metrics: str) -> dict[tuple[str, str, str], float]:
    """``mlops_operator_kube_requests_total`` as (resource, verb, code) -> count."""
    out: dict[tuple[str, str, str], float] = {}
    for line in metrics.splitlines():
        if line.startswith("mlops_operator_kube_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            out[(labels["resource"], labels["verb"], labels["code"])] = float(line.split()[-1])
    return out
