"""The retraining benchmark's reaction time, on the operator's own evaluation grid."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.retraining import FOR_SECONDS, INTERVAL_SECONDS, reaction, retrainpolicy, slot_before
from mlops_operator.api.retrainpolicy import RetrainPolicy
from mlops_operator.core.retraining.triggers import next_evaluation


def policy() -> RetrainPolicy:
    body = retrainpolicy("rp-000", "http://prometheus:9090")
    body["metadata"] |= {"namespace": "ns", "uid": "0b7a6a34-7d8e-4a5e-9a2e-3f1f1c1d1e1f"}
    return RetrainPolicy.model_validate(body)


def rfc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_slot_before_is_the_latest_slot_strictly_before() -> None:
    p = policy()
    slot = next_evaluation(p, datetime(2026, 1, 1, tzinfo=UTC))
    assert slot is not None
    s = slot.timestamp()
    assert slot_before(p, s + 0.001) == s
    assert slot_before(p, s) == s - INTERVAL_SECONDS
    assert slot_before(p, s + INTERVAL_SECONDS - 0.001) == s


def test_the_reaction_runs_from_the_slot_for_after_the_window_opened() -> None:
    p = policy()
    slot = next_evaluation(p, datetime(2026, 1, 1, tzinfo=UTC))
    assert slot is not None
    opened = slot.timestamp()
    # The evaluation of that slot ran 0.4 s late and wrote breachingSince in whole seconds;
    # the one FOR_SECONDS later decided, and the run was seen 0.25 s after its slot.
    since = float(int(opened + 0.4))
    decided = opened + FOR_SECONDS
    run = {
        "metadata": {
            "annotations": {"mlops.dev/trigger-time": rfc(decided + 0.1)},
            "creationTimestamp": rfc(decided + 0.2),
        }
    }
    history = [{"phase": "Watching"}, {"breachingSince": rfc(since)}]
    r = reaction(p, history, run, decided + 0.25)
    assert r is not None
    assert round(r.reaction, 3) == 0.25
    assert round(r.beyond_decision, 3) == 0.25
    assert r.late_evaluations == 0


def test_a_decision_one_interval_late_is_counted_as_late() -> None:
    p = policy()
    slot = next_evaluation(p, datetime(2026, 1, 1, tzinfo=UTC))
    assert slot is not None
    opened = slot.timestamp()
    late = opened + FOR_SECONDS + INTERVAL_SECONDS
    run = {"metadata": {"annotations": {"mlops.dev/trigger-time": rfc(late + 0.1)}}}
    r = reaction(p, [{"breachingSince": rfc(float(int(opened + 0.1)))}], run, late + 0.2)
    assert r is not None
    assert r.late_evaluations == 1
    assert round(r.reaction, 3) == round(INTERVAL_SECONDS + 0.2, 3)


def test_no_breach_seen_means_no_reaction() -> None:
    assert reaction(policy(), [{"phase": "Watching"}], {"metadata": {}}, 0.0) is None
