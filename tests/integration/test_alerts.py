"""The operator's alerts (deploy/prometheus/), their PrometheusRule in the chart, and the
Grafana dashboard (deploy/grafana/), checked by the real tools.

- ``promtool check rules`` on the rule file and on the groups the chart renders, and
  ``promtool test rules`` on its unit tests, where every alert has a case in which it fires
  and one in which it stays quiet;
- every alert carries a severity, a summary, a description and a runbook;
- every metric the rules and the dashboard read is one the operator exports, with its
  label names, and the label values they select are values the operator writes;
- the chart's PrometheusRule: rendered only when enabled and the API is served (or
  forced), its groups are the rule file's with the job the ServiceMonitor gives, and its
  values are checked by the schema;
- every dashboard query (variables filled in) is run on the real local Prometheus, which
  must answer without error: a query that does not parse is refused there.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from localcluster.paths import find_binary
from localcluster.prometheus import PrometheusServer
from mlops_operator.api.modeldeployment import MeasurementResult, RolloutOutcome
from mlops_operator.api.retrainpolicy import TriggerReason
from mlops_operator.api.trainingjob import TrainingJobPhase
from mlops_operator.core.watching.series import Problem
from mlops_operator.observability import metrics

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "mlops-operator.rules.yaml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "mlops-operator.rules.test.yaml"
CHART = REPO / "charts" / "mlops-operator"
CHART_RULES = CHART / "files" / "prometheus" / "mlops-operator.rules.yaml"
DASHBOARD = REPO / "deploy" / "grafana" / "mlops-operator.json"
JOB = 'job="mlops-operator"'

Obj = dict[str, Any]

# --- what the operator exports -------------------------------------------------------------

#: Gauges the operator registers at start-up (controllers/census.py), not at import.
CENSUS = {"mlops_operator_trainingjobs": ("gauge", ("phase",))}
#: What prometheus_client's default collectors export (the dashboard shows memory and CPU).
PROCESS = {"process_resident_memory_bytes": (), "process_cpu_seconds_total": ()}
#: Series Prometheus makes itself.
BUILTIN = {"up": (), "ALERTS": ("alertname", "alertstate", "severity")}


def exported() -> dict[str, tuple[str, ...]]:
    """Every series name the operator exports, with its label names."""
    found: dict[str, tuple[str, ...]] = {}
    families: dict[str, tuple[str, tuple[str, ...]]] = {
        m._name: (str(m._type), tuple(m._labelnames))
        for m in vars(metrics).values()
        if isinstance(m, MetricWrapperBase)
    }
    families.update(CENSUS)
    for name, (kind, labels) in families.items():
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_sum", "_count"],
        }.get(kind, [""])
        for suffix in suffixes:
            le = ("le",) if suffix == "_bucket" else ()
            found[name + suffix] = (*labels, *le)
    return found


#: The label values rules and dashboard select, and where the operator takes them from.
LABEL_VALUES: dict[tuple[str, str], set[str]] = {
    ("mlops_operator_rollouts_total", "outcome"): {o.value for o in RolloutOutcome},
    ("mlops_operator_analysis_measurements_total", "result"): {r.value for r in MeasurementResult},
    ("mlops_operator_retrains_total", "trigger"): {t.value for t in TriggerReason},
    ("mlops_operator_trainingjobs", "phase"): {p.value for p in TrainingJobPhase},
    ("mlops_operator_prometheus_queries_total", "result"): {"value"} | {p.value for p in Problem},
}

SELECTOR = re.compile(r"\b([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
NAME = re.compile(r"\b(mlops_operator_\w+|process_\w+|up|ALERTS)\b")


def check_names_and_labels(expr: str) -> None:
    """Every series the expression reads exists, with the labels it matches on."""
    known = {**exported(), **PROCESS, **BUILTIN}
    scrape = ("job", "instance", "namespace", "exported_namespace")
    for name in NAME.findall(expr):
        assert name in known, f"{name} is not a metric the operator exports: {expr}"
    for name, matchers in SELECTOR.findall(expr):
        if name not in known:
            continue  # a function call such as sum(...){...} cannot occur; grouping labels
        for label, op, value in MATCHER.findall(matchers):
            assert label in (*known[name], *scrape), f"{name} has no label {label}: {expr}"
            allowed = LABEL_VALUES.get((name, label))
            if allowed is None:
                continue
            values = value.split("|") if op == "=~" else [value]
            unknown = set(values) - allowed
            assert not unknown, f"{name}{{{label}}} is never {unknown} (only {allowed}): {expr}"


# --- the rule file ---------------------------------------------------------------------------


def rules() -> list[Obj]:
    groups: list[Obj] = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(find_binary("promtool")), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=RULES.parent,
    )


def test_promtool_checks_the_rules() -> None:
    done = promtool("check", "rules", RULES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = promtool("test", "rules", RULE_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    for rule in rules():
        name = rule["alert"]
        mine = [c for c in cases if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in mine), f"{name}: no case where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{name}: no case where it is quiet"


def test_every_alert_says_how_bad_what_and_what_to_do() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    assert {
        "MLOpsOperatorDown",
        "MLOpsOperatorReconcileErrors",
        "MLOpsRolloutAborted",
        "MLOpsTrainingJobsFailed",
        "MLOpsRetrainPolicyWithoutData",
    } <= set(names)
    for rule in rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description", "runbook"}, rule["alert"]
        assert len(rule["annotations"]["runbook"]) > 200, f"{rule['alert']}: runbook too thin"


def test_rules_read_only_what_the_operator_exports() -> None:
    for rule in rules():
        check_names_and_labels(rule["expr"])
        # Each selector names the job the chart replaces (or a plain Prometheus names so).
        for name, matchers in SELECTOR.findall(rule["expr"]):
            assert JOB in matchers, f"{rule['alert']}: {name}{{{matchers}}} without {JOB}"


# --- the chart's PrometheusRule -----------------------------------------------------------------


def helm_template(*sets: str, api: str | None = None) -> list[Obj]:
    args = [str(find_binary("helm")), "template", "mlops", str(CHART), "-n", "mlops-system"]
    for value in sets:
        args += ["--set", value]
    if api:
        args += ["--api-versions", api]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def prometheus_rules(docs: list[Obj]) -> list[Obj]:
    return [d for d in docs if d["kind"] == "PrometheusRule"]


def test_the_chart_renders_the_rule_file() -> None:
    """The chart's copy is the rule file itself (Helm reads only files inside the chart)."""
    assert CHART_RULES.read_bytes() == RULES.read_bytes(), (
        f"cp {RULES.relative_to(REPO)} {CHART_RULES.relative_to(REPO)}"
    )


