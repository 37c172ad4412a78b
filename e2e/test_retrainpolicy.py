"""RetrainPolicy end to end: the operator as a process, the real control plane, KWOK pods
and the real Prometheus scraping a drift value the test sets.

Each test asserts what a user sees: the policy's status (phase, conditions,
``nextEligibleTime``, ``latestModel``), its Events, and the TrainingJobs it created (their
names, labels and ``status.triggeredBy``). Drift windows, cooldowns and runs are seconds
long, so the whole file runs in a few minutes; the schedule test waits for the next
minute of the wall clock.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kubernetes import client

from e2e.operator_process import OperatorProcess
from e2e.retrainpolicies import (
    Drift,
    RetrainPolicies,
    drift_trigger,
    find,
    manifest,
    parse_time,
    run_spec,
    time_id,
    triggered_by,
)
from localcluster.exporter import Exporter
from localcluster.kwok import TERMINATION_MESSAGE_ANNOTATION
from localcluster.prometheus import PrometheusServer
from localcluster.waiting import wait_for
from mlops_operator.api.keys import (
    PROMOTE_ANNOTATION,
    RETRAIN_ANNOTATION,
    RETRAINPOLICY_LABEL,
    TRIGGER_REASON_ANNOTATION,
    TRIGGER_VALUE_ANNOTATION,
)


def drift_policy(
    prometheus: PrometheusServer, namespace: str, for_: str, **spec: Any
) -> dict[str, Any]:
    """Policy ``churn`` on the test's drift gauge, threshold 0.3, evaluated every second."""
    return manifest(
        "churn", triggers={"drift": drift_trigger(prometheus.url, namespace, for_=for_)}, **spec
    )


def watching(rps: RetrainPolicies) -> None:
    """Wait until the policy has read a value of its query (``Ready=True``)."""
    rps.wait_condition("churn", "Ready", "True", "Watching", timeout=30)


def metrics_message(**metrics: float) -> dict[str, Any]:
    """A merge patch of the policy's template: its runs report ``metrics``."""
    message = json.dumps({"metrics": metrics})
    annotations = {TERMINATION_MESSAGE_ANNOTATION: message}
    template = {"spec": {"podTemplate": {"metadata": {"annotations": annotations}}}}
    return {"spec": {"trainingJobTemplate": template}}


def ensure_running(operator: OperatorProcess) -> None:
    """Start the session's operator again if a test left it dead."""
    if operator.proc is None or operator.proc.poll() is not None:
        operator.start()


# --- drift: the `for` window --------------------------------------------------------------


def test_a_spike_shorter_than_for_starts_nothing(
    rps: RetrainPolicies, prometheus: PrometheusServer, exporter: Exporter
) -> None:
    drift = Drift(exporter, rps.namespace, "churn")
    drift.set(0.1)
    rps.create(drift_policy(prometheus, rps.namespace, for_="8s", cooldown="0s"))
    watching(rps)

    drift.set(0.9)
    since = rps.wait("churn", lambda s: s.get("breachingSince"), "a breach window", timeout=20)[
        "breachingSince"
    ]
    breaching = rps.condition("churn", "Breaching")
    assert breaching["status"] == "True"
    lasts = "a run starts once it lasts 8s"
    assert breaching["message"] == f"above threshold 0.3 since {since}; {lasts}"
    assert rps.status("churn")["phase"] == "Breaching"
    drift.set(0.1)

    ended = rps.wait_event("churn", "BreachEnded")
    assert f"the breach since {since} ended before 8s: value 0.1 at or below" in ended.message
    status = rps.wait_condition("churn", "Breaching", "False", "BelowThreshold")
    assert status["message"] == "at or below threshold 0.3"
    # Past the end of the window the spike would have needed: still nothing.
    while datetime.now(UTC) < parse_time(since) + timedelta(seconds=10):
        time.sleep(0.5)
    status = rps.status("churn")
    assert "breachingSince" not in status
    assert status["phase"] == "Watching"
    assert status["lastValue"] == 0.1
    assert rps.runs("churn") == [], rps.describe("churn")
    assert "RetrainStarted" not in rps.reasons("churn")


