"""One reconcile of a RetrainPolicy: the policy, its runs and the drift value now -> a Plan.

Level-based like every reconcile of ours: the decision depends on the policy (spec,
annotations, status), the TrainingJobs it owns and, when an evaluation was due, one fresh
reading of the drift query — never on which event woke it. What the controller must do:

- call :func:`~.triggers.evaluation_due` first, and run the drift query only when it says
  so (one query per policy per ``interval``); pass the reading in :class:`~.observed.Observed`;
- pass the policy's TrainingJobs as :class:`~.observed.RunState` (runs of another owner,
  such as a deleted namesake's, are ignored here too);
- carry out the Plan: create the run, delete runs (with their uid), write the status as a
  true diff, post the Events, and come back after ``requeue_after``.

Decisions:

- **One run per trigger, whatever crashes.** A run's name derives from its trigger
  (:mod:`.naming`). The create goes out before the status that records the trigger; if the
  operator dies in between, the next reconcile derives the same name, finds the run (or
  the create meets it) and only records the trigger.
- **A waiting trigger waits; it is not dropped.** A due trigger that cannot start a run —
  a run is active (``Forbid``), the cooldown or the daily budget holds — stays due and
  starts a run as soon as it may: a drift breach while it lasts, a missed scheduled time
  until half the time to the next one, a manual value until it is acted on (removing the
  annotation withdraws it). Status says what waits and why, and ``nextEligibleTime`` when
  it may start. One run answers every trigger due when it starts.
- **Replace** deletes the active run (pinned by uid) when a new trigger is due and the
  cooldown and budget allow a run now, and creates the new run in a later reconcile, once
  the old one is gone: two runs never hold GPUs at once.
- **A breach is answered by one run.** The window closes when its run starts, and no new
  window opens while that run is active (the drift goes on until the new model serves;
  counting it again would replace or queue runs every ``for``). A drift that persists
  starts another run after a new full ``for`` from the end of the run, and the cooldown.
- **Cooldown** counts from the end (``completionTime``) of the last finished run, kept in
  ``status.lastCompletionTime`` so pruning or a TTL cannot shorten it.
  **maxRetrainsPerDay** counts the runs started in the last 24 hours (rolling), from
  ``status.recentRuns`` and the runs in the cluster.
- **Suspend** stops every trigger: no query runs and the breach window closes (nobody
  watched it). A running run goes on, and its end is still handled (promotion, history).
  On resume, what is still due starts a run: a manual value not acted on yet, and a
  scheduled time missed while suspended if it is not too late (as a CronJob resumes).
- **Promotion.** When a run succeeds: ``Automatic`` makes its model ``status.latestModel``
  if it has one and its ``promotion.evaluation`` metric lies within range (a missing metric
  or one out of range: condition ``Promoted=False`` and a Warning Event naming the metric,
  value and range). ``Manual`` says that the run awaits ``mlops.dev/promote``. A new value
  of that annotation, in either mode, promotes the named run's model if it is a
  successful run of this policy (a human's decision: the evaluation is reported, not
  enforced), else a Warning Event; each value is acted on once (``status.handledPromote``).
- **historyLimit** deletes the oldest finished runs beyond ``succeeded`` / ``failed`` (each
  counted apart), never the run of ``status.latestModel``, and only runs whose end status
  already records (so a run is never deleted before its outcome was acted on).
- **No writes while nothing changes.** Conditions carry no moving numbers, and an
  evaluation is written only when it changes something: the window opens or closes, the
  query starts or stops answering, or the value moves by more than
  :data:`VALUE_BAND` of the threshold (``lastValue`` with its ``lastEvaluationTime``).
  The evaluation clock itself lives in the controller's memory (see
  :func:`~.triggers.evaluation_due`). A reconcile with nothing new returns the status it
  was given, and Events only accompany a change.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mlops_operator.api.common import ConditionStatus, parse_duration
from mlops_operator.api.keys import PROMOTE_ANNOTATION, RETRAIN_ANNOTATION
from mlops_operator.api.parse import InvalidSpec
from mlops_operator.api.retrainpolicy import (
    ConcurrencyPolicy,
    Drift,
    LastTrigger,
    LatestModel,
    PromotionMode,
    RetrainPolicy,
    RetrainPolicyCondition,
    RetrainPolicyPhase,
    RetrainPolicyStatus,
    RunStart,
    TriggerReason,
)
from mlops_operator.api.trainingjob import TrainingJob
from mlops_operator.core.conditions import find_condition, is_true, remove_condition, set_condition
from mlops_operator.core.plan import Create, Delete, Event, EventType, Plan
from mlops_operator.core.retraining import builders, schedule, triggers
from mlops_operator.core.retraining.observed import Observed, RunState
from mlops_operator.core.retraining.triggers import Trigger, format_value, rfc3339
from mlops_operator.core.watching.series import Problem, Reading, Verdict, breach_window, judge

__all__ = ["MAX_LABEL_VALUE", "VALUE_BAND", "invalid", "reconcile"]

C = RetrainPolicyCondition
P = RetrainPolicyPhase

#: A new drift value is written when it moves by more than this share of the threshold
#: (or of the value written before, if larger): enough to follow a trend, not the noise.
VALUE_BAND = 0.1
#: The policy's name is the value of label ``mlops.dev/retrainpolicy`` on its runs.
MAX_LABEL_VALUE = 63
DAY = timedelta(hours=24)
MAX_RECENT_RUNS = 256
_PROBLEMS = frozenset(p.value for p in Problem)
_KIND = TrainingJob.crd.kind
_DAWN = datetime.min.replace(tzinfo=UTC)  # sorts a run without times first


def reconcile(
    policy: RetrainPolicy, observed: Observed, now: datetime
) -> Plan[RetrainPolicyStatus]:
    """Decide the writes and the status for one RetrainPolicy.

    Raises :class:`~mlops_operator.api.parse.InvalidSpec` for what only the operator can
    check: an unknown ``spec.triggers.schedule.timeZone``, or a name too long to label runs.
    """
    _check(policy)
    return _Pass(policy, observed, now).run()


def invalid(
    status: RetrainPolicyStatus, generation: int | None, message: str, now: datetime
) -> RetrainPolicyStatus:
    """The status of a policy that cannot work as written: ``Ready=False``, InvalidSpec."""
    out = status.model_copy(deep=True)
    set_condition(
        out.conditions, C.READY, "False", "InvalidSpec", message, generation=generation, now=now
    )
    out.observed_generation = generation
    return out


def _check(policy: RetrainPolicy) -> None:
    name = policy.metadata.name or ""
    if len(name) > MAX_LABEL_VALUE:
        raise InvalidSpec(
            [
                (
                    "metadata.name",
                    f"must be at most {MAX_LABEL_VALUE} characters: it is the value of "
                    "label mlops.dev/retrainpolicy on the policy's TrainingJobs",
                )
            ]
        )
    sched = policy.spec.triggers.schedule
    if sched is not None:
        schedule.zone(sched.time_zone)


@dataclass(frozen=True)
class _Gate:
    """What holds new runs back until ``until``: the cooldown or the daily budget."""

    until: datetime
    reason: str
    message: str


class _Pass:
    """The state of one reconcile, filled in step by step by :meth:`run`."""

    def __init__(self, policy: RetrainPolicy, observed: Observed, now: datetime) -> None:
        self.policy = policy
        self.spec = policy.spec
        self.old = policy.status
        self.status = policy.status.model_copy(deep=True)
        self.plan: Plan[RetrainPolicyStatus] = Plan()
        self.now = now
        self.stamp = now.replace(microsecond=0)  # what status holds: whole seconds
        self.gen = policy.metadata.generation
        uid = policy.metadata.uid
        mine = (r for r in observed.runs if r.owner_uid == uid)
        self.runs = tuple(sorted(mine, key=lambda r: (r.created or _DAWN, r.name)))
        self.by_name = {r.name: r for r in self.runs}
        self.active = [r for r in self.runs if not r.finished]
        drift = self.spec.triggers.drift
        self.reading = observed.reading if drift and not self.spec.suspend else None
        self.started: Trigger | None = None
        self.replacing: tuple[Trigger, list[RunState]] | None = None
        self.waiting: tuple[Trigger, str] | None = None  # the trigger and what holds it
        self.ended: tuple[str, str] | None = None  # Retraining=False reason and message

    def run(self) -> Plan[RetrainPolicyStatus]:
        self._finished()
        self._vanished()
        self._promote_by_hand()
        if self.spec.suspend:
            self._suspend()
        else:
            self._resume()
            self._triggers(self._drift())
        self._prune()
        self._show()
        self.status.observed_generation = self.gen
        self.plan.status = self.status
        return self.plan

    # --- runs that ended -------------------------------------------------------------------

    def _finished(self) -> None:
        """Act once on the newest run that ended since status last recorded an end."""
        done = [r for r in self.runs if r.finished]
        if not done:
            return
        run = max(done, key=lambda r: (_end(r), r.name))
        recorded = self.status.last_completion_time
        if recorded is not None and _end(run) <= recorded:
            return
        self.status.last_training_job = run.name
        self.status.last_completion_time = _end(run)
        if run.succeeded:
            message = f"TrainingJob {run.name} succeeded"
            if run.model_uri:
                message += f"; model {run.model_uri}"
            self._event("Normal", "RetrainSucceeded", message)
            self.ended = ("RunSucceeded", message)
            self._promote_automatically(run)
        else:
            message = f"TrainingJob {run.name} failed"
            if run.message:
                message += f": {run.message}"
            self._event("Warning", "RetrainFailed", message)
            self.ended = ("RunFailed", message)

    def _vanished(self) -> None:
        """The run status calls active is gone without being seen to end."""
        name = self.old.active_training_job
        if name is None or name in self.by_name:
            return
        retraining = find_condition(self.old.conditions, C.RETRAINING)
        if retraining is not None and retraining.reason == "Replacing":
            self.ended = (
                "RunReplaced",
                f"TrainingJob {name} was deleted to make way for a new run "
                "(concurrencyPolicy Replace)",
            )
            return
        message = f"TrainingJob {name} was deleted before it was seen to finish"
        self._event("Warning", "RunDeleted", message)
        self.ended = ("RunDeleted", message)

    # --- promotion -------------------------------------------------------------------------

    def _promote_automatically(self, run: RunState) -> None:
        if run.model_uri is None:
            self._not_promoted(
                "NoModel",
                f"TrainingJob {run.name} succeeded without a model: set "
                "spec.trainingJobTemplate.spec.output.modelUri",
            )
            return
        verdict, detail = self._evaluate(run)
        if self.spec.promotion.mode is PromotionMode.MANUAL:
            message = f"TrainingJob {run.name} succeeded"
            message += f" ({detail})" if detail else ""
            message += f"; promote its model with annotation {PROMOTE_ANNOTATION}={run.name}"
            self._condition(C.PROMOTED, "False", "AwaitingPromotion", message)
            self._event("Normal", "AwaitingPromotion", message)
        elif verdict is Verdict.FAIL:
            self._not_promoted("EvaluationFailed", f"model of {run.name} not promoted: {detail}")
        elif verdict is Verdict.INCONCLUSIVE:
            self._not_promoted("MetricMissing", f"model of {run.name} not promoted: {detail}")
        else:
            self._promote(run, detail, "")

    def _promote_by_hand(self) -> None:
        """A new value of ``mlops.dev/promote`` names the run whose model to promote."""
        value = (self.policy.metadata.annotations or {}).get(PROMOTE_ANNOTATION)
        if value is None or value == self.status.handled_promote:
            return
        self.status.handled_promote = value
        run = self.by_name.get(value)
        if run is None or not run.succeeded:
            self._event(
                "Warning",
                "NotPromoted",
                f"annotation {PROMOTE_ANNOTATION}={value!r} names no successful "
                "TrainingJob of this policy",
            )
            return
        if run.model_uri is None:
            self._event("Warning", "NotPromoted", f"TrainingJob {run.name} has no model")
            return
        latest = self.status.latest_model
        if latest is not None and (latest.training_job, latest.uri) == (run.name, run.model_uri):
            return
        _, detail = self._evaluate(run)
        self._promote(run, detail, f" by annotation {PROMOTE_ANNOTATION}")

    def _evaluate(self, run: RunState) -> tuple[Verdict | None, str]:
        """The ``promotion.evaluation`` verdict on a run, and its reason in words."""
        gate = self.spec.promotion.evaluation
        if gate is None:
            return None, ""
        value = run.metric(gate.metric)
        bounds = _bounds(gate.min, gate.max)
        if value is None:
            reported = ", ".join(k for k, _ in run.metrics) or "none"
            return (
                judge(Reading.missing(Problem.NO_DATA, "not reported"), gate.min, gate.max),
                f"TrainingJob {run.name} reported no metric {gate.metric!r} "
                f"(its metrics: {reported})",
            )
        verdict = judge(Reading.value_of(value), gate.min, gate.max)
        where = "within" if verdict is Verdict.PASS else "outside"
        return verdict, f"{gate.metric} {format_value(value)} is {where} {bounds}"

    def _promote(self, run: RunState, detail: str, how: str) -> None:
        uri = run.model_uri or ""  # callers check that there is one
        self.status.latest_model = LatestModel(uri=uri, training_job=run.name, time=self.stamp)
        message = f"model {uri} of TrainingJob {run.name} promoted{how}"
        message += f" ({detail})" if detail else ""
        self._condition(C.PROMOTED, "True", "ModelPromoted", message)
        self._event("Normal", "ModelPromoted", message)

    def _not_promoted(self, reason: str, message: str) -> None:
        self._condition(C.PROMOTED, "False", reason, message)
        self._event("Warning", "NotPromoted", message)

    # --- suspend ---------------------------------------------------------------------------

    def _suspend(self) -> None:
        if self.status.breaching_since is not None or is_true(self.old.conditions, C.BREACHING):
            self.status.breaching_since = None
            self._condition(C.BREACHING, "False", "Suspended", "not evaluated while suspended")
        message = "spec.suspend: no trigger is evaluated; a running TrainingJob goes on"
        self._condition(C.SUSPENDED, "True", "Suspended", message)
        if not is_true(self.old.conditions, C.SUSPENDED):
            self._event("Normal", "Suspended", message)

    def _resume(self) -> None:
        if is_true(self.old.conditions, C.SUSPENDED):
            self._condition(C.SUSPENDED, "False", "Resumed", "triggers are evaluated again")
            self._event("Normal", "Resumed", "triggers are evaluated again")

    # --- drift -----------------------------------------------------------------------------

    def _drift(self) -> datetime | None:
        """The breach window after this reconcile's reading; updates what status shows."""
        drift = self.spec.triggers.drift
        if drift is None:
            self.status.breaching_since = None
            self.status.last_value = None
            self.status.last_evaluation_time = None
            remove_condition(self.status.conditions, C.BREACHING)
            return None
        since = self.status.breaching_since
        if since is not None and self._ran(name := triggers.drift_run_name(self.policy, since)):
            # A crash came between the create and the status: record what the run answered.
            self._answered_window(since, name, drift)
            self._adopt(name)
            since = None
        if self.reading is None:
            return since
        if any(r.reason == TriggerReason.DRIFT for r in self.active):
            # A run a breach started is the answer to the drift: no window opens while it
            # is active (the drift it answers goes on until its model serves).
            self._show_reading(drift, self.reading, None, None, answering=True)
            return None
        window = breach_window(since, self.reading, drift.threshold, self.stamp)
        self._show_reading(drift, self.reading, since, window)
        self.status.breaching_since = window
        return window

    def _show_reading(
        self,
        drift: Drift,
        reading: Reading,
        before: datetime | None,
        after: datetime | None,
        *,
        answering: bool = False,
    ) -> None:
        ready = find_condition(self.old.conditions, C.READY)
        was = ready.reason if ready and ready.status == "False" else None
        was_problem = was if was in _PROBLEMS else None
        problem = reading.problem.value if reading.problem else None
        changed = (before is None) != (after is None) or problem != was_problem
        status = self.status
        if reading.value is None:
            if status.last_value is not None or changed:
                status.last_value, status.last_evaluation_time = None, self.stamp
        else:
            value = _finite(reading.value)
            if changed or status.last_value is None or _moved(value, status.last_value, drift):
                status.last_value, status.last_evaluation_time = value, self.stamp

        if problem is not None:
            if problem != was_problem:
                self._condition(C.READY, "False", problem, reading.message)
                self._event("Warning", problem, f"the drift query has no value: {reading.message}")
        else:
            self._condition(C.READY, "True", "Watching", self._watching())
            if was_problem is not None:
                self._event(
                    "Normal",
                    "Recovered",
                    f"the drift query has a value again: {format_value(reading.value or 0.0)}",
                )

        if answering:
            return
        threshold = format_value(drift.threshold)
        if after is not None:
            lasts = (
                f"a run starts once it lasts {drift.for_}"
                if parse_duration(drift.for_) > 0
                else "a run starts at once"
            )
            self._condition(
                C.BREACHING,
                "True",
                "AboveThreshold",
                f"above threshold {threshold} since {rfc3339(after)}; {lasts}",
            )
            if before is None:
                self._event(
                    "Warning",
                    "Breaching",
                    f"drift value {format_value(reading.value or 0.0)} above threshold "
                    f"{threshold}; {lasts}",
                )
            return
        if problem is not None:
            self._condition(C.BREACHING, "False", problem, "no value: a breach window starts over")
        else:
            self._condition(
                C.BREACHING, "False", "BelowThreshold", f"at or below threshold {threshold}"
            )
        if before is not None:
            why = (
                reading.message
                if reading.value is None
                else f"value {format_value(reading.value)} at or below threshold {threshold}"
            )
            self._event(
                "Normal",
                "BreachEnded",
                f"the breach since {rfc3339(before)} ended before {drift.for_}: {why}",
            )

    def _answered_window(self, since: datetime, run: str, drift: Drift) -> None:
        """The breach that opened at ``since`` started ``run``: the window closes."""
        self.status.breaching_since = None
        self._condition(
            C.BREACHING,
            "False",
            "RunStarted",
            f"the breach since {rfc3339(since)} started TrainingJob {run}; a new window "
            "opens at the first evaluation above the threshold after it ends",
        )

    # --- triggers --------------------------------------------------------------------------

    def _triggers(self, since: datetime | None) -> None:
        due: list[Trigger] = []
        for trigger in (
            triggers.manual_trigger(self.policy, self.stamp),
            self._drift_trigger(since),
            triggers.schedule_trigger(self.policy, self.now),
        ):
            if trigger is None:
                continue
            if self._ran(trigger.name):  # a crash came between the create and the status
                self._answer(trigger)
                self._adopt(trigger.name, trigger)
                continue
            due.append(trigger)
        if not due:
            return
        chosen = due[0]  # a person's request first, then drift, then the calendar
        if self.active:
            self._concurrent(due)
            return
        gate = self._gate()
        if gate is not None:
            self.waiting = (chosen, "gate")
            return
        self._start(chosen, due)

    def _drift_trigger(self, since: datetime | None) -> Trigger | None:
        """A breach starts a run only at an evaluation, as Prometheus' ``for`` fires one.

        Never from elapsed time alone: a window that status kept across a restart may have
        ended while the operator was down, and only a fresh reading above the threshold
        says it still holds. A breach that waits (cooldown, Forbid) starts at the first
        evaluation after its wait ends, at most one ``interval`` later.
        """
        reading = self.reading
        if reading is None or reading.value is None:
            return None
        return triggers.drift_trigger(self.policy, since, reading.value, self.stamp, self.now)

    def _concurrent(self, due: list[Trigger]) -> None:
        """Triggers are due while a run is active: wait (Forbid) or replace it (Replace)."""
        if self.spec.concurrency_policy is ConcurrencyPolicy.FORBID:
            self.waiting = (due[0], "Forbid")
            return
        if self._gate() is not None:
            self.waiting = (due[0], "gate")
            return
        self.replacing = (due[0], list(self.active))
        for run in self.active:
            if not run.deleting:
                self.plan.deletes.append(Delete(_KIND, run.name, run.uid))

    def _start(self, chosen: Trigger, due: list[Trigger]) -> None:
        self.plan.creates.append(Create(builders.training_job(self.policy, chosen)))
        self.started = chosen
        self.status.last_trigger = _last_trigger(chosen, None)
        self.status.recent_runs = self._recent(chosen.name, self.stamp)
        for trigger in due:
            self._answer(trigger)
        self._event(
            "Normal", "RetrainStarted", f"started TrainingJob {chosen.name} for {self._why(chosen)}"
        )

    def _answer(self, trigger: Trigger) -> None:
        """Record in status that a run answered ``trigger``."""
        key = trigger.key
        if trigger.reason is TriggerReason.MANUAL and isinstance(key, str):
            self.status.handled_retrain = key
        elif trigger.reason is TriggerReason.SCHEDULE and isinstance(key, datetime):
            last = self.status.last_schedule_time
            self.status.last_schedule_time = key if last is None else max(last, key)
        elif trigger.reason is TriggerReason.DRIFT and isinstance(key, datetime):
            drift = self.spec.triggers.drift
            if drift is not None:
                self._answered_window(key, trigger.name, drift)

    def _adopt(self, name: str, trigger: Trigger | None = None) -> None:
        """Status catches up with a run it did not record: its trigger and its start."""
        run = self.by_name.get(name)
        if run is None:
            return  # status recorded it (it is in ``recentRuns``)
        if trigger is not None:
            self.status.last_trigger = _last_trigger(trigger, run)
        elif run.reason == TriggerReason.DRIFT and run.time is not None:
            self.status.last_trigger = LastTrigger(
                time=run.time, reason=TriggerReason.DRIFT, value=run.value, query=run.query
            )
        self.status.recent_runs = self._recent(name, run.created or self.stamp)

    def _why(self, trigger: Trigger) -> str:
        drift, sched = self.spec.triggers.drift, self.spec.triggers.schedule
        if trigger.reason is TriggerReason.DRIFT and drift and isinstance(trigger.key, datetime):
            return triggers.describe_drift(drift, trigger.key, trigger.value)
        if trigger.reason is TriggerReason.SCHEDULE and sched:
            return f"schedule {sched.cron!r} ({sched.time_zone}) at {trigger.value}"
        return trigger.summary

    def _ran(self, name: str) -> bool:
        """Whether a run of that name exists or started in the last day (status says so)."""
        return name in self.by_name or any(
            r.training_job == name for r in self.status.recent_runs or ()
        )

    # --- limits ----------------------------------------------------------------------------

    def _gate(self) -> _Gate | None:
        """The cooldown or the daily budget, whichever holds new runs back longer."""
        gates: list[_Gate] = []
        ends = [(_end(r), r.name) for r in self.runs if r.finished]
        if self.status.last_completion_time and self.status.last_training_job:
            ends.append((self.status.last_completion_time, self.status.last_training_job))
        cooldown = parse_duration(self.spec.cooldown)
        if ends and cooldown > 0:
            end, name = max(ends)
            until = _ceil(end + timedelta(seconds=cooldown))
            if until > self.now:
                gates.append(
                    _Gate(
                        until,
                        "Cooldown",
                        f"cooldown {self.spec.cooldown} after TrainingJob {name} ended: "
                        f"no run starts before {rfc3339(until)}",
                    )
                )
        cap = self.spec.max_retrains_per_day
        if cap is not None:
            starts = sorted(t for t in self._starts().values() if t > self.now - DAY)
            if len(starts) >= cap:
                until = _ceil(starts[len(starts) - cap] + DAY)
                gates.append(
                    _Gate(
                        until,
                        "BudgetSpent",
                        f"{_runs(len(starts))} started in the last 24h (maxRetrainsPerDay "
                        f"{cap}): no run starts before {rfc3339(until)}",
                    )
                )
        return max(gates, key=lambda g: g.until) if gates else None

    def _starts(self) -> dict[str, datetime]:
        """When each run started: as status recorded it, else the run's creation."""
        starts = {r.training_job: r.time for r in self.status.recent_runs or ()}
        for run in self.runs:
            if run.name not in starts and run.created is not None:
                starts[run.name] = run.created
        return starts

    def _recent(self, started: str, at: datetime) -> list[RunStart]:
        starts = self._starts()
        starts[started] = at
        kept = sorted((t, n) for n, t in starts.items() if t > self.now - DAY)
        return [RunStart(training_job=n, time=t) for t, n in kept[-MAX_RECENT_RUNS:]]

    def _prune(self) -> None:
        """Delete the oldest finished runs beyond ``historyLimit``."""
        limits = self.spec.history_limit
        keep = {m.training_job for m in (self.old.latest_model, self.status.latest_model) if m}
        recorded = self.old.last_completion_time
        for succeeded, limit in ((True, limits.succeeded), (False, limits.failed)):
            done = sorted(
                (
                    r
                    for r in self.runs
                    if r.finished and r.succeeded is succeeded and not r.deleting
                ),
                key=lambda r: (_end(r), r.name),
            )
            for run in done[: max(len(done) - limit, 0)]:
                if run.name in keep or recorded is None or _end(run) > recorded:
                    continue
                self.plan.deletes.append(Delete(_KIND, run.name, run.uid))

    # --- what status shows -----------------------------------------------------------------

    def _show(self) -> None:
        status = self.status
        if self.started is not None:
            status.active_training_job = self.started.name
        else:
            status.active_training_job = self.active[-1].name if self.active else None
        gate = self._gate()
        status.next_eligible_time = gate.until if gate else None
        self._ready()
        self._retraining()
        self._cooling(gate)
        if self.spec.suspend:
            status.phase = P.SUSPENDED
        elif status.active_training_job or self.replacing:
            status.phase = P.RETRAINING
        elif gate is not None:
            status.phase = P.COOLING_DOWN
        elif status.breaching_since is not None:
            status.phase = P.BREACHING
        else:
            status.phase = P.WATCHING
        self._requeue(gate)

    def _ready(self) -> None:
        drift = self.spec.triggers.drift
        if drift is not None and self.reading is not None:
            return  # the reading said it
        ready = find_condition(self.status.conditions, C.READY)
        if drift is not None and ready and ready.status == "False" and ready.reason in _PROBLEMS:
            return  # until a reading says otherwise
        if drift is not None and self.status.last_evaluation_time is None:
            self._condition(
                C.READY,
                "Unknown",
                "AwaitingEvaluation",
                f"the drift query is evaluated every {drift.interval}; not yet",
            )
            return
        self._condition(C.READY, "True", "Watching", self._watching())

    def _watching(self) -> str:
        spec = self.spec.triggers
        parts = []
        if spec.drift is not None:
            parts.append(f"the drift query every {spec.drift.interval}")
        if spec.schedule is not None:
            parts.append(f"schedule {spec.schedule.cron!r} ({spec.schedule.time_zone})")
        parts.append(f"annotation {RETRAIN_ANNOTATION}")
        return "watching " + ", ".join(parts)

    def _retraining(self) -> None:
        old = find_condition(self.old.conditions, C.RETRAINING)
        active = self.status.active_training_job
        if self.replacing is not None:
            trigger, runs = self.replacing
            names = ", ".join(r.name for r in runs)
            message = (
                f"deleting TrainingJob {names} to start a run for {trigger.summary} "
                "(concurrencyPolicy Replace)"
            )
            self._condition(C.RETRAINING, "True", "Replacing", message)
            if old is None or old.message != message:
                self._event("Normal", "Replacing", message)
        elif active is not None:
            message = f"TrainingJob {active} is active"
            held = self.waiting
            if held is not None and held[1] == "Forbid":
                message += f"; {held[0].summary} waits (concurrencyPolicy Forbid)"
            self._condition(C.RETRAINING, "True", "RunActive", message)
            if held is not None and held[1] == "Forbid" and (old is None or old.message != message):
                self._event("Normal", "RetrainWaiting", message)
        elif self.ended is not None:
            self._condition(C.RETRAINING, "False", *self.ended)
        elif old is not None and old.status == "True":
            self._condition(C.RETRAINING, "False", "Idle", "no TrainingJob is active")

    def _cooling(self, gate: _Gate | None) -> None:
        old = find_condition(self.old.conditions, C.COOLING_DOWN)
        if gate is None:
            if old is not None:
                self._condition(
                    C.COOLING_DOWN, "False", "Eligible", "no cooldown or budget holds runs back"
                )
            return
        message = gate.message
        held = self.waiting
        if held is not None and held[1] == "gate":
            message += f"; {held[0].summary} waits"
        self._condition(C.COOLING_DOWN, "True", gate.reason, message)
        if held is not None and held[1] == "gate" and (old is None or old.message != message):
            reason = "CoolingDown" if gate.reason == "Cooldown" else gate.reason
            self._event("Normal", reason, message)

    def _requeue(self, gate: _Gate | None) -> None:
        if gate is not None:
            self.plan.requeue((gate.until - self.now).total_seconds())
        if self.spec.suspend:
            return
        evaluation = triggers.next_evaluation(self.policy, self.now)
        if evaluation is not None:
            self.plan.requeue((evaluation - self.now).total_seconds())
        sched = self.spec.triggers.schedule
        if sched is None:
            return
        due = schedule.next_due(sched.cron, sched.time_zone, self.now)
        if due is not None:
            self.plan.requeue((due - self.now).total_seconds())
        held = self.waiting
        key = held[0].key if held is not None else None
        if isinstance(key, datetime) and held and held[0].reason is TriggerReason.SCHEDULE:
            # A scheduled time that cannot start before it expires stops waiting then.
            expiry = schedule.expires(sched.cron, sched.time_zone, key)
            if expiry is not None and expiry > self.now:
                self.plan.requeue((expiry - self.now).total_seconds())

    # --- small helpers ---------------------------------------------------------------------

    def _condition(self, type_: C, status: ConditionStatus, reason: str, message: str) -> None:
        set_condition(
            self.status.conditions,
            type_,
            status,
            reason,
            message,
            generation=self.gen,
            now=self.stamp,
        )

    def _event(self, type_: EventType, reason: str, message: str) -> None:
        self.plan.events.append(Event(type_, reason, message))


