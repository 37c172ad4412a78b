"""The replica split of a canary weight, by table, and the weight the ready pods serve."""

from __future__ import annotations

import pytest

from mlops_operator.core.serving.split import served, split


@pytest.mark.parametrize(
    ("replicas", "weight", "canary"),
    [
        # weight 0: no canary pod, whatever the size.
        (0, 0, 0),
        (1, 0, 0),
        (5, 0, 0),
        # no stable replicas: nothing to split.
        (0, 10, 0),
        (0, 100, 0),
        # one replica: one surge pod for every weight strictly between 0 and 100.
        (1, 1, 1),
        (1, 10, 1),
        (1, 50, 1),
        (1, 99, 1),
        (1, 100, 1),
        # two replicas: never 0 (Argo: 0 at 75 %), never 2 before 100.
        (2, 1, 1),
        (2, 25, 1),
        (2, 50, 1),
        (2, 75, 1),
        (2, 99, 1),
        (2, 100, 2),
        # five replicas: Argo gives 0 at 90 %; here 4.
        (5, 1, 1),
        (5, 9, 1),  # 0.45 rounds to 0, clamped up to 1
        (5, 10, 1),  # 0.5 rounds half up
        (5, 29, 1),
        (5, 30, 2),  # 1.5 -> 2
        (5, 50, 3),  # 2.5 -> 3
        (5, 89, 4),
        (5, 90, 4),  # 4.5 -> 5, clamped down to 4
        (5, 99, 4),
        (5, 100, 5),
        # ten replicas: plain rounding in the middle.
        (10, 1, 1),
        (10, 10, 1),
        (10, 14, 1),
        (10, 15, 2),
        (10, 50, 5),
        (10, 94, 9),
        (10, 95, 9),  # 9.5 -> 10, clamped to 9
        (10, 100, 10),
        # out-of-range weights behave as their bound.
        (4, -5, 0),
        (4, 150, 4),
    ],
)
def test_split(replicas: int, weight: int, canary: int) -> None:
    assert split(replicas, weight) == canary


@pytest.mark.parametrize("replicas", range(2, 40))
def test_split_keeps_a_canary_and_a_majority_stable_for_every_partial_weight(
    replicas: int,
) -> None:
    for weight in range(1, 100):
        assert 1 <= split(replicas, weight) <= replicas - 1, (replicas, weight)


@pytest.mark.parametrize("replicas", range(1, 40))
def test_split_never_shrinks_as_the_weight_grows(replicas: int) -> None:
    counts = [split(replicas, w) for w in range(101)]
    assert counts == sorted(counts)


@pytest.mark.parametrize(
    ("canary_ready", "stable_ready", "weight"),
    [
        (0, 0, 0),
        (0, 4, 0),
        (3, 0, 100),
        (1, 1, 50),
        (1, 2, 33),  # rounded down, never more than is served
        (2, 1, 66),
        (1, 10, 9),  # 10 % of 10 replicas serves 9 %
        (5, 10, 33),
        (10, 10, 50),
        (1, 99, 1),
        (1, 199, 1),  # below one percent still shows as taking traffic
    ],
)
def test_served(canary_ready: int, stable_ready: int, weight: int) -> None:
    assert served(canary_ready, stable_ready) == weight
