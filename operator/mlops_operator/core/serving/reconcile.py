"""One reconcile of a ModelDeployment: spec + observed children + now -> a Plan.

The kopf layer reads the children (:mod:`.observed`), resolves ``spec.model``
(:func:`.source.resolve`), runs the analysis queries when :func:`.analysis.measurement_due`
says so, and calls :func:`reconcile`. Everything time-based is read from and written to
status, so a restarted operator resumes the same step with the same remaining pause.

The life of a model:

1. The first model (no stable yet) becomes the stable at once: no canary against nothing.
2. A new model (the resolved source differs from the stable's and the canary's) gets the
   next ``status.revision``. Without ``spec.rollout.canary`` (or with no stable replicas)
   it replaces the stable's pod template at once: a rolling update that never drops below
   the desired ready pods (maxSurge 25 %, maxUnavailable 0). With a canary it goes to the
   canary Deployment and the steps run (:mod:`.canary`).
3. During a canary the stable Deployment is never changed (same pods, same model, same
   template: an abort is instant because the stable never left). Only a user's own change
   of ``spec.replicas`` reaches it; a change of ``spec.server`` (image, env, resources)
   goes to the canary at once and to the stable with the promote (or when the canary ends
   otherwise). Only models are canaried: a server change with no canary running rolls the
   stable at once. The canary gets :func:`.split.split` pods of the
   current weight; with Gateway API the HTTPRoute's backend weights follow the steps.
4. Promote (the last step done, or a new value of ``mlops.dev/promote``): the stable's
   template takes the canary's model and revision. Once the stable is fully rolled out the
   canary goes to 0 pods, the route to 100/0, ``status.canary`` is removed and
   ``status.stable`` names the new model; ``Promoted`` in history.
5. Abort (analysis beyond ``failureLimit``, the progress deadline, or a new value of
   ``mlops.dev/abort``): the canary goes to 0 pods and the route to 100/0 in the same plan,
   the route first. Phase ``Degraded`` with the reason and the failing values, recorded in
   ``status.aborted``; that model is not rolled out again until the desired model changes.
6. A new model during a canary replaces the canary's template and starts again at step 0
   (the replaced rollout is ``Aborted`` with reason ``Superseded`` in history); the desired
   model going back to the stable one ends the canary as ``RolledBack``.

The HPA (``spec.autoscaling``) scales the stable Deployment only, and owns its replica
count: the operator never writes it, and sizes the canary from the stable's current count,
so when the HPA scales the stable during a canary the canary follows at the next reconcile.

``spec.paused`` freezes everything: no child is written, no measurement is taken, and no
pause or deadline advances (the time spent paused is added to the step's start on resume).
Manual promote/abort values seen while paused are handled after it.

A reconcile that learns nothing new returns the status it was given, so nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mlops_operator.api.common import parse_duration
from mlops_operator.api.keys import ABORT_ANNOTATION, PROMOTE_ANNOTATION, Variant
from mlops_operator.api.modeldeployment import (
    AbortedRollout,
    AnalysisStatus,
    CanaryStatus,
    HistoryEntry,
    MeasurementResult,
    ModelDeployment,
    ModelDeploymentCondition,
    ModelDeploymentPhase,
    ModelDeploymentStatus,
    RolloutOutcome,
    StableStatus,
)
from mlops_operator.core.conditions import set_condition
from mlops_operator.core.plan import Create, Delete, Event, EventType, Patch, Plan
from mlops_operator.core.serving import analysis as analysis_
from mlops_operator.core.serving import builders, canary, routing
from mlops_operator.core.serving.defaults import ServingDefaults
from mlops_operator.core.serving.observed import DeploymentState, Observed
from mlops_operator.core.serving.source import Source
from mlops_operator.core.serving.split import served, split
from mlops_operator.core.watching.series import Verdict

__all__ = ["HISTORY_LIMIT", "ROUTE_RECHECK", "reconcile"]

C = ModelDeploymentCondition
P = ModelDeploymentPhase

HISTORY_LIMIT = 10
"""Entries kept in ``status.history`` (newest last)."""
ROUTE_RECHECK = 10.0
"""While a step waits for the Gateways to report on the HTTPRoute, how often to look again
(in case the kopf layer does not watch HTTPRoutes)."""

# Reasons of our own (the step machine's are in .canary, the source's in .source).
MANUAL_ABORT = "ManualAbort"
ANALYSIS_FAILED = "AnalysisFailed"
SUPERSEDED = "Superseded"
REVERTED = "Reverted"
ROUTE_NOT_FOUND = "RouteNotFound"
NOT_OWNED = "NotOwned"


@dataclass
class _Run:
    """One reconcile's inputs and the state it builds up."""

    md: ModelDeployment
    observed: Observed
    now: datetime
    defaults: ServingDefaults
    status: ModelDeploymentStatus
    plan: Plan[ModelDeploymentStatus] = field(default_factory=Plan)
    wait: canary.Wait | None = None
    passed: str | None = None
    """The message of a measurement that passed in this reconcile, told or not yet."""
    """Why the running canary's current step is not done (for the Progressing condition)."""
    route_pending: bool = False
    """The canary's pods are ready, the HTTPRoute does not serve the weight yet."""

    @property
    def name(self) -> str:
        return self.md.metadata.name or ""

    @property
    def namespace(self) -> str | None:
        return self.md.metadata.namespace

    @property
    def gen(self) -> int | None:
        return self.md.metadata.generation

    @property
    def running(self) -> CanaryStatus | None:
        """The canary, while it runs and has not been promoted yet."""
        c = self.status.canary
        return c if c is not None and not c.promoting else None

    def event(self, type_: EventType, reason: str, message: str) -> None:
        self.plan.events.append(Event(type_, reason, message))


