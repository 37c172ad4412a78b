"""kube-score and kubeconform over what users apply: the chart and ``examples/``.

Both checkers are built from Go modules by hack/toolchain/build.sh (``.local/bin``). They run
over these sources:

- ``chart-defaults``: ``helm template`` of charts/mlops-operator with its default values;
- ``chart-replicas-2``: the same with ``replicas=2`` (leader election, a PodDisruptionBudget)
  and ``admissionPolicy.enabled=true`` (so the ValidatingAdmissionPolicy is checked too);
- ``examples``: every ``examples/*.yaml``.

kubeconform validates every object, offline and strictly (no unknown fields):

- Kubernetes' own kinds against the JSON schemas that the PyPI package ``kubernetes-validate``
  ships. Those point into a shared ``_definitions.json`` by absolute ``$ref``s that
  kubeconform cannot follow, so each schema used is first rewritten with the definitions it
  needs inlined (:func:`kubernetes_schemas`, cached under ``.local/schemas``);
- our kinds against our CRDs (``crds/``), converted by the script kubeconform ships,
  ``scripts/openapi2jsonschema.py`` (:func:`crd_schemas`).

kube-score scores the chart's workload objects (it knows nothing of our kinds, so the
examples pass through it unscored). Every check it grades below "OK" is a finding.

A finding is either fixed in the chart or ignored in ``config.yaml`` beside this module,
with a reason; an ignore entry that no longer matches anything fails too, so the list never
outlives its findings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CONFIG",
    "KUBERNETES_VERSION",
    "RENDERS",
    "Finding",
    "Ignore",
    "Report",
    "Source",
    "crd_schemas",
    "kube_score",
    "kubeconform",
    "kubernetes_schemas",
    "load_config",
    "main",
    "run",
    "sources",
    "triage",
]

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "mlops-operator"
EXAMPLES = REPO / "examples"
CRDS = REPO / "crds"
BIN = REPO / ".local" / "bin"
SCHEMA_CACHE = REPO / ".local" / "schemas"
CONFIG = Path(__file__).with_name("config.yaml")

#: The Kubernetes version whose schemas validate (the local cluster's, hack/toolchain).
KUBERNETES_VERSION = "1.36.0"

#: The chart's renders, by source name: the values each is rendered with.
RENDERS: dict[str, dict[str, Any]] = {
    "chart-defaults": {},
    "chart-replicas-2": {"replicas": 2, "admissionPolicy": {"enabled": True}},
}

Obj = dict[str, Any]


@dataclass(frozen=True)
class Source:
    """A YAML stream the checkers read: a chart render or an example file."""

    name: str
    path: Path


@dataclass(frozen=True)
class Finding:
    """What a checker says is wrong with one object."""

    tool: str
    """``kube-score`` or ``kubeconform``."""
    source: str
    """:attr:`Source.name`."""
    obj: str
    """``Kind/name`` of the object."""
    check: str
    """kube-score's check id; for kubeconform, ``invalid`` or ``error``."""
    message: str

    def __str__(self) -> str:
        return f"{self.tool} [{self.source}] {self.obj}: {self.check}: {self.message}"


@dataclass(frozen=True)
class Ignore:
    """An accepted finding (an entry of config.yaml)."""

    tool: str
    check: str
    reason: str
    sources: frozenset[str] | None = None
    """Only in these sources; ``None``: in every source."""
    obj: str | None = None
    """Only for this ``Kind/name``; ``None``: any object."""

    def matches(self, finding: Finding) -> bool:
        return (
            finding.tool == self.tool
            and finding.check == self.check
            and (self.sources is None or finding.source in self.sources)
            and (self.obj is None or finding.obj == self.obj)
        )


@dataclass
class Report:
    """Findings, split into those to fix and those ignored with a reason."""

    failures: list[Finding] = field(default_factory=list)
    ignored: list[tuple[Finding, Ignore]] = field(default_factory=list)
    unused: list[Ignore] = field(default_factory=list)
    """Ignore entries that matched nothing: stale, remove them."""

    @property
    def ok(self) -> bool:
        return not self.failures and not self.unused

    def text(self) -> str:
        lines = [f"FAIL {f}" for f in self.failures]
        lines += [f"ignored {f} -- {i.reason}" for f, i in self.ignored]
        lines += [f"STALE ignore {i.tool} {i.check}: matches no finding" for i in self.unused]
        lines.append(
            f"{len(self.failures)} failing, {len(self.ignored)} ignored with a reason, "
            f"{len(self.unused)} stale ignores"
        )
        return "\n".join(lines)