def test_prometheus_rule_only_when_enabled_and_served_or_forced() -> None:
    api = "monitoring.coreos.com/v1/PrometheusRule"
    assert prometheus_rules(helm_template()) == []
    assert prometheus_rules(helm_template(api=api)) == []
    assert prometheus_rules(helm_template("prometheusRule.enabled=true")) == []
    assert len(prometheus_rules(helm_template("prometheusRule.enabled=true", api=api))) == 1
    forced = helm_template("prometheusRule.enabled=true", "prometheusRule.force=true")
    assert len(prometheus_rules(forced)) == 1


def test_prometheus_rule_selects_the_service_monitors_job_and_checks_with_promtool(
    tmp_path: Path,
) -> None:
    docs = helm_template(
        "prometheusRule.enabled=true",
        "prometheusRule.force=true",
        "prometheusRule.labels.release=kube-prometheus-stack",
        "serviceMonitor.enabled=true",
        "serviceMonitor.force=true",
    )
    (rule,) = prometheus_rules(docs)
    (service,) = [
        d
        for d in docs
        if d["kind"] == "Service"
        and d["metadata"]["labels"].get("app.kubernetes.io/component") == "metrics"
    ]
    # A ServiceMonitor gives its series job=<the Service's name>.
    job = service["metadata"]["name"]
    assert rule["metadata"]["name"] == "mlops-mlops-operator"
    assert rule["metadata"]["namespace"] == "mlops-system"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    want = yaml.safe_load(RULES.read_text().replace(JOB, f'job="{job}"'))
    assert rule["spec"] == want
    assert JOB not in json.dumps(rule["spec"])

    groups = tmp_path / "rendered.rules.yaml"
    groups.write_text(yaml.safe_dump(rule["spec"]))
    done = promtool("check", "rules", groups)
    assert done.returncode == 0, done.stdout + done.stderr

    (custom,) = prometheus_rules(
        helm_template(
            "prometheusRule.enabled=true", "prometheusRule.force=true", "prometheusRule.job=ops"
        )
    )
    assert custom["spec"] == yaml.safe_load(RULES.read_text().replace(JOB, 'job="ops"'))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("prometheusRule.enabled=yes", "prometheusRule/enabled"),
        ("prometheusRule.jobb=ops", "'jobb' not allowed"),
        ("prometheusRule.labels.team=null", "prometheusRule/labels/team"),
    ],
)
def test_the_schema_refuses_bad_prometheus_rule_values(value: str, message: str) -> None:
    done = subprocess.run(
        [str(find_binary("helm")), "template", "mlops", str(CHART), "--set", value],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


# --- the Grafana dashboard ----------------------------------------------------------------------


def panels(dashboard: Obj) -> Iterator[Obj]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def queries(dashboard: Obj) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and query variable."""
    found = [
        (f"panel {p['id']} {p['title']!r} {t['refId']}", t["expr"])
        for p in panels(dashboard)
        for t in p.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        # Grafana's label_values(metric, label) is not PromQL; its metric selector is.
        text = variable["query"]["query"]
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", text)
        found.append((f"variable {variable['name']}", match.group(1) if match else text))
    return found


#: Grafana's variables, filled in as Grafana would for a 6h range.
VARIABLES = {
    "${datasource}": "",
    "$__rate_interval": "2m",
    "$__interval": "30s",
    "$__range": "6h",
    "$job": "mlops-operator",
}


def fill(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$__" not in expr, expr
    assert "$job" not in expr, expr
    return expr


def test_the_dashboard_is_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "mlops-operator"
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    datasource = {"type": "prometheus", "uid": "${datasource}"}
    titles = set()
    for panel in panels(dashboard):
        assert panel["title"], panel
        assert panel["title"] not in titles, panel["title"]
        titles.add(panel["title"])
        if panel["type"] == "row":
            continue
        assert panel["description"], panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == datasource
        assert all(t["datasource"] == datasource for t in panel["targets"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    shown = " ".join(expr for _, expr in queries(dashboard))
    for family in ("rollouts_total", "analysis_measurements_total", "retrains_total"):
        assert f"mlops_operator_{family}" in shown
    for family in ("drift_value", "trainingjobs", "reconcile_total", "workqueue_depth"):
        assert f"mlops_operator_{family}" in shown


def test_the_dashboard_reads_only_what_the_operator_exports() -> None:
    for where, expr in queries(json.loads(DASHBOARD.read_text())):
        try:
            check_names_and_labels(expr)
        except AssertionError as error:
            raise AssertionError(f"{where}: {error}") from None


def test_every_dashboard_query_runs_on_the_real_prometheus(prometheus: PrometheusServer) -> None:
    errors = []
    found = queries(json.loads(DASHBOARD.read_text()))
    assert len(found) >= 25
    for where, expr in found:
        url = f"{prometheus.url}/api/v1/query?{urllib.parse.urlencode({'query': fill(expr)})}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                reply = json.load(response)
        except urllib.error.HTTPError as error:
            reply = json.load(error)
        if reply.get("status") != "success":
            errors.append(f"{where}: {reply.get('errorType')}: {reply.get('error')}")
    assert not errors, "\n".join(errors)


def test_a_query_that_does_not_parse_is_refused_by_that_prometheus(
    prometheus: PrometheusServer,
) -> None:
    """The check above would catch a broken query: Prometheus answers bad_data."""
    query = urllib.parse.urlencode({"query": "sum by (controller (rate(x[5m]))"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{prometheus.url}/api/v1/query?{query}", timeout=10)
    assert json.load(refused.value)["errorType"] == "bad_data"