def reconcile(
    md: ModelDeployment, observed: Observed, now: datetime, defaults: ServingDefaults
) -> Plan[ModelDeploymentStatus]:
    """Decide the writes, the status, the Events and the next wake-up of one ModelDeployment."""
    run = _Run(md, observed, now, defaults, md.status.model_copy(deep=True))
    conflict = _conflict(run)
    if conflict is not None:
        _summarize(run, conflict=conflict)
        return _done(run)
    if md.spec.paused:
        if run.status.canary is not None and run.status.canary.paused_at is None:
            run.status.canary.paused_at = now
        _summarize(run)
        return _done(run)
    _resume(run)

    source = observed.source
    promote, abort = _annotations(run)
    aborted = run.status.aborted
    if aborted is not None and source.uri is not None and source.uri != aborted.model:
        run.status.aborted = None  # the desired model changed: a new chance
    if _adopt_stable(run) is None:
        if source.uri is not None:
            _first(run, source)
    elif run.status.canary is not None:
        _drive(run, source, promote, abort)
    else:
        _start(run, source)
    _children(run)
    _summarize(run)
    return _done(run)


# --- decisions ---------------------------------------------------------------------------


def _conflict(run: _Run) -> str | None:
    """A child with our name that another owner controls: touch nothing, say which."""
    uid = run.md.metadata.uid
    children = [
        ("Deployment", run.observed.stable),
        ("Deployment", run.observed.canary),
        ("HorizontalPodAutoscaler", run.observed.hpa),
        *(("Service", s) for s in run.observed.services),
    ]
    for kind, child in children:
        if child is not None and child.owner_uid != uid:
            return f"{kind} {child.name} exists and is not controlled by this ModelDeployment"
    return None


def _resume(run: _Run) -> None:
    """After ``spec.paused``: move the step's start by the time spent paused, so pauses and
    deadlines resume with the time they had left."""
    c = run.status.canary
    if c is None or c.paused_at is None:
        return
    if c.step_started_at is not None:
        c.step_started_at = whole_second(c.step_started_at + (run.now - c.paused_at))
    c.paused_at = None


def _annotations(run: _Run) -> tuple[str | None, str | None]:
    """New values of ``mlops.dev/promote`` / ``mlops.dev/abort``: recorded as handled, and
    returned when there is a running canary to act on (else they do nothing)."""
    annotations = run.md.metadata.annotations or {}
    status = run.status
    act: list[str | None] = []
    for key, handled in (
        (PROMOTE_ANNOTATION, status.handled_promote),
        (ABORT_ANNOTATION, status.handled_abort),
    ):
        value = annotations.get(key)
        if value is None or value == handled:
            act.append(None)
            continue
        if key == PROMOTE_ANNOTATION:
            status.handled_promote = value
        else:
            status.handled_abort = value
        if run.running is None:
            what = "the canary is being promoted" if status.canary else "no canary is running"
            run.event("Normal", "AnnotationIgnored", f"{key}={value}: {what}")
            act.append(None)
        else:
            act.append(value)
    return act[0], act[1]


