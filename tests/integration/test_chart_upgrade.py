"""``helm upgrade`` from the previous chart version, then ``helm uninstall``, on the real
local cluster, with a training run and a canary rollout in flight.

The previous chart is the chart at commit ``182679c`` (chart 0.1.0 with kopf peering),
taken from git into a temporary directory. Its pods run on KWOK (there is no image to
run), so the operator runs here, from the repository, as test_chart.py does: before the
upgrade with the session's credentials, after it as the upgraded release's service account.

What must hold:

- the upgrade replaces the operator, not the user's objects: the TrainingJob keeps its
  attempt and its Job (same uid) and goes on to succeed; the ModelDeployment's paused
  canary is still there and is promoted after the upgrade;
- the upgrade takes over the CRDs (``crds.create=true``; the previous release left them to
  the session, as a cluster whose CRDs were installed by hand would), and ``helm uninstall``
  leaves them (``helm.sh/resource-policy: keep``) and every TrainingJob and ModelDeployment
  with their children.

The CRDs themselves are not downgraded to the previous chart's: the cluster may be shared
with other sessions whose operators write today's status fields.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_chart import SAOperator, _service_account_kubeconfig

from localcluster.kwok import COMPLETE_DELAY_ANNOTATION
from localcluster.waiting import wait_for
from mlops_operator.api.keys import PROMOTE_ANNOTATION

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "mlops-operator"
HELM = REPO / ".local" / "bin" / "helm"
KUBECTL = REPO / ".local" / "bin" / "kubectl"
PREVIOUS = "182679c"  # the chart before leader election, aggregated roles, NetworkPolicy

pytestmark = pytest.mark.skipif(
    not HELM.exists(), reason=f"{HELM} is missing: `make toolchain` builds helm"
)

Obj = dict[str, Any]
RELEASE = "mlops"
HELM_OWNERSHIP = {
    "annotations": ["meta.helm.sh/release-name", "meta.helm.sh/release-namespace",
                    "helm.sh/resource-policy"],
    "labels": ["app.kubernetes.io/managed-by", "app.kubernetes.io/instance",
               "app.kubernetes.io/name", "app.kubernetes.io/version",
               "helm.sh/chart"],  # not part-of: the generated CRDs carry it themselves
}  # fmt: skip


def run(
    tool: Path, kubeconfig: str, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(tool), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "KUBECONFIG": kubeconfig},
    )
    if check and result.returncode != 0:
        pytest.fail(f"{tool.name} {' '.join(args)} failed:\n{result.stderr}")
    return result


def get(kubeconfig: str, namespace: str, kind: str, name: str) -> Obj:
    out = run(KUBECTL, kubeconfig, "get", kind, name, "-n", namespace, "-o", "json")
    obj: Obj = json.loads(out.stdout)
    return obj


@pytest.fixture(scope="module")
def previous_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """charts/mlops-operator as it was at commit 182679c."""
    archive = subprocess.run(
        ["git", "archive", PREVIOUS, "charts/mlops-operator"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout  # fmt: skip
    out = tmp_path_factory.mktemp("previous-chart")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(out, filter="data")
    chart = out / "charts" / "mlops-operator"
    assert yaml.safe_load((chart / "Chart.yaml").read_text())["version"] == "0.1.0"
    assert (chart / "templates" / "peering.yaml").exists()  # really the previous one
    return chart


@pytest.fixture
def adopted_crds(kubeconfig: str, namespace: str, crds: list[str]) -> Iterator[list[str]]:
    """The session's CRDs marked as the release's, so that the upgrade with
    ``crds.create=true`` takes them over (Helm adopts an object that carries its release's
    annotations). Afterwards, Helm's marks are taken off again."""
    run(
        KUBECTL,
        kubeconfig,
        "annotate",
        "--overwrite",
        "crd",
        *crds,
        f"meta.helm.sh/release-name={RELEASE}",
        f"meta.helm.sh/release-namespace={namespace}",
    )
    run(KUBECTL, kubeconfig, "label", "--overwrite", "crd", *crds,
        "app.kubernetes.io/managed-by=Helm")  # fmt: skip
    try:
        yield crds
    finally:
        run(
            KUBECTL,
            kubeconfig,
            "annotate",
            "crd",
            *crds,
            *[f"{k}-" for k in HELM_OWNERSHIP["annotations"]],
            check=False,
        )
        run(KUBECTL, kubeconfig, "label", "crd", *crds,
            *[f"{k}-" for k in HELM_OWNERSHIP["labels"]], check=False)  # fmt: skip


def training_job(name: str) -> Obj:
    """One pod that runs for 45 s (KWOK), long enough to outlive the upgrade."""
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "image": "ghcr.io/example/train:1",
            "podTemplate": {"metadata": {"annotations": {COMPLETE_DELAY_ANNOTATION: "45s"}}},
        },
    }


def model_deployment(name: str, model: str) -> Obj:
    """Rolled out by a canary at 50% that waits for a manual promote."""
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"uri": model},
            "server": {"image": "ghcr.io/example/serve:1", "readinessPath": "/ready"},
            "replicas": 2,
            "rollout": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
        },
    }