def test_a_gap_without_data_resets_the_window(
    rps: RetrainPolicies, prometheus: PrometheusServer, exporter: Exporter
) -> None:
    drift = Drift(exporter, rps.namespace, "churn")
    drift.set(0.1)
    rps.create(drift_policy(prometheus, rps.namespace, for_="8s", cooldown="0s"))
    watching(rps)

    drift.set(0.9)
    first = rps.wait("churn", lambda s: s.get("breachingSince"), "a breach window", timeout=20)[
        "breachingSince"
    ]
    drift.clear()  # the series is gone: an evaluation without data
    rps.wait_condition("churn", "Ready", "False", "NoData", timeout=20)
    status = rps.status("churn")
    assert "breachingSince" not in status
    assert "lastValue" not in status
    assert find(status, "Breaching")["reason"] == "NoData"
    assert "NoData" in rps.reasons("churn")
    assert next(e for e in rps.events("churn") if e.reason == "NoData").type == "Warning"

    drift.set(0.9)
    second = rps.wait(
        "churn",
        lambda s: s.get("breachingSince") and s["breachingSince"] != first,
        "a new breach window",
        timeout=20,
    )["breachingSince"]
    assert second > first
    rps.wait_event("churn", "Recovered")
    assert rps.condition("churn", "Ready")["status"] == "True"

    # The run answers the new window, a full `for` after it opened; never the first one.
    (run,) = rps.wait_runs("churn", 1, timeout=30)
    assert run["metadata"]["name"] == f"churn-d-{time_id(second)}", rps.describe("churn")
    created = parse_time(run["metadata"]["creationTimestamp"])
    assert created - parse_time(second) >= timedelta(seconds=8)
    assert rps.status("churn")["lastTrigger"]["reason"] == "Drift"


# --- limits: cooldown, daily budget, concurrency ------------------------------------------


def test_cooldown_holds_a_persisting_drift_and_status_says_until_when(
    rps: RetrainPolicies, prometheus: PrometheusServer, exporter: Exporter
) -> None:
    drift = Drift(exporter, rps.namespace, "churn")
    drift.set(0.9)
    rps.create(drift_policy(prometheus, rps.namespace, for_="2s", cooldown="8s"))
    (first,) = rps.wait_runs("churn", 1, timeout=30)
    name = first["metadata"]["name"]
    done = rps.wait_run_phase(name, "Succeeded")

    # The drift goes on: a new window lasts `for`, then waits out the cooldown.
    rps.wait_condition("churn", "CoolingDown", "True", "Cooldown", timeout=20)
    until = rps.wait(
        "churn",
        lambda s: "waits" in (find(s, "CoolingDown") or {}).get("message", ""),
        "a breach waiting for the cooldown",
    )["nextEligibleTime"]
    assert parse_time(until) == parse_time(done["completionTime"]) + timedelta(seconds=8)
    held = rps.condition("churn", "CoolingDown")
    assert held["message"].startswith(
        f"cooldown 8s after TrainingJob {name} ended: no run starts before {until}; "
        "the drift breach since "
    )
    assert held["message"].endswith(" waits")
    status = rps.status("churn")
    assert status["phase"] == "CoolingDown"
    assert status["lastTrainingJob"] == name
    assert "activeTrainingJob" not in status
    waiting = rps.wait_event("churn", "CoolingDown")
    assert until in waiting.message
    assert rps.run_names("churn") == [name]

    # At the end of the cooldown the waiting breach starts its run.
    runs = rps.wait_runs("churn", 2, timeout=30)
    drift.set(0.1)
    second = runs[1]
    assert parse_time(second["metadata"]["creationTimestamp"]) >= parse_time(until)
    assert second["metadata"]["name"].startswith("churn-d-")
    assert second["metadata"]["annotations"][TRIGGER_REASON_ANNOTATION] == "Drift"