def _adopt_stable(run: _Run) -> str | None:
    """The stable's model; taken from the stable Deployment when status has none (a status
    lost to a backup restore, say), so that the pods that serve are not replaced blindly."""
    stable = run.status.stable
    if stable is not None and stable.model is not None:
        return stable.model
    found = run.observed.stable
    if found is not None and found.model is not None and found.revision is not None:
        run.status.stable = StableStatus(model=found.model, revision=found.revision)
        run.status.revision = max(run.status.revision or 0, found.revision)
        return found.model
    return None


def _first(run: _Run, source: Source) -> None:
    """The first model: stable at once."""
    assert source.uri is not None
    revision = (run.status.revision or 0) + 1
    run.status.revision = revision
    run.status.stable = StableStatus(
        model=source.uri, revision=revision, training_job=source.training_job
    )
    _history(
        run,
        revision,
        source.uri,
        source.training_job,
        RolloutOutcome.PROMOTED,
        "Initial",
        "first model",
    )
    run.event("Normal", "Deployed", f"serving model {source.uri} as revision {revision}")


def _start(run: _Run, source: Source) -> None:
    """With no canary running: roll a new desired model out, by canary or at once."""
    uri = source.uri
    status = run.status
    stable = status.stable
    assert stable is not None
    if uri is None or uri == stable.model:
        return
    if status.aborted is not None and status.aborted.model == uri:
        return  # refused until the desired model changes
    revision = (status.revision or 0) + 1
    status.revision = revision
    steps = canary.steps_of(run.md)
    if not steps or _replicas(run) == 0:
        why = "no spec.rollout.canary" if not steps else "no stable replicas to compare with"
        _history(
            run,
            revision,
            uri,
            source.training_job,
            RolloutOutcome.PROMOTED,
            "Replaced",
            f"replaced revision {stable.revision} at once ({why})",
        )
        run.event(
            "Normal",
            "Promoted",
            f"model {uri} (revision {revision}) replaces revision {stable.revision} at once "
            f"({why})",
        )
        status.stable = StableStatus(model=uri, revision=revision, training_job=source.training_job)
        return
    status.canary = CanaryStatus(
        model=uri,
        revision=revision,
        training_job=source.training_job,
        weight=0,
        step_index=0,
        started_at=run.now,
        step_started_at=whole_second(run.now),
        analysis=AnalysisStatus() if analysis_.spec_of(run.md) else None,
    )
    run.event(
        "Normal",
        "RolloutStarted",
        f"canary of model {uri} (revision {revision}) against revision {stable.revision}: "
        f"{len(steps)} steps",
    )
    _steps(run)


def _drive(run: _Run, source: Source, promote: str | None, abort: str | None) -> None:
    """With a canary: follow a new desired model, act on annotations, judge the
    measurement, run the steps, and enforce the deadline."""
    status = run.status
    c = status.canary
    assert c is not None
    assert status.stable is not None
    if c.promoting:
        _promotion(run)
        return
    if source.uri is not None and source.uri != c.model:
        if source.uri == status.stable.model:
            _end(
                run,
                RolloutOutcome.ROLLED_BACK,
                REVERTED,
                f"the desired model is the stable one again ({source.uri})",
            )
            return
        _end(run, RolloutOutcome.ABORTED, SUPERSEDED, f"superseded by model {source.uri}")
        _start(run, source)  # the measurement was of the old canary: not used
        return
    if abort is not None:
        _abort(run, MANUAL_ABORT, f"aborted by annotation {ABORT_ANNOTATION}={abort}")
        return
    if promote is not None:
        _promote(run, f"promoted by annotation {PROMOTE_ANNOTATION}={promote}")
        return
    if not canary.steps_of(run.md):
        _promote(run, "spec.rollout.canary was removed")
        return
    measurement = run.observed.measurement
    spec = analysis_.spec_of(run.md)
    if measurement is not None and spec is not None and _measured(run, measurement):
        return
    _steps(run)


