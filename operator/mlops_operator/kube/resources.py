"""The API resources the operator reads and writes, and how their URLs are built."""

from __future__ import annotations

from dataclasses import dataclass

from mlops_operator import GROUP, VERSION


@dataclass(frozen=True)
class Resource:
    """One kind of object in the API: enough to build its REST paths."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def base(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def collection(self, namespace: str | None) -> str:
        """The objects of one namespace, or with None of every namespace."""
        if namespace is None:
            return f"{self.base}/{self.plural}"
        return self.path(namespace)

    def path(self, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        path = f"{self.base}/namespaces/{namespace}/{self.plural}"
        if name is not None:
            path += f"/{name}"
        if subresource is not None:
            path += f"/{subresource}"
        return path


TRAININGJOBS = Resource(GROUP, VERSION, "trainingjobs", "TrainingJob")
MODELDEPLOYMENTS = Resource(GROUP, VERSION, "modeldeployments", "ModelDeployment")
RETRAINPOLICIES = Resource(GROUP, VERSION, "retrainpolicies", "RetrainPolicy")
JOBS = Resource("batch", "v1", "jobs", "Job")
PODS = Resource("", "v1", "pods", "Pod")
SERVICES = Resource("", "v1", "services", "Service")
EVENTS = Resource("", "v1", "events", "Event")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
HPAS = Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
HTTPROUTES = Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute")
WORKLOADS = Resource("kueue.x-k8s.io", "v1beta2", "workloads", "Workload")

BY_KIND = {
    r.kind: r
    for r in (
        TRAININGJOBS,
        MODELDEPLOYMENTS,
        RETRAINPOLICIES,
        JOBS,
        PODS,
        SERVICES,
        EVENTS,
        LEASES,
        DEPLOYMENTS,
        HPAS,
        HTTPROUTES,
        WORKLOADS,
    )
}