def test_the_daily_budget_holds_and_status_says_until_when(rps: RetrainPolicies) -> None:
    rps.create(
        manifest(
            "churn",
            triggers={"manual": {}},
            cooldown="0s",
            maxRetrainsPerDay=1,
            annotations={RETRAIN_ANNOTATION: "1"},
        )
    )
    (first,) = rps.wait_runs("churn", 1)
    name = first["metadata"]["name"]
    rps.wait_run_phase(name, "Succeeded")
    rps.annotate("churn", {RETRAIN_ANNOTATION: "2"})

    status = rps.wait(
        "churn",
        lambda s: "waits" in (find(s, "CoolingDown") or {}).get("message", ""),
        "the request waiting for the budget",
    )
    spent = find(status, "CoolingDown")
    assert (spent["status"], spent["reason"]) == ("True", "BudgetSpent")
    until = status["nextEligibleTime"]
    started = parse_time(first["metadata"]["creationTimestamp"])
    assert abs(parse_time(until) - (started + timedelta(hours=24))) <= timedelta(seconds=3)
    assert spent["message"] == (
        f"1 run started in the last 24h (maxRetrainsPerDay 1): no run starts before {until}; "
        f"annotation {RETRAIN_ANNOTATION}='2' waits"
    )
    assert status["phase"] == "CoolingDown"
    assert status["handledRetrain"] == "1"  # not acted on: it waits
    assert until in rps.wait_event("churn", "BudgetSpent").message
    time.sleep(3)
    assert rps.run_names("churn") == [name]


def test_forbid_creates_nothing_while_a_run_is_active_then_the_trigger_waits_for_it(
    rps: RetrainPolicies,
) -> None:
    rps.create(
        manifest(
            "churn",
            triggers={"manual": {}},
            template=run_spec(delay="8s"),
            cooldown="0s",
            concurrencyPolicy="Forbid",
            annotations={RETRAIN_ANNOTATION: "a"},
        )
    )
    (first,) = rps.wait_runs("churn", 1)
    name = first["metadata"]["name"]
    rps.wait_run_phase(name, "Running")
    rps.annotate("churn", {RETRAIN_ANNOTATION: "b"})

    retraining = rps.wait(
        "churn",
        lambda s: "waits" in (find(s, "Retraining") or {}).get("message", ""),
        "the new trigger waiting",
        timeout=20,
    )
    condition = find(retraining, "Retraining")
    assert condition["reason"] == "RunActive"
    assert condition["message"] == (
        f"TrainingJob {name} is active; annotation {RETRAIN_ANNOTATION}='b' waits "
        "(concurrencyPolicy Forbid)"
    )
    assert retraining["activeTrainingJob"] == name
    assert retraining["phase"] == "Retraining"
    rps.wait_event("churn", "RetrainWaiting", containing=name)
    time.sleep(2)
    assert rps.run_names("churn") == [name]

    # Not dropped: once the run ends, the waiting request gets its run.
    ended = rps.wait_run_phase(name, "Succeeded", timeout=60)
    runs = rps.wait_runs("churn", 2, timeout=30)
    second = runs[1]
    assert second["metadata"]["annotations"][TRIGGER_VALUE_ANNOTATION] == "b"
    assert second["metadata"]["creationTimestamp"] >= ended["completionTime"]


def test_replace_deletes_the_active_run_and_starts_a_new_one(rps: RetrainPolicies) -> None:
    rps.create(
        manifest(
            "churn",
            triggers={"manual": {}},
            template=run_spec(delay="600s"),
            cooldown="0s",
            concurrencyPolicy="Replace",
            annotations={RETRAIN_ANNOTATION: "a"},
        )
    )
    (first,) = rps.wait_runs("churn", 1)
    old = first["metadata"]["name"]
    rps.wait_run_phase(old, "Running")
    rps.annotate("churn", {RETRAIN_ANNOTATION: "b"})

    (new,) = wait_for(
        lambda: (runs := rps.runs("churn")) and runs[0]["metadata"]["name"] != old and runs,
        30,
        "the old run gone and only a new one",
    )
    assert new["metadata"]["annotations"][TRIGGER_VALUE_ANNOTATION] == "b"
    rps.wait_run_phase(new["metadata"]["name"], "Running")
    assert triggered_by(rps.run(new["metadata"]["name"]))["value"] == "b"
    replacing = rps.wait_event("churn", "Replacing")
    assert replacing.message == (
        f"deleting TrainingJob {old} to start a run for annotation {RETRAIN_ANNOTATION}='b' "
        "(concurrencyPolicy Replace)"
    )
    status = rps.wait(
        "churn",
        lambda s: s.get("activeTrainingJob") == new["metadata"]["name"],
        "the new run active",
    )
    assert status["handledRetrain"] == "b"
    assert status["phase"] == "Retraining"