def _measured(run: _Run, measurement: analysis_.Measurement) -> bool:
    """Take in one measurement; True if it aborted the canary."""
    c = run.status.canary
    spec = analysis_.spec_of(run.md)
    assert c is not None
    assert spec is not None
    previous = c.analysis.last_result if c.analysis else None
    c.analysis, judgement = analysis_.apply(c.analysis, measurement, run.md)
    if judgement.verdict is Verdict.FAIL:
        failures = c.analysis.failures
        if failures > spec.failure_limit:
            _abort(
                run,
                ANALYSIS_FAILED,
                f"{failures} failed measurements (failureLimit {spec.failure_limit}): "
                f"{judgement.message}",
            )
            return True
        run.event(
            "Warning",
            "AnalysisFailed",
            f"measurement failed ({failures} of at most {spec.failure_limit}): {judgement.message}",
        )
    elif judgement.verdict is Verdict.INCONCLUSIVE:
        if previous != MeasurementResult.INCONCLUSIVE:
            run.event("Warning", "AnalysisInconclusive", f"holding: {judgement.message}")
    elif _at_analysis_step(run) or previous != MeasurementResult.PASS:
        # Background passes are news only after a failure or a hold.
        run.event("Normal", "AnalysisPassed", judgement.message)
    else:
        run.passed = judgement.message  # told if it completes an analysis step (_steps)
    return False


def _at_analysis_step(run: _Run) -> bool:
    c = run.status.canary
    steps = canary.steps_of(run.md)
    index = (c.step_index or 0) if c else 0
    return index < len(steps) and steps[index].analysis is not None


def _steps(run: _Run) -> None:
    """Run the step machine of the running canary; promote or abort as it says."""
    c = run.status.canary
    assert c is not None
    assert c.step_started_at is not None
    steps = canary.steps_of(run.md)
    spec = analysis_.spec_of(run.md)
    state = c.analysis
    holding = (
        state is not None
        and state.last_result == MeasurementResult.INCONCLUSIVE
        and _served_weight(run) > 0
    )
    progress = canary.advance(
        steps,
        c.step_index or 0,
        c.step_started_at,
        run.now,
        reached=lambda weight: _reached(run, weight),
        analysis=state,
        holding=holding,
        interval=parse_duration(spec.interval) if spec else None,
        deadline=canary.deadline_seconds(run.md),
    )
    for index in progress.completed:
        weight = canary.target_weight(steps, index)
        if steps[index].analysis is not None and run.passed is not None:
            # A background measurement taken as the pause before ended completes this
            # analysis step too: every analysis step that passes says so.
            run.event("Normal", "AnalysisPassed", run.passed)
            run.passed = None
        run.event(
            "Normal",
            "StepCompleted",
            f"step {index + 1}/{len(steps)} ({canary.describe(steps[index])}) completed at "
            f"weight {weight}",
        )
    c.step_index = progress.index
    c.step_started_at = whole_second(progress.started)
    wait = progress.wait
    if wait is None:
        _promote(run, f"all {len(steps)} steps completed")
        return
    if wait.deadline is not None and run.now >= wait.deadline:
        reason = (
            canary.NO_DATA if wait.reason == canary.NO_DATA else canary.PROGRESS_DEADLINE_EXCEEDED
        )
        step = steps[progress.index]
        _abort(
            run,
            reason,
            f"step {progress.index + 1}/{len(steps)} ({canary.describe(step)}) did not complete "
            f"within {canary.deadline_seconds(run.md)}s: {wait.message}",
        )
        return
    run.wait = wait
    for at in (wait.wake, wait.deadline):
        if at is not None:
            run.plan.requeue((at - run.now).total_seconds())
    if run.route_pending:
        run.plan.requeue(ROUTE_RECHECK)


def _promote(run: _Run, why: str) -> None:
    """Decide to promote: the stable's template takes the canary's model (see _children)."""
    c = run.status.canary
    assert c is not None
    c.promoting = True
    run.wait = None
    run.event("Normal", "Promoting", f"model {c.model} (revision {c.revision}): {why}")
    _promotion(run)


def _promotion(run: _Run) -> None:
    """While promoting: done once the stable Deployment fully serves the canary's model."""
    status = run.status
    c = status.canary
    assert c is not None
    assert status.stable is not None
    found = run.observed.stable
    if found is None or found.template_hash != _stable_hash(run):
        return
    if not found.rolled_out(_replicas(run)):
        return
    previous = status.stable.revision
    assert c.model is not None
    assert c.revision is not None
    status.stable = StableStatus(model=c.model, revision=c.revision, training_job=c.training_job)
    status.canary = None
    _history(
        run,
        c.revision,
        c.model,
        c.training_job,
        RolloutOutcome.PROMOTED,
        "Promoted",
        f"replaced revision {previous}",
    )
    run.event("Normal", "Promoted", f"model {c.model} (revision {c.revision}) is stable")


