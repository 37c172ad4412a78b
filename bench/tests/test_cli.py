"""The benchmark's command line: arms, counts and the order benchmarks run in."""

from __future__ import annotations

import argparse

import pytest

from bench.__main__ import BENCHMARKS, arm_list, parser


def test_arms_are_a_comma_separated_subset_in_the_order_given() -> None:
    assert arm_list("operator,peer") == ["operator", "peer"]
    assert arm_list(" floor , peer,operator ") == ["floor", "peer", "operator"]
    for bad in ("", "floor,floor", "kubeflow", "peer,,x"):
        with pytest.raises(argparse.ArgumentTypeError):
            arm_list(bad)


def test_defaults_three_reps_all_arms_and_a_count_per_benchmark() -> None:
    args = parser().parse_args([])
    assert (args.reps, args.arms, args.count) == (3, ["floor", "peer", "operator"], None)
    assert not args.py_spy
    assert not args.py_spy_raw
    quick = parser().parse_args(["training", "--count", "50", "--reps", "1", "--arms", "peer"])
    assert (quick.count, quick.reps, quick.arms) == (50, 1, ["peer"])


def test_the_cache_test_runs_before_training_so_its_targets_are_this_runs() -> None:
    assert BENCHMARKS.index("cache") < BENCHMARKS.index("training")
