"""Argo CD health checks (deploy/argocd/), run in Argo CD's own Lua VM under its rules.

Argo CD has no health for custom resources unless a Lua script per kind says it; without
one, sync waves do not wait for our objects. The scripts live in Argo CD's upstream layout
(``resource_customizations/mlops.dev/<Kind>/health.lua``, ``health_test.yaml``,
``testdata/``). ``argocd-lua-health`` (hack/toolchain/gopher-lua, built from Go modules
like the rest of the toolchain) runs every case in gopher-lua v1.1.2, the VM Argo CD 3.6
pins, twice: with only what Argo CD gives a script configured in argocd-cm (base, table,
package, a safe os through require; no string, no math), and with every library, as Argo
CD's own built-in scripts and their tests get. Each has 1 s, as in Argo CD.

The test data are objects the operator wrote on the local cluster (TrainingJobs,
ModelDeployments and RetrainPolicies driven through their states), stripped to metadata
and the status fields the scripts read. Here they must still be valid statuses of the
operator's models, cover every phase each model declares, and their expected health must
follow the rules below, restated independently of the Lua.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcluster.paths import find_binary
from mlops_operator.api.modeldeployment import ModelDeploymentPhase, ModelDeploymentStatus
from mlops_operator.api.retrainpolicy import RetrainPolicyPhase, RetrainPolicyStatus
from mlops_operator.api.trainingjob import TrainingJobPhase, TrainingJobStatus

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "deploy" / "argocd"
CUSTOMIZATIONS = ARGOCD / "resource_customizations"
GROUP_DIR = CUSTOMIZATIONS / "mlops.dev"
BUILD = REPO / "hack" / "toolchain" / "build.sh"

Obj = dict[str, Any]

KINDS: dict[str, tuple[type[Any], set[str]]] = {
    "TrainingJob": (TrainingJobStatus, {p.value for p in TrainingJobPhase}),
    "ModelDeployment": (ModelDeploymentStatus, {p.value for p in ModelDeploymentPhase}),
    "RetrainPolicy": (RetrainPolicyStatus, {p.value for p in RetrainPolicyPhase}),
}


@pytest.fixture(scope="module")
def lua_health() -> Path:
    """argocd-lua-health, (re)built by the toolchain script: cached by gopher-lua's version
    and a hash of the runner's source, so this costs nothing unless the runner changed."""
    subprocess.run(["bash", str(BUILD), "gopher-lua"], check=True, capture_output=True)
    return find_binary("argocd-lua-health")


def run(binary: Path, *args: str | Path) -> tuple[int, list[Obj]]:
    """Run the runner with -json; its exit status and its cases."""
    done = subprocess.run(
        [str(binary), "-json", *map(str, args)], capture_output=True, text=True, timeout=60
    )
    cases: list[Obj] = json.loads(done.stdout) if done.stdout.strip() else []
    return done.returncode, cases


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def cases_of(kind: str) -> list[Obj]:
    tests: list[Obj] = load(GROUP_DIR / kind / "health_test.yaml")["tests"]
    return tests


def condition(obj: Obj, kind: str) -> Obj | None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), None)


def behind(obj: Obj) -> bool:
    """No status yet, or a status of an older generation."""
    observed = (obj.get("status") or {}).get("observedGeneration")
    return observed is None or observed < obj["metadata"]["generation"]


# --- the rules, restated from the API contract (docs/argocd.md) -------------------------

TRAININGJOB_BY_PHASE = {
    "Succeeded": "Healthy",
    "Failed": "Degraded",
    "Suspended": "Suspended",
    "Pending": "Progressing",
    "Queued": "Progressing",
    "Running": "Progressing",
    "Restarting": "Progressing",
}
MODELDEPLOYMENT_BY_PHASE = {
    "Healthy": "Healthy",
    "Progressing": "Progressing",
    "Degraded": "Degraded",
    "Paused": "Suspended",
}


def expected_health(obj: Obj) -> str:
    """The health the rules give an object (the Lua scripts must agree)."""
    if behind(obj):
        return "Progressing"
    phase = obj["status"].get("phase")
    if obj["kind"] == "TrainingJob":
        return TRAININGJOB_BY_PHASE[phase]
    if obj["kind"] == "ModelDeployment":
        return MODELDEPLOYMENT_BY_PHASE[phase]
    ready = condition(obj, "Ready") or {}
    suspended = condition(obj, "Suspended") or {}
    if ready.get("status") == "False" and ready.get("reason") == "InvalidSpec":
        return "Degraded"
    if suspended.get("status") == "True":
        return "Suspended"
    if ready.get("status") == "False":
        return "Degraded"
    if ready.get("status") == "Unknown":
        return "Progressing"
    return "Healthy"  # Watching, Breaching, Retraining, CoolingDown