def _abort(run: _Run, reason: str, message: str) -> None:
    """All traffic back to the stable (see _children), and the model refused."""
    c = run.status.canary
    assert c is not None
    assert c.model is not None
    assert c.revision is not None
    run.status.aborted = AbortedRollout(
        model=c.model, revision=c.revision, reason=reason, message=message, time=run.now
    )
    _end(run, RolloutOutcome.ABORTED, reason, message, warn=True)


def _end(
    run: _Run, outcome: RolloutOutcome, reason: str, message: str, *, warn: bool = False
) -> None:
    """The canary stops: history, an Event, and no canary in status."""
    c = run.status.canary
    assert c is not None
    assert c.model is not None
    assert c.revision is not None
    _history(run, c.revision, c.model, c.training_job, outcome, reason, message)
    run.event(
        "Warning" if warn else "Normal",
        outcome.value,
        f"model {c.model} (revision {c.revision}): {reason}: {message}",
    )
    run.status.canary = None
    run.wait = None


def _history(
    run: _Run,
    revision: int,
    model: str,
    training_job: str | None,
    outcome: RolloutOutcome,
    reason: str,
    message: str,
) -> None:
    entry = HistoryEntry(
        revision=revision,
        model=model,
        training_job=training_job,
        outcome=outcome,
        time=run.now,
        reason=reason,
        message=message,
    )
    run.status.history = [*(run.status.history or []), entry][-HISTORY_LIMIT:]


# --- what the world looks like ------------------------------------------------------------


def _replicas(run: _Run) -> int:
    """N, the stable's replicas: the HPA's current count when autoscaling, else the spec."""
    scaling = run.md.spec.autoscaling
    if scaling is None:
        return run.md.spec.replicas
    found = run.observed.stable
    return found.replicas if found is not None else scaling.min_replicas


def _gateway(run: _Run) -> str | None:
    """The HTTPRoute's name with Gateway API routing, else None."""
    rollout = run.md.spec.rollout
    routing_ = rollout.canary.traffic_routing if rollout and rollout.canary else None
    return routing_.gateway_api.http_route if routing_ and routing_.gateway_api else None


def _svc(run: _Run, variant: Variant) -> str:
    return builders.service_name(run.name, variant)


def _route_weights(run: _Run) -> tuple[int, int] | None:
    route = run.observed.route
    if route is None:
        return None
    return routing.backend_weights(
        route, _svc(run, Variant.STABLE), _svc(run, Variant.CANARY), run.namespace
    )


def _served_weight(run: _Run) -> int:
    """The percent of traffic the canary really takes (``status.canary.weight``).

    Replica routing: its share of the ready pods behind the client Service. Gateway API:
    the route's canary weight, while the canary has a ready pod to take it.
    """
    ready = _canary_ready(run)
    if _gateway(run):
        return routing.canary_share(_route_weights(run)) if ready else 0
    stable = run.observed.stable
    return served(ready, stable.ready if stable is not None else 0)


def whole_second(t: datetime) -> datetime:
    """``t`` rounded *up* to a whole second, as a step's start is stored.

    Status times have second precision; a start stored rounded down would end every pause
    and deadline counted from it up to a second early. Rounded up, they end at most a
    second late, never before their time.
    """
    return t if t.microsecond == 0 else t.replace(microsecond=0) + timedelta(seconds=1)


def _canary_ready(run: _Run) -> int:
    """Ready canary pods that serve the canary's *current* model.

    None while the canary Deployment is not at the current template or still has pods of
    an older one (a new model arriving mid-canary): their readiness cannot be told apart
    from the new pods', and crediting them would count the old model's traffic, and its
    analysis data, for the new one.
    """
    found = run.observed.canary
    c = run.status.canary
    manifest = _canary_manifest(run) if c is not None else None
    if found is None or c is None or manifest is None or not _current(found, manifest):
        return 0
    if not found.observed:
        # The Deployment controller has not seen the latest spec (a scale, or a template
        # change) yet: its counts still describe the spec before. Keep the weight already
        # shown for this very revision; a new revision has served nothing yet.
        before = run.md.status.canary
        same = before is not None and before.revision == c.revision
        return found.ready if same and before is not None and before.weight else 0
    if found.current > found.updated:
        return 0
    return found.ready