# --- schedule and manual triggers ---------------------------------------------------------


def test_a_schedule_fires_at_its_wall_clock_time_in_its_time_zone(
    rps: RetrainPolicies,
) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime.now(UTC)
    if now.second >= 56:  # too close to the minute to create both policies before it
        time.sleep(61 - now.second)
        now = datetime.now(UTC)
    due = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    # That one minute of the day, written in Berlin's wall-clock time. Read in UTC it
    # names a time an hour or two away, so only the policy that honours the zone fires.
    local = due.astimezone(berlin)
    cron = f"{local.minute} {local.hour} * * *"
    for name, zone in (("berlin", "Europe/Berlin"), ("utc", "UTC")):
        rps.create(
            manifest(
                name,
                triggers={"schedule": {"cron": cron, "timeZone": zone}},
                cooldown="0s",
            )
        )
    ready = rps.wait_condition("berlin", "Ready", "True", "Watching")
    assert f"schedule '{cron}' (Europe/Berlin)" in ready["message"]

    (run,) = rps.wait_runs("berlin", 1, timeout=90)
    name = run["metadata"]["name"]
    assert name == f"berlin-s-{time_id(due)}"
    assert parse_time(run["metadata"]["creationTimestamp"]) >= due
    stamp = due.strftime("%Y-%m-%dT%H:%M:%SZ")
    done = rps.wait_run_phase(name, "Succeeded")
    assert done["triggeredBy"]["reason"] == "Schedule"
    assert done["triggeredBy"]["value"] == stamp
    assert done["triggeredBy"]["time"] == stamp
    status = rps.wait("berlin", lambda s: s.get("lastScheduleTime"), "the scheduled time recorded")
    assert status["lastScheduleTime"] == stamp
    assert status["lastTrigger"] == {"reason": "Schedule", "time": stamp, "value": stamp}
    started = rps.wait_event("berlin", "RetrainStarted")
    assert f"schedule '{cron}' (Europe/Berlin) at {stamp}" in started.message
    time.sleep(2)
    assert rps.run_names("berlin") == [name]  # one run for the one scheduled time
    assert rps.runs("utc") == []


def test_manual_retrain_acts_once_per_value_and_never_writes_the_annotation(
    rps: RetrainPolicies,
) -> None:
    rps.create(
        manifest(
            "churn",
            triggers={"manual": {}},
            cooldown="0s",
            annotations={RETRAIN_ANNOTATION: "v1"},
        )
    )
    (first,) = rps.wait_runs("churn", 1)
    name = first["metadata"]["name"]
    assert name.startswith("churn-m-")
    assert first["metadata"]["labels"][RETRAINPOLICY_LABEL] == "churn"
    done = rps.wait_run_phase(name, "Succeeded")
    assert done["triggeredBy"]["reason"] == "Manual"
    assert done["triggeredBy"]["value"] == "v1"
    assert done["triggeredBy"]["retrainPolicy"] == "churn"
    status = rps.wait(
        "churn", lambda s: s.get("lastTrainingJob") == name, "the run recorded as finished"
    )
    assert status["handledRetrain"] == "v1"
    assert status["lastTrigger"]["reason"] == "Manual"

    # The same value again (a GitOps tool applying the manifest again) does nothing.
    rps.annotate("churn", {RETRAIN_ANNOTATION: "v1", "example.com/touched": "1"})
    time.sleep(3)
    assert rps.run_names("churn") == [name]

    rps.annotate("churn", {RETRAIN_ANNOTATION: "v2"})
    second = rps.wait_runs("churn", 2)[1]["metadata"]["name"]
    assert second != name
    assert rps.wait_run_phase(second, "Succeeded")["triggeredBy"]["value"] == "v2"
    # A value used before is a new request when it comes back after another one.
    rps.annotate("churn", {RETRAIN_ANNOTATION: "v1"})
    third = rps.wait_runs("churn", 3)[2]["metadata"]["name"]
    assert third not in (name, second)
    rps.wait_run_phase(third, "Succeeded")
    rps.wait("churn", lambda s: s.get("lastTrainingJob") == third, "the third run finished")
    assert rps.annotations("churn")[RETRAIN_ANNOTATION] == "v1"  # never written or removed
    assert rps.reasons("churn").count("RetrainStarted") == 3