def _last_trigger(trigger: Trigger, run: RunState | None) -> LastTrigger:
    """``status.lastTrigger``; from the run's own annotations when it exists already."""
    return LastTrigger(
        time=(run.time if run and run.time else trigger.time),
        reason=trigger.reason,
        value=(run.value if run and run.value is not None else trigger.value),
        query=trigger.query,
    )


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _end(run: RunState) -> datetime:
    return run.ended or _DAWN


def _ceil(t: datetime) -> datetime:
    """Up to a whole second, as status stores times (a stored time must not be early)."""
    return t if t.microsecond == 0 else t.replace(microsecond=0) + timedelta(seconds=1)


def _finite(value: float) -> float:
    """JSON has no infinity: status shows the largest float instead."""
    return max(min(value, sys.float_info.max), -sys.float_info.max)


def _moved(value: float, shown: float, drift: Drift) -> bool:
    """Whether ``value`` differs enough from the value status shows to be written."""
    if value == shown:
        return False
    scale = max(abs(drift.threshold), abs(shown))
    if scale == 0 or not math.isfinite(scale):
        return True
    return abs(value - shown) > VALUE_BAND * scale


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"[{format_value(low)}, {format_value(high)}]"
    if low is not None:
        return f">= {format_value(low)}"
    return f"<= {format_value(high if high is not None else math.inf)}"