# --- sources ------------------------------------------------------------------------------


def _tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: `make toolchain` builds it")
    return path


def sources(work: Path) -> list[Source]:
    """The chart's renders (written under ``work``) and the example files."""
    out: list[Source] = []
    for name, values in RENDERS.items():
        values_file = work / f"{name}.values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        rendered = subprocess.run(
            [str(_tool("helm")), "template", "mlops", str(CHART), "--namespace", "mlops-system",
             "--values", str(values_file)],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        path = work / f"{name}.yaml"
        path.write_text(rendered.stdout)
        out.append(Source(name, path))
    out += [Source("examples", p) for p in sorted(EXAMPLES.glob("*.yaml"))]
    return out


def _objects(path: Path) -> list[Obj]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


# --- kubeconform's schemas ----------------------------------------------------------------

_DEFINITIONS_REF = re.compile(r"^/api/_definitions\.json#/\$defs/(.+)$")


def schema_file(kind: str, api_version: str) -> str:
    """The file kubeconform looks up for a kind, as its ``{{ .ResourceKind }}{{ .KindSuffix
    }}.json`` template names it: ``deployment-apps-v1.json``, ``service-v1.json``."""
    group, _, version = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix.lower()}.json"


def _package_schemas(version: str) -> Path:
    dist = metadata.distribution("kubernetes-validate")
    base = Path(str(dist.locate_file("kubernetes_validate")))
    return base / "kubernetes-json-schema" / f"v{version}-local-strict"