# --- promotion ----------------------------------------------------------------------------


def test_the_evaluation_gate_promotes_a_good_model_and_holds_back_a_bad_one(
    rps: RetrainPolicies,
) -> None:
    rps.create(
        manifest(
            "churn",
            triggers={"manual": {}},
            template=run_spec(metrics={"accuracy": 0.95}),
            cooldown="0s",
            promotion={"mode": "Automatic", "evaluation": {"metric": "accuracy", "min": 0.9}},
            annotations={RETRAIN_ANNOTATION: "good"},
        )
    )
    (good,) = rps.wait_runs("churn", 1)
    good_name = good["metadata"]["name"]
    assert rps.wait_run_phase(good_name, "Succeeded")["metrics"] == {"accuracy": 0.95}
    status = rps.wait(
        "churn", lambda s: s.get("latestModel"), "the good model promoted", timeout=30
    )
    latest = status["latestModel"]
    assert latest["trainingJob"] == good_name
    assert latest["uri"] == rps.run(good_name)["status"]["model"]["uri"]
    promoted = find(status, "Promoted")
    assert (promoted["status"], promoted["reason"]) == ("True", "ModelPromoted")
    assert promoted["message"] == (
        f"model {latest['uri']} of TrainingJob {good_name} promoted (accuracy 0.95 is within "
        ">= 0.9)"
    )
    rps.wait_event("churn", "ModelPromoted", containing=good_name)

    # A run whose metric is out of range succeeds, but its model is not promoted.
    rps.patch("churn", metrics_message(accuracy=0.5))
    rps.annotate("churn", {RETRAIN_ANNOTATION: "bad"})
    bad = rps.wait_runs("churn", 2)[1]["metadata"]["name"]
    assert rps.wait_run_phase(bad, "Succeeded")["metrics"] == {"accuracy": 0.5}
    held = rps.wait_condition("churn", "Promoted", "False", "EvaluationFailed")
    assert held["message"] == f"model of {bad} not promoted: accuracy 0.5 is outside >= 0.9"
    warning = rps.wait_event("churn", "NotPromoted", containing=bad)
    assert warning.type == "Warning"
    assert warning.message == held["message"]
    assert rps.status("churn")["latestModel"] == latest

    # A run that does not report the metric at all is not promoted either.
    rps.patch("churn", metrics_message(loss=0.1))
    rps.annotate("churn", {RETRAIN_ANNOTATION: "silent"})
    silent = rps.wait_runs("churn", 3)[2]["metadata"]["name"]
    rps.wait_run_phase(silent, "Succeeded")
    held = rps.wait_condition("churn", "Promoted", "False", "MetricMissing")
    assert held["message"] == (
        f"model of {silent} not promoted: TrainingJob {silent} reported no metric 'accuracy' "
        "(its metrics: loss)"
    )
    assert rps.status("churn")["latestModel"] == latest


def test_manual_promotion_waits_for_the_annotation_naming_the_run(rps: RetrainPolicies) -> None:
    rps.create(
        manifest(
            "churn",
            triggers={"manual": {}},
            cooldown="0s",
            promotion={"mode": "Manual"},
            annotations={RETRAIN_ANNOTATION: "1"},
        )
    )
    (run,) = rps.wait_runs("churn", 1)
    name = run["metadata"]["name"]
    rps.wait_run_phase(name, "Succeeded")
    awaiting = rps.wait_condition("churn", "Promoted", "False", "AwaitingPromotion")
    assert awaiting["message"] == (
        f"TrainingJob {name} succeeded; promote its model with annotation "
        f"{PROMOTE_ANNOTATION}={name}"
    )
    rps.wait_event("churn", "AwaitingPromotion", containing=name)
    assert "latestModel" not in rps.status("churn")

    rps.annotate("churn", {PROMOTE_ANNOTATION: "no-such-run"})
    refused = rps.wait_event("churn", "NotPromoted", containing="no-such-run")
    assert refused.type == "Warning"
    assert "names no successful TrainingJob of this policy" in refused.message
    assert "latestModel" not in rps.status("churn")

    rps.annotate("churn", {PROMOTE_ANNOTATION: name})
    status = rps.wait("churn", lambda s: s.get("latestModel"), "the model promoted by hand")
    assert status["latestModel"]["trainingJob"] == name
    assert status["latestModel"]["uri"] == rps.run(name)["status"]["model"]["uri"]
    assert status["handledPromote"] == name
    promoted = find(status, "Promoted")
    assert (promoted["status"], promoted["reason"]) == ("True", "ModelPromoted")
    assert promoted["message"].endswith(f"promoted by annotation {PROMOTE_ANNOTATION}")
    assert rps.annotations("churn")[PROMOTE_ANNOTATION] == name  # never removed