def test_upgrade_keeps_runs_and_rollouts_and_uninstall_keeps_crds_and_objects(
    tmp_path: Path,
    kubeconfig: str,
    namespace: str,
    adopted_crds: list[str],
    previous_chart: Path,
) -> None:
    fullname = f"{RELEASE}-mlops-operator"
    # The previous chart, as it was installed: its own values, its CRDs left to the cluster
    # (its crds/ held only kopf's peering CRDs, which this chart no longer needs).
    run(HELM, kubeconfig, "install", RELEASE, str(previous_chart), "-n", namespace,
        "--skip-crds", "--wait", "--timeout=60s", "--set", "crds.create=false",
        "--set", f"namespaces={{{namespace}}}")  # fmt: skip
    operator = SAOperator(Path(kubeconfig), tmp_path / "before.log", [f"--namespace={namespace}"])
    try:
        run(KUBECTL, kubeconfig, "apply", "-n", namespace, "-f", "-",
            stdin=json.dumps(training_job("run")))  # fmt: skip
        md = model_deployment("served", "s3://models/v1")
        run(KUBECTL, kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=json.dumps(md))

        def status(kind: str, name: str) -> Obj:
            return get(kubeconfig, namespace, kind, name).get("status") or {}

        wait_for(lambda: status("trainingjob", "run").get("phase") == "Running", 60,
                 f"TrainingJob running (log: {operator.log})")  # fmt: skip
        wait_for(lambda: (status("modeldeployment", "served").get("stable") or {}).get("model")
                 == "s3://models/v1" and status("modeldeployment", "served").get("phase")
                 == "Healthy", 60, f"v1 served (log: {operator.log})")  # fmt: skip
        # A new model: the canary goes to 50% and waits for a promote.
        md["spec"]["model"]["uri"] = "s3://models/v2"
        run(KUBECTL, kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=json.dumps(md))
        wait_for(lambda: (status("modeldeployment", "served").get("canary") or {}).get("model")
                 == "s3://models/v2", 60, f"canary of v2 (log: {operator.log})")  # fmt: skip
    finally:
        assert operator.stop() == 0, operator.log.read_text()

    (job,) = json.loads(
        run(KUBECTL, kubeconfig, "get", "jobs", "-n", namespace, "-o", "json").stdout
    )["items"]
    before_tj = status("trainingjob", "run")
    canary_before = status("modeldeployment", "served")["canary"]
    deployments_before = {
        d["metadata"]["name"]: d["metadata"]["uid"]
        for d in json.loads(
            run(KUBECTL, kubeconfig, "get", "deployments", "-n", namespace, "-o", "json").stdout
        )["items"]
        if d["metadata"]["name"] != fullname
    }
    assert len(deployments_before) == 2  # stable and canary

    # The upgrade: today's chart, taking over the CRDs.
    run(HELM, kubeconfig, "upgrade", RELEASE, str(CHART), "-n", namespace, "--wait",
        "--timeout=60s", "--set", "crds.create=true",
        "--set", f"namespaces={{{namespace}}}")  # fmt: skip
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    assert version != "0.1.0", "the chart changed since 182679c: Chart.yaml's version too"
    history = run(HELM, kubeconfig, "history", RELEASE, "-n", namespace, "-o", "json")
    assert [(h["revision"], h["chart"]) for h in json.loads(history.stdout)] == [
        (1, "mlops-operator-0.1.0"),
        (2, f"mlops-operator-{version}"),
    ]
    for crd in adopted_crds:
        meta = json.loads(run(KUBECTL, kubeconfig, "get", "crd", crd, "-o", "json").stdout)
        assert meta["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", crd

    # Nothing of the user's was replaced.
    assert (
        get(kubeconfig, namespace, "job", job["metadata"]["name"])["metadata"]["uid"]
        == (job["metadata"]["uid"])
    )
    assert status("trainingjob", "run")["attempts"] == before_tj["attempts"]
    assert status("modeldeployment", "served")["canary"] == canary_before

    # The upgraded release's service account runs the operator on: the run finishes, and
    # the canary is promoted.
    config = _service_account_kubeconfig(kubeconfig, namespace, fullname, tmp_path / "sa")
    operator = SAOperator(config, tmp_path / "after.log", [f"--namespace={namespace}"])
    try:
        done = wait_for(
            lambda: (
                (s := status("trainingjob", "run")).get("phase") in ("Succeeded", "Failed") and s
            ),
            90,
            f"the run finished (log: {operator.log})",
        )
        assert done["phase"] == "Succeeded", done
        assert done["attempts"] == before_tj["attempts"]  # no restart
        run(KUBECTL, kubeconfig, "annotate", "-n", namespace, "modeldeployment", "served",
            f"{PROMOTE_ANNOTATION}=after-upgrade")  # fmt: skip
        wait_for(
            lambda: (
                (s := status("modeldeployment", "served")).get("phase") == "Healthy"
                and (s.get("stable") or {}).get("model") == "s3://models/v2"
                and "canary" not in s
            ),
            60,
            f"v2 promoted (log: {operator.log})",
        )
    finally:
        assert operator.stop() == 0, operator.log.read_text()
    assert "Forbidden" not in operator.log.read_text()

    # Uninstall: the release goes; CRDs and the user's objects stay.
    run(HELM, kubeconfig, "uninstall", RELEASE, "-n", namespace, "--wait")
    leftovers = run(KUBECTL, kubeconfig, "get", "deployment,serviceaccount,clusterrole",
                    "-n", namespace, "-l", f"app.kubernetes.io/instance={RELEASE}",
                    "-o", "name").stdout  # fmt: skip
    assert fullname not in leftovers, leftovers
    for crd in adopted_crds:
        run(KUBECTL, kubeconfig, "get", "crd", crd)
    assert status("trainingjob", "run")["phase"] == "Succeeded"
    assert status("modeldeployment", "served")["stable"]["model"] == "s3://models/v2"
    remaining = json.loads(
        run(KUBECTL, kubeconfig, "get", "deployments", "-n", namespace, "-o", "json").stdout
    )["items"]
    assert remaining, "the model server's Deployment went with the release"