def _canary_template(run: _Run) -> tuple[str, int] | None:
    c = run.status.canary
    if c is None or c.model is None or c.revision is None:
        return None
    return c.model, c.revision


def _canary_replicas(run: _Run) -> int:
    """Canary pods: the current step's weight of N while a canary runs, else 0."""
    c = run.status.canary
    if c is None:
        return 0
    steps = canary.steps_of(run.md)
    return split(_replicas(run), canary.target_weight(steps, c.step_index or 0))


def _canary_manifest(run: _Run) -> dict[str, Any] | None:
    template = _canary_template(run)
    if template is None:
        return None
    model, revision = template
    return builders.deployment(
        run.md, Variant.CANARY, model, revision, _canary_replicas(run), run.defaults
    )


def _reached(run: _Run, weight: int) -> str | None:
    """None when the canary serves ``weight``; else why not, in words."""
    c = run.status.canary
    assert c is not None
    pods = split(_replicas(run), weight)
    found = run.observed.canary
    if found is None:
        return f"Deployment {builders.deployment_name(run.name, Variant.CANARY)} not created yet"
    manifest = _canary_manifest(run)
    assert manifest is not None
    if not _current(found, manifest) or not found.rolled_out(pods):
        return f"canary {found.ready}/{pods} pods ready ({found.updated} updated)"
    route = _gateway(run)
    if route is None:
        return None
    problem = routing.route_problem(
        run.observed.route,
        route,
        _svc(run, Variant.STABLE),
        _svc(run, Variant.CANARY),
        run.namespace,
        weight,
    )
    run.route_pending = problem is not None and run.observed.route is not None
    return problem


def _stable_template(run: _Run) -> tuple[str, int] | None:
    """The stable's model and revision: the canary's once it is being promoted."""
    c = run.status.canary
    if c is not None and c.promoting and c.model is not None and c.revision is not None:
        return c.model, c.revision
    stable = run.status.stable
    if stable is None or stable.model is None or stable.revision is None:
        return None
    return stable.model, stable.revision


def _stable_manifest(run: _Run, *, create: bool = False) -> dict[str, Any] | None:
    """The stable Deployment as it should be. With an HPA the count is left out of every
    write except the create, which starts at ``minReplicas`` rather than the API's 1."""
    template = _stable_template(run)
    if template is None:
        return None
    model, revision = template
    scaling = run.md.spec.autoscaling
    replicas = run.md.spec.replicas if scaling is None else None
    if create and scaling is not None:
        replicas = scaling.min_replicas
    return builders.deployment(run.md, Variant.STABLE, model, revision, replicas, run.defaults)


def _stable_hash(run: _Run) -> str | None:
    manifest = _stable_manifest(run)
    if manifest is None:
        return None
    return builders.template_hash(manifest["spec"]["template"])


def _current(found: DeploymentState, manifest: dict[str, Any]) -> bool:
    """Whether a Deployment carries the pod template of ``manifest``."""
    return found.template_hash == builders.template_hash(manifest["spec"]["template"])


# --- children ----------------------------------------------------------------------------


def _children(run: _Run) -> None:
    """Create what is missing and patch what is stale, from the status just decided."""
    stable = _stable_manifest(run)
    if stable is None:
        return  # nothing to serve yet
    plan = run.plan
    _route(run)

    found = run.observed.stable
    if found is None:
        plan.creates.append(Create(_stable_manifest(run, create=True) or stable))
    else:
        # During a canary the stable is not touched: same template, same pods.
        retemplate = not _current(found, stable) and run.running is None
        rescale = run.md.spec.autoscaling is None and found.replicas != run.md.spec.replicas
        if retemplate or rescale:
            patch = builders.deployment_patch(stable, template=retemplate, replicas=rescale)
            plan.patches.append(Patch("Deployment", found.name, patch))

    pods = _canary_replicas(run)
    found = run.observed.canary
    manifest = _canary_manifest(run)
    if manifest is None:
        # Idle: 0 pods of whatever template it has; created like the stable, ready for the
        # next rollout (and so that the route's canary backend resolves).
        model, revision = _stable_template(run) or ("", 0)
        manifest = builders.deployment(run.md, Variant.CANARY, model, revision, 0, run.defaults)
        stale = False
    else:
        stale = found is not None and not _current(found, manifest)
    if found is None:
        plan.creates.append(Create(manifest))
    elif stale or found.replicas != pods:
        patch = builders.deployment_patch(manifest, template=stale, replicas=found.replicas != pods)
        plan.patches.append(Patch("Deployment", found.name, patch))

    for service in builders.services(run.md):
        name = service["metadata"]["name"]
        existing = run.observed.service(name)
        if existing is None:
            plan.creates.append(Create(service))
        elif list(existing.ports) != service["spec"]["ports"]:
            plan.patches.append(
                Patch("Service", name, {"spec": {"ports": service["spec"]["ports"]}})
            )

    _hpa(run)