def test_history_keeps_the_newest_successful_runs_and_always_the_latest_models_run(
    rps: RetrainPolicies,
) -> None:
    rps.create(
        manifest(
            "churn",
            triggers={"manual": {}},
            template=run_spec(metrics={"accuracy": 0.95}),
            cooldown="0s",
            promotion={"evaluation": {"metric": "accuracy", "min": 0.9}},
            historyLimit={"succeeded": 1, "failed": 1},
            annotations={RETRAIN_ANNOTATION: "1"},
        )
    )
    (a,) = rps.wait_runs("churn", 1)
    served = a["metadata"]["name"]
    rps.wait("churn", lambda s: s.get("latestModel"), "the first model promoted")
    # Later runs are worse: they succeed, but the first run's model stays the latest.
    rps.patch("churn", metrics_message(accuracy=0.5))
    names = [served]
    for value in ("2", "3"):
        rps.annotate("churn", {RETRAIN_ANNOTATION: value})
        run = wait_for(
            lambda: next(
                (n for n in rps.run_names("churn") if n not in names),
                None,
            ),
            30,
            f"the run for retrain {value}",
        )
        names.append(run)
        rps.wait_run_phase(run, "Succeeded")
        rps.wait("churn", lambda s, r=run: s.get("lastTrainingJob") == r, f"{run} recorded")

    b, c = names[1], names[2]
    # One successful run is kept (the newest), plus the one whose model is the latest.
    wait_for(lambda: not rps.run_exists(b), 30, f"the older run {b} pruned")
    assert rps.run_names("churn") == [served, c]
    status = rps.status("churn")
    assert status["latestModel"]["trainingJob"] == served
    time.sleep(2)
    assert rps.run_names("churn") == [served, c]


# --- crashes and replicas -----------------------------------------------------------------


def test_a_killed_operator_at_each_stage_still_starts_one_run_per_trigger(
    rps: RetrainPolicies,
    prometheus: PrometheusServer,
    exporter: Exporter,
    operator: OperatorProcess,
) -> None:
    drift = Drift(exporter, rps.namespace, "churn")
    drift.set(0.1)
    rps.create(
        drift_policy(
            prometheus,
            rps.namespace,
            for_="3s",
            cooldown="1h",
            template=run_spec(delay="4s", metrics={"accuracy": 0.95}),
        )
    )
    watching(rps)
    try:
        # Breaching: the window's start is in status; the operator dies and misses the
        # end of `for`; started again, it resumes the same window.
        drift.set(0.9)
        since = rps.wait("churn", lambda s: s.get("breachingSince"), "a breach window")[
            "breachingSince"
        ]
        operator.kill()
        while datetime.now(UTC) < parse_time(since) + timedelta(seconds=4):
            time.sleep(0.5)
        operator.start()
        (run,) = rps.wait_runs("churn", 1, timeout=30)
        name = run["metadata"]["name"]
        assert name == f"churn-d-{time_id(since)}", rps.describe("churn")

        # Run created: killed as soon as the run exists (its status may not say so yet).
        operator.kill()
        operator.start()
        rps.wait(
            "churn",
            lambda s: name in (s.get("activeTrainingJob"), s.get("lastTrainingJob")),
            "the run recorded",
        )

        # Run succeeded: killed as soon as the run ends, before or after the policy saw it.
        rps.wait_run_phase(name, "Succeeded", timeout=60)
        operator.kill()
        operator.start()
        status = rps.wait(
            "churn",
            lambda s: (s.get("latestModel") or {}).get("trainingJob") == name,
            "the model promoted",
            timeout=30,
        )
    finally:
        ensure_running(operator)

    assert status["lastTrainingJob"] == name
    assert status["lastTrigger"]["reason"] == "Drift"
    assert [r["trainingJob"] for r in status["recentRuns"]] == [name]
    # The drift goes on, but the cooldown holds: still exactly one run.
    rps.wait_condition("churn", "CoolingDown", "True", "Cooldown")
    time.sleep(2)
    assert rps.run_names("churn") == [name]
    # An Event may be lost to a SIGKILL, but none is ever told twice.
    reasons = rps.reasons("churn")
    assert reasons.count("RetrainStarted") <= 1
    assert reasons.count("ModelPromoted") <= 1