def _rewrite(node: Any, needed: set[str]) -> Any:
    """``node`` with every ``/api/_definitions.json#/$defs/X`` ref made local (``#/$defs/X``);
    the names of the definitions referred to are added to ``needed``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                match = _DEFINITIONS_REF.match(value)
                name = match.group(1) if match else value.removeprefix("#/$defs/")
                if match or value.startswith("#/$defs/"):
                    needed.add(name)
                    value = f"#/$defs/{name}"
            out[key] = _rewrite(value, needed)
        return out
    if isinstance(node, list):
        return [_rewrite(v, needed) for v in node]
    return node


def inline(schema: Obj, definitions: Mapping[str, Any]) -> Obj:
    """``schema`` made self-contained: the definitions it reaches, copied into its own
    ``$defs`` with the refs pointing there."""
    needed: set[str] = set()
    out: Obj = _rewrite(schema, needed)
    defs: dict[str, Any] = {}
    todo = sorted(needed)
    while todo:
        name = todo.pop()
        if name in defs:
            continue
        more: set[str] = set()
        defs[name] = _rewrite(definitions[name], more)
        todo += sorted(more - defs.keys())
    if defs:
        out["$defs"] = dict(sorted(defs.items()))
    return out


def kubernetes_schemas(
    manifests: Iterable[Obj], version: str = KUBERNETES_VERSION, cache: Path = SCHEMA_CACHE
) -> Path:
    """A directory with the inlined schema of every built-in kind among ``manifests``.

    Cached by kubernetes-validate's version and the Kubernetes version; a kind's schema is
    made the first time it is needed. Our kinds have no file there (kubeconform then tries
    the CRD schemas).
    """
    package = _package_schemas(version)
    pkg_version = metadata.version("kubernetes-validate")
    out = cache / f"kubernetes-validate-{pkg_version}" / f"v{version}-local-strict"
    out.mkdir(parents=True, exist_ok=True)
    definitions: Mapping[str, Any] | None = None
    for obj in manifests:
        name = schema_file(str(obj.get("kind", "")), str(obj.get("apiVersion", "")))
        if (out / name).exists() or not (package / name).exists():
            continue
        if definitions is None:
            definitions = json.loads((package / "_definitions.json").read_text())["$defs"]
        schema = inline(json.loads((package / name).read_text()), definitions)
        partial = out / f"{name}.{os.getpid()}.partial"
        partial.write_text(json.dumps(schema))
        partial.replace(out / name)  # atomic: a concurrent session never reads half a file
    return out


def crd_schemas(out: Path, crds: Path = CRDS) -> Path:
    """JSON schemas of our CRDs in ``out``, by kubeconform's own openapi2jsonschema.py
    (hack/toolchain/build.sh copies it beside the kubeconform binary), as
    ``<group>-<kind>_<version>.json``."""
    script = _tool("kubeconform").resolve().parent / "openapi2jsonschema.py"
    if not script.exists():
        raise FileNotFoundError(f"{script} is missing: `make toolchain` copies it there")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, str(script), *map(str, sorted(crds.glob("*.yaml")))],
        cwd=out, capture_output=True, text=True, check=True, timeout=60,
        env={**os.environ, "FILENAME_FORMAT": "{fullgroup}-{kind}_{version}"},
    )  # fmt: skip
    return out


# --- the checkers -------------------------------------------------------------------------


def kubeconform(srcs: Sequence[Source], k8s_schemas: Path, ours: Path) -> list[Finding]:
    """kubeconform, strict, against only the offline schemas; one finding per object that
    is invalid or has no schema."""
    findings: list[Finding] = []
    for source in srcs:
        result = subprocess.run(
            [str(_tool("kubeconform")), "-strict", "-output", "json",
             "-schema-location", f"{k8s_schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
             "-schema-location",
             f"{ours}/{{{{ .Group }}}}-{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
             str(source.path)],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        report = json.loads(result.stdout or "{}")
        for resource in report.get("resources") or []:
            if resource["status"] in ("statusValid", "statusSkipped", "statusEmpty"):
                continue
            findings.append(
                Finding(
                    tool="kubeconform",
                    source=source.name,
                    obj=f"{resource.get('kind')}/{resource.get('name')}",
                    check=str(resource["status"]).removeprefix("status").lower(),
                    message=str(resource.get("msg", "")),
                )
            )
        if result.returncode not in (0, 1) or (result.returncode == 1 and not findings):
            raise RuntimeError(f"kubeconform failed on {source.path}:\n{result.stderr}")
    return findings


def kube_score(srcs: Sequence[Source], version: str = KUBERNETES_VERSION) -> list[Finding]:
    """kube-score's default checks; every check graded below OK is a finding."""
    findings: list[Finding] = []
    major_minor = "v" + ".".join(version.split(".")[:2])
    for source in srcs:
        result = subprocess.run(
            [str(_tool("kube-score")), "score", "--output-format", "json",
             "--kubernetes-version", major_minor, str(source.path)],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if result.returncode not in (0, 1):
            raise RuntimeError(f"kube-score failed on {source.path}:\n{result.stderr}")
        for scored in json.loads(result.stdout or "[]") or []:
            kind = scored["type_meta"]["kind"]
            name = scored["object_meta"]["name"]
            for check in scored["checks"]:
                if check["skipped"] or check["grade"] >= 10:
                    continue
                comments = check.get("comments") or [{}]
                message = "; ".join(
                    f"{c.get('path')}: {c.get('summary')}"
                    if c.get("path")
                    else str(c.get("summary"))
                    for c in comments
                )
                findings.append(
                    Finding("kube-score", source.name, f"{kind}/{name}", check["check"]["id"],
                            message)
                )  # fmt: skip
    return findings


# --- config and triage --------------------------------------------------------------------


def load_config(path: Path = CONFIG) -> list[Ignore]:
    """The ignore entries of config.yaml; each must give a reason."""
    data = yaml.safe_load(path.read_text()) or {}
    out: list[Ignore] = []
    for tool in ("kube-score", "kubeconform"):
        for entry in data.get(tool, {}).get("ignore", []) or []:
            reason = str(entry.get("reason", "")).strip()
            if not reason:
                raise ValueError(f"{path}: {tool} ignore of {entry.get('check')} has no reason")
            srcs = entry.get("sources")
            out.append(
                Ignore(
                    tool=tool,
                    check=str(entry["check"]),
                    reason=" ".join(reason.split()),
                    sources=frozenset(srcs) if srcs else None,
                    obj=entry.get("object"),
                )
            )
    return out


def triage(findings: Iterable[Finding], ignores: Sequence[Ignore]) -> Report:
    report = Report()
    used: set[Ignore] = set()
    for finding in findings:
        match = next((i for i in ignores if i.matches(finding)), None)
        if match is None:
            report.failures.append(finding)
        else:
            report.ignored.append((finding, match))
            used.add(match)
    report.unused = [i for i in ignores if i not in used]
    return report


def run(work: Path, config: Path = CONFIG) -> Report:
    """Render, check, triage: the whole check, with scratch files under ``work``."""
    srcs = sources(work)
    manifests = [obj for s in srcs for obj in _objects(s.path)]
    k8s = kubernetes_schemas(manifests)
    ours = crd_schemas(work / "crd-schemas")
    findings = kubeconform(srcs, k8s, ours) + kube_score(srcs)
    return triage(findings, load_config(config))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checks", description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / ".local" / "checks")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    report = run(args.work)
    print(report.text())
    return 0 if report.ok else 1