def _route(run: _Run) -> None:
    """The HTTPRoute's weights: the canary's weight only once its pods can take it."""
    name = _gateway(run)
    route = run.observed.route
    if name is None or route is None:
        return
    weight = _route_weight(run)
    patch = routing.route_patch(
        route, _svc(run, Variant.STABLE), _svc(run, Variant.CANARY), run.namespace, weight
    )
    if patch is not None:
        run.plan.patches.append(Patch("HTTPRoute", route.name, patch))


def _route_weight(run: _Run) -> int:
    """The canary weight to write to the route.

    No canary: 0. Promoting: as it is, until the stable serves the new model. Otherwise the
    step's weight once the canary's pods for it are ready; before that, never more than the
    route has now (a step down happens at once), and 0 while no canary pod is ready.
    """
    c = run.status.canary
    if c is None:
        return 0
    weights = _route_weights(run)
    current = weights[1] if weights is not None else 0
    if c.promoting:
        return current
    weight = canary.target_weight(canary.steps_of(run.md), c.step_index or 0)
    found = run.observed.canary
    manifest = _canary_manifest(run)
    assert manifest is not None
    if found is None or _canary_ready(run) == 0:
        return 0
    if _current(found, manifest) and found.rolled_out(split(_replicas(run), weight)):
        return weight
    return min(weight, current)


def _hpa(run: _Run) -> None:
    scaling = run.md.spec.autoscaling
    found = run.observed.hpa
    if scaling is None:
        if found is not None:
            run.plan.deletes.append(Delete("HorizontalPodAutoscaler", found.name, found.uid))
        return
    if found is None:
        run.plan.creates.append(Create(builders.hpa(run.md)))
        return
    spec = builders.hpa_spec(run.md)
    current = (found.target, found.min_replicas, found.max_replicas, found.cpu_utilization)
    wanted = (
        spec["scaleTargetRef"]["name"],
        spec["minReplicas"],
        spec["maxReplicas"],
        spec["metrics"][0]["resource"]["target"]["averageUtilization"],
    )
    if current != wanted:
        run.plan.patches.append(Patch("HorizontalPodAutoscaler", found.name, {"spec": spec}))


# --- status ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cond:
    status: bool
    reason: str
    message: str