# --- the cases ------------------------------------------------------------------------


def test_every_case_passes_in_argo_cds_lua_vm_with_and_without_open_libraries(
    lua_health: Path,
) -> None:
    code, cases = run(lua_health, CUSTOMIZATIONS)
    failed = [c for c in cases if not c["ok"]]
    assert not failed, json.dumps(failed, indent=2)
    assert code == 0
    declared = sum(len(cases_of(kind)) for kind in KINDS)
    assert declared >= 3 * 10
    # Each declared case ran in both set-ups: none skipped, none extra.
    assert sorted((c["script"], c["input"], c["libs"]) for c in cases) == sorted(
        (f"mlops.dev/{kind}", t["inputPath"], libs)
        for kind in KINDS
        for t in cases_of(kind)
        for libs in ("configured", "builtin")
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_test_data_are_statuses_of_the_operators_models_and_all_used(kind: str) -> None:
    status_model, _ = KINDS[kind]
    used = [t["inputPath"] for t in cases_of(kind)]
    assert len(used) == len(set(used)), "a testdata file is used twice"
    files = sorted(
        p.relative_to(GROUP_DIR / kind).as_posix()
        for p in (GROUP_DIR / kind).glob("testdata/*.yaml")
    )
    assert sorted(used) == files, "every testdata file has a case and every case a file"
    for path in files:
        obj = load(GROUP_DIR / kind / path)
        assert obj["apiVersion"] == "mlops.dev/v1alpha1"
        assert obj["kind"] == kind
        assert obj["metadata"]["generation"] >= 1
        if "status" in obj:
            status_model.model_validate(obj["status"])  # raises if not the operator's shape


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_phase_and_a_status_behind_the_spec_have_a_case(kind: str) -> None:
    _, phases = KINDS[kind]
    objs = [load(GROUP_DIR / kind / t["inputPath"]) for t in cases_of(kind)]
    current = [o for o in objs if not behind(o)]
    assert phases <= {o["status"].get("phase") for o in current}
    assert any("status" not in o for o in objs), "a just-created object without status"
    assert any("status" in o and behind(o) for o in objs), "a status of an older generation"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_expected_health_follows_the_rules_with_the_deciding_conditions_message(
    kind: str,
) -> None:
    for test in cases_of(kind):
        obj = load(GROUP_DIR / kind / test["inputPath"])
        want = test["healthStatus"]
        assert want["status"] == expected_health(obj), test["inputPath"]
        message = want.get("message", "")
        assert message, f"{test['inputPath']}: every health has a message"
        if behind(obj):
            generation = obj["metadata"]["generation"]
            assert message == f"Waiting for the operator to observe generation {generation}"
        else:
            # The message starts with the reason and message of one of the object's own
            # conditions: what the operator said, not a paraphrase.
            said = [
                f"{c['reason']}: {c['message']}" if c.get("message") else c["reason"]
                for c in obj["status"].get("conditions", [])
            ]
            assert any(message.startswith(s) for s in said), (test["inputPath"], message)


def test_a_retrain_policy_says_what_its_last_run_left_behind() -> None:
    """A policy stays Healthy when its run failed or its model was not promoted, but says
    so: Argo CD leaves its TrainingJobs (children) out of the Application's health."""
    by_input = {t["inputPath"]: t["healthStatus"] for t in cases_of("RetrainPolicy")}
    failed = by_input["testdata/last-run-failed.yaml"]
    assert failed["status"] == "Healthy"
    assert "; RunFailed: TrainingJob " in failed["message"]
    assert " failed: " in failed["message"]
    rejected = by_input["testdata/not-promoted.yaml"]
    assert rejected["status"] == "Healthy"
    assert "; EvaluationFailed: model of " in rejected["message"]


# --- the runner keeps Argo CD's rules ------------------------------------------------------


def one_case(root: Path, script: str, want: Obj) -> Path:
    """A customization dir with one script and one case on a minimal object."""
    kind_dir = root / "example.com" / "Thing"
    (kind_dir / "testdata").mkdir(parents=True)
    (kind_dir / "health.lua").write_text(script)
    (kind_dir / "testdata" / "thing.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t, generation: 2}\n"
        "status: {observedGeneration: 2}\n"
    )
    tests = {"tests": [{"healthStatus": want, "inputPath": "testdata/thing.yaml"}]}
    (kind_dir / "health_test.yaml").write_text(yaml.safe_dump(tests))
    return root


def outcome(cases: list[Obj]) -> dict[str, tuple[bool, str]]:
    return {c["libs"]: (c["ok"], c.get("error", "")) for c in cases}


@pytest.mark.parametrize(
    "call",
    [
        'string.format("%d", obj.metadata.generation)',
        "tostring(math.floor(obj.metadata.generation))",
        "os.date('%Y')",  # the global os is nil; only require("os") gives os.date/os.time
    ],
)
def test_a_configured_script_gets_no_string_math_or_global_os(
    lua_health: Path, tmp_path: Path, call: str
) -> None:
    script = f'local m = {call}\nreturn {{status = "Healthy", message = "ok"}}\n'
    root = one_case(tmp_path, script, {"status": "Healthy", "message": "ok"})
    code, cases = run(lua_health, root)
    assert code == 1
    got = outcome(cases)
    assert got["builtin"] == (True, "")
    ok, error = got["configured"]
    assert not ok
    assert "attempt to index a non-table object(nil)" in error


def test_a_configured_script_may_require_the_safe_os(lua_health: Path, tmp_path: Path) -> None:
    script = (
        'local os = require("os")\n'
        "if os.time() > 0 and os.execute == nil and os.exit == nil then\n"
        '  return {status = "Healthy", message = "safe os"}\nend\n'
        'return {status = "Degraded", message = "unsafe os"}\n'
    )
    root = one_case(tmp_path, script, {"status": "Healthy", "message": "safe os"})
    code, cases = run(lua_health, root)
    assert (code, outcome(cases)) == (0, {"configured": (True, ""), "builtin": (True, "")})


def test_a_script_that_runs_past_one_second_is_stopped(lua_health: Path, tmp_path: Path) -> None:
    root = one_case(tmp_path, "while true do end\n", {"status": "Healthy"})
    start = time.monotonic()
    code, cases = run(lua_health, root)
    assert time.monotonic() - start < 10
    assert code == 1
    assert all("context deadline exceeded" in c["error"] for c in cases)
    assert len(cases) == 2


def test_a_status_that_is_not_a_health_code_becomes_unknown(
    lua_health: Path, tmp_path: Path
) -> None:
    script = 'return {status = "Fine", message = "all good"}\n'
    want = {"status": "Unknown", "message": "Lua returned an invalid health status"}
    code, cases = run(lua_health, one_case(tmp_path, script, want))
    assert (code, [c["ok"] for c in cases]) == (0, [True, True])


def test_a_wrong_expectation_fails(lua_health: Path, tmp_path: Path) -> None:
    script = 'return {status = "Progressing", message = "m"}\n'
    code, cases = run(lua_health, one_case(tmp_path, script, {"status": "Healthy", "message": "m"}))
    assert code == 1
    assert [c["got"] for c in cases] == [{"status": "Progressing", "message": "m"}] * 2


# --- installing them into Argo CD ---------------------------------------------------------


def test_the_kustomize_component_puts_exactly_the_tested_scripts_into_argocd_cm(
    tmp_path: Path,
) -> None:
    """deploy/argocd/kustomization.yaml merges the three scripts into an existing argocd-cm
    under Argo CD's keys, read from the files (so no copy can drift), keeping its data."""
    kubectl = find_binary("kubectl")
    (tmp_path / "argocd-cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\n"
        "data: {url: https://argocd.example.com}\n"
    )
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "argocd",
                "resources": ["argocd-cm.yaml"],
                "components": [os.path.relpath(ARGOCD, tmp_path)],
            }
        )
    )
    rendered = subprocess.run(
        [str(kubectl), "kustomize", str(tmp_path)], check=True, capture_output=True, text=True
    ).stdout
    (cm,) = list(yaml.safe_load_all(rendered))
    assert cm["metadata"] == {"name": "argocd-cm", "namespace": "argocd"}
    assert cm["data"] == {
        "url": "https://argocd.example.com",
        **{
            f"resource.customizations.health.mlops.dev_{kind}": (
                GROUP_DIR / kind / "health.lua"
            ).read_text()
            for kind in KINDS
        },
    }
