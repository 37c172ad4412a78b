"""Prometheus metrics of the operator itself, in controller-runtime's naming.

``mlops_operator_reconcile_total{controller,result}``, ``..._reconcile_errors_total``,
``..._reconcile_time_seconds`` and the work queue's depth, plus every request this
operator sends to the API server (the benchmark reads these to count writes per object).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

PREFIX = "mlops_operator"

RECONCILE_TOTAL = Counter(
    f"{PREFIX}_reconcile_total",
    "Reconciles by controller and result (success, error, requeue).",
    ["controller", "result"],
)
RECONCILE_ERRORS = Counter(
    f"{PREFIX}_reconcile_errors_total",
    "Reconciles that raised an error.",
    ["controller"],
)
RECONCILE_TIME = Histogram(
    f"{PREFIX}_reconcile_time_seconds",
    "Time spent in one reconcile.",
    ["controller"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
QUEUE_DEPTH = Gauge(
    f"{PREFIX}_workqueue_depth",
    "Keys waiting in the work queue.",
    ["controller"],
)
API_REQUESTS = Counter(
    f"{PREFIX}_kube_requests_total",
    "Requests this operator sent to the Kubernetes API (kopf's watches excluded).",
    ["verb", "resource", "code"],
)
PROMETHEUS_QUERIES = Counter(
    f"{PREFIX}_prometheus_queries_total",
    "PromQL queries this operator ran (canary analysis, drift), by outcome: value, NoData,"
    " PrometheusUnreachable or QueryError.",
    ["result"],
)
PROMETHEUS_QUERY_TIME = Histogram(
    f"{PREFIX}_prometheus_query_time_seconds",
    "Time from sending a PromQL query to having its answer (waiting for a free slot excluded).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def serve(port: int, addr: str = "0.0.0.0") -> None:
    """Expose ``/metrics`` on a background thread."""
    start_http_server(port, addr=addr)


# --- what the operator does for its users (Operator Capability Level 4) -------------------

ROLLOUTS = Counter(
    f"{PREFIX}_rollouts_total",
    "Finished ModelDeployment rollouts by outcome (Promoted, Aborted, RolledBack).",
    ["outcome"],
)
MEASUREMENTS = Counter(
    f"{PREFIX}_analysis_measurements_total",
    "Canary analysis measurements by result (Pass, Fail, Inconclusive).",
    ["result"],
)
RETRAINS = Counter(
    f"{PREFIX}_retrains_total",
    "TrainingJobs started by RetrainPolicies, by trigger (Drift, Schedule, Manual).",
    ["trigger"],
)
DRIFT_VALUE = Gauge(
    f"{PREFIX}_drift_value",
    "The last value of each RetrainPolicy's drift query (NaN: no data).",
    ["namespace", "policy"],
)