def _summarize(run: _Run, *, conflict: str | None = None) -> None:
    """Counts, the served weight, the four conditions and the phase, from what was decided."""
    status = run.status
    md = run.md
    n = _replicas(run)
    found = run.observed.stable
    ready = found.ready if found is not None else 0
    if status.stable is not None:
        status.stable.replicas = n
        status.stable.ready_replicas = ready
    if status.canary is not None:
        status.canary.weight = _served_weight(run)
    source = run.observed.source
    route = _gateway(run)
    route_missing = route is not None and run.observed.route is None

    # Ready: is the stable serving?
    if source.uri is None:
        assert source.reason is not None
        ready_c = _Cond(False, source.reason, source.message)
    elif _stable_template(run) is None:
        ready_c = _Cond(False, "NoModel", "nothing to serve yet")
    elif ready >= n:
        stable = status.stable
        revision = stable.revision if stable else None
        ready_c = _Cond(True, "Serving", f"revision {revision}: {ready}/{n} replicas ready")
    else:
        ready_c = _Cond(False, "ReplicasNotReady", f"{ready}/{n} stable replicas ready")

    # Degraded: something needs a human.
    aborted = status.aborted
    if conflict is not None:
        degraded = _Cond(True, NOT_OWNED, conflict)
    elif aborted is not None and source.uri in (None, aborted.model):
        degraded = _Cond(
            True,
            aborted.reason,
            f"model {aborted.model} (revision {aborted.revision}) aborted: {aborted.message}",
        )
    elif source.uri is None and not source.waiting:
        assert source.reason is not None
        degraded = _Cond(True, source.reason, source.message)
    elif route_missing:
        degraded = _Cond(True, ROUTE_NOT_FOUND, f"HTTPRoute {route} not found")
    else:
        degraded = _Cond(False, "Healthy", "")

    # Paused: frozen by spec, or waiting for a human at a pause step.
    if md.spec.paused:
        paused = _Cond(
            True, "PausedBySpec", "spec.paused: no writes, no measurements, timers stopped"
        )
    elif run.wait is not None and run.wait.reason == canary.WAITING_FOR_PROMOTE:
        paused = _Cond(True, canary.WAITING_FOR_PROMOTE, run.wait.message)
    else:
        paused = _Cond(False, "NotPaused", "")

    progressing = _progressing(run, n, conflict)

    previous = {c.type: c.reason for c in status.conditions}
    for type_, cond in (
        (C.READY, ready_c),
        (C.PROGRESSING, progressing),
        (C.DEGRADED, degraded),
        (C.PAUSED, paused),
    ):
        set_condition(
            status.conditions,
            type_,
            "True" if cond.status else "False",
            cond.reason,
            cond.message,
            generation=run.gen,
            now=run.now,
        )
    # Events for what a human acts on, once per change.
    if ready_c.reason != previous.get(C.READY) and source.uri is None:
        run.event("Normal" if source.waiting else "Warning", ready_c.reason, ready_c.message)
    if (
        degraded.status
        and degraded.reason in (ROUTE_NOT_FOUND, NOT_OWNED)
        and previous.get(C.DEGRADED) != degraded.reason
    ):
        run.event("Warning", degraded.reason, degraded.message)
    if paused.reason != previous.get(C.PAUSED, "NotPaused"):
        if paused.status:
            run.event("Normal", "Paused", paused.message)
        elif previous.get(C.PAUSED) == "PausedBySpec":
            run.event("Normal", "Resumed", "spec.paused is false again")

    if degraded.status:
        status.phase = P.DEGRADED
    elif paused.status:
        status.phase = P.PAUSED
    elif progressing.status:
        status.phase = P.PROGRESSING
    else:
        status.phase = P.HEALTHY


def _progressing(run: _Run, n: int, conflict: str | None) -> _Cond:
    status = run.status
    c = status.canary
    source = run.observed.source
    if conflict is not None:
        return _Cond(False, NOT_OWNED, conflict)
    if c is not None:
        if c.promoting:
            return _Cond(
                True,
                "Promoting",
                f"stable Deployment rolling out revision {c.revision}: {_updated(run, n)}",
            )
        steps = canary.steps_of(run.md)
        index = c.step_index or 0
        where = (
            f"step {index + 1}/{len(steps)} ({canary.describe(steps[index])})"
            if index < len(steps)
            else "all steps done"
        )
        if run.md.spec.paused:
            return _Cond(True, "Paused", f"revision {c.revision} at {where}: paused by spec")
        if run.wait is not None:
            return _Cond(
                True, run.wait.reason, f"revision {c.revision} at {where}: {run.wait.message}"
            )
        return _Cond(True, "RollingOut", f"revision {c.revision} at {where}")
    found = run.observed.stable
    template = _stable_template(run)
    if template is not None and (
        found is None or not found.rolled_out(n) or found.template_hash != _stable_hash(run)
    ):
        return _Cond(True, "RollingOut", f"revision {template[1]}: {_updated(run, n)}")
    if source.uri is None and source.waiting:
        assert source.reason is not None
        return _Cond(True, source.reason, source.message)
    aborted = status.aborted
    if aborted is not None and source.uri in (None, aborted.model):
        return _Cond(
            False, "RolloutAborted", f"revision {aborted.revision} aborted: {aborted.reason}"
        )
    if template is None:
        return _Cond(False, "NoModel", "nothing to serve yet")
    return _Cond(False, "RolloutComplete", f"revision {template[1]} serves all traffic")


def _updated(run: _Run, n: int) -> str:
    """How far the stable's rolling update is: pods of the wanted template."""
    found = run.observed.stable
    if found is None or found.template_hash != _stable_hash(run) or not found.observed:
        return f"0/{n} updated"  # the Deployment controller has not started on it
    return f"{found.updated}/{n} updated"


def _done(run: _Run) -> Plan[ModelDeploymentStatus]:
    run.status.observed_generation = run.gen
    next_at = analysis_.next_measurement(run.md, run.status)
    if next_at is not None:
        run.plan.requeue((next_at - run.now).total_seconds())
    run.plan.status = run.status
    return run.plan
