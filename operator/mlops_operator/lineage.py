"""``mlops-operator lineage``: fetch the chain's objects and print it (see core.lineage)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

from kubernetes_asyncio import config as k8s_config

from mlops_operator.api.modeldeployment import ModelDeployment
from mlops_operator.api.parse import InvalidSpec, parse
from mlops_operator.api.retrainpolicy import RetrainPolicy
from mlops_operator.api.trainingjob import TrainingJob
from mlops_operator.core.lineage import Row, rows
from mlops_operator.kube.client import ApiError, Kube
from mlops_operator.kube.resources import MODELDEPLOYMENTS, RETRAINPOLICIES, TRAININGJOBS, Resource


async def show(name: str, namespace: str | None, output: str) -> int:
    """Print the lineage of ModelDeployment ``name``; 1 if it does not exist."""
    namespace = namespace or _current_namespace()
    kube = await Kube.connect()
    try:
        md = await _get(kube, MODELDEPLOYMENTS, ModelDeployment, namespace, name)
        if md is None:
            print(f"modeldeployment {namespace}/{name} not found", file=sys.stderr)
            return 1
        stable = md.status.stable
        tj = None
        if stable is not None and stable.training_job:
            tj = await _get(kube, TRAININGJOBS, TrainingJob, namespace, stable.training_job)
        policy = None
        if tj is not None and tj.status.triggered_by is not None:
            policy = await _get(
                kube,
                RETRAINPOLICIES,
                RetrainPolicy,
                namespace,
                tj.status.triggered_by.retrain_policy,
            )
        chain = rows(md, tj, policy)
    finally:
        await kube.close()
    print(json.dumps([asdict(r) for r in chain], indent=2) if output == "json" else table(chain))
    return 0


def table(chain: list[Row]) -> str:
    """Rows aligned in columns, like ``kubectl get``."""
    header = Row("STEP", "OBJECT", "DETAIL")
    widths = [max(len(getattr(r, f)) for r in [header, *chain]) for f in ("step", "object")]
    lines = [
        f"{r.step.upper() if r is header else r.step:<{widths[0]}}   {r.object:<{widths[1]}}   "
        f"{r.detail}".rstrip()
        for r in [header, *chain]
    ]
    return "\n".join(lines)


async def _get(kube: Kube, resource: Resource, model: Any, namespace: str, name: str) -> Any:
    try:
        return parse(model, await kube.get(resource, namespace, name))
    except ApiError as exc:
        if exc.not_found:
            return None
        raise
    except InvalidSpec:
        return None


def _current_namespace() -> str:
    try:
        _, context = k8s_config.list_kube_config_contexts()
        return str(((context or {}).get("context") or {}).get("namespace") or "default")
    except (k8s_config.ConfigException, OSError, TypeError):
        return "default"