def test_a_restarted_operator_does_not_retrain_for_a_breach_that_ended_while_it_was_down(
    rps: RetrainPolicies,
    prometheus: PrometheusServer,
    exporter: Exporter,
    operator: OperatorProcess,
) -> None:
    drift = Drift(exporter, rps.namespace, "churn")
    drift.set(0.1)
    trigger = drift_trigger(prometheus.url, rps.namespace, for_="2s", interval="6s")
    rps.create(manifest("churn", triggers={"drift": trigger}, cooldown="0s"))
    watching(rps)
    drift.set(0.9)
    since = rps.wait("churn", lambda s: s.get("breachingSince"), "a breach window", timeout=20)[
        "breachingSince"
    ]
    try:
        operator.kill()
        drift.set(0.1)  # the breach ends while nobody watches, before `for` is over
        while datetime.now(UTC) < parse_time(since) + timedelta(seconds=3):
            time.sleep(0.2)
        operator.start()
        # Its next evaluation sees the value below the threshold and closes the window.
        rps.wait_condition("churn", "Breaching", "False", "BelowThreshold", timeout=30)
    finally:
        ensure_running(operator)
    # Like Prometheus' `for`, a breach fires only at an evaluation that saw it last `for`.
    assert rps.run_names("churn") == [], rps.describe("churn")


def leading(log: Path) -> bool:
    """Whether an operator's JSON log says it took the Lease."""
    return any(json.loads(line).get("event") == "leading" for line in lines(log))


def acted(log: Path) -> list[str]:
    """Names whose phase an operator wrote, from its JSON log."""
    return [
        entry["name"] for line in lines(log) if (entry := json.loads(line)).get("event") == "phase"
    ]


def lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("{")]


def test_two_replicas_never_both_create_a_run(
    k8s: client.ApiClient,
    replicas: Any,
    outside_namespace: str,
    prometheus: PrometheusServer,
    exporter: Exporter,
) -> None:
    ns = outside_namespace
    rps = RetrainPolicies(k8s, ns)
    drift = Drift(exporter, ns, "churn")
    drift.set(0.1)
    a = replicas("a", ns)
    b = replicas("b", ns)
    rps.create(
        drift_policy(
            prometheus, ns, for_="2s", cooldown="0s", annotations={RETRAIN_ANNOTATION: "1"}
        )
    )
    (first,) = rps.wait_runs("churn", 1)
    rps.wait_run_phase(first["metadata"]["name"], "Succeeded")
    leader, other = (a, b) if leading(a.log_path) else (b, a)
    assert leading(leader.log_path)
    assert not leading(other.log_path)

    drift.set(0.9)
    runs = rps.wait_runs("churn", 2, timeout=30)
    drift.set(0.1)
    rps.wait_run_phase(runs[1]["metadata"]["name"], "Succeeded")
    assert acted(leader.log_path)
    assert acted(other.log_path) == []  # the other replica watched, and wrote nothing

    # A rolling update: the leader stops and releases the Lease; the other takes over.
    assert leader.stop() == 0
    wait_for(lambda: leading(other.log_path), 20, "the other replica leading")
    rps.annotate("churn", {RETRAIN_ANNOTATION: "2"})
    runs = rps.wait_runs("churn", 3, timeout=30)
    rps.wait_run_phase(runs[2]["metadata"]["name"], "Succeeded")
    time.sleep(2)
    assert len(rps.runs("churn")) == 3
    assert rps.reasons("churn").count("RetrainStarted") == 3
    reasons = [r["metadata"]["annotations"][TRIGGER_REASON_ANNOTATION] for r in runs]
    assert reasons == ["Manual", "Drift", "Manual"]
