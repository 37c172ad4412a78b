"""Metrics from a termination message: the numbers of {"metrics": {...}}, and why not."""

from __future__ import annotations

import json

import pytest

from mlops_operator.core.training.metrics import MetricsReport, read_metrics


@pytest.mark.parametrize(
    ("message", "report"),
    [
        (None, MetricsReport()),
        ("", MetricsReport()),
        ("  \n", MetricsReport()),
        ('{"metrics": {}}', MetricsReport()),
        (
            '{"metrics": {"accuracy": 0.93, "val_loss": 0.21}}\n',
            MetricsReport(metrics={"accuracy": 0.93, "val_loss": 0.21}),
        ),
        ('{"metrics": {"steps": 20000}}', MetricsReport(metrics={"steps": 20000.0})),
        ('{"metrics": {"tiny": -1.5e-300}}', MetricsReport(metrics={"tiny": -1.5e-300})),
        # Other keys are the script's own business.
        ('{"metrics": {"f1": 0.8}, "note": "ok"}', MetricsReport(metrics={"f1": 0.8})),
        (
            '{"metrics": {"ok": 1, "flag": false, "s": "0.9", "n": null, "l": [1], "o": {}}}',
            MetricsReport(
                metrics={"ok": 1.0},
                ignored=(
                    "flag (a boolean)",
                    "s (a string)",
                    "n (null)",
                    "l (a list)",
                    "o (an object)",
                ),
            ),
        ),
        (
            '{"metrics": {"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e999}}',
            MetricsReport(
                ignored=tuple(f"{k} (not a finite number)" for k in "abcd"),
            ),
        ),
        (
            '{"metrics": {"huge": ' + "9" * 400 + "}}",
            MetricsReport(ignored=("huge (not a finite number)",)),
        ),
    ],
    ids=[
        "none",
        "empty",
        "blank",
        "no-metrics",
        "two",
        "integer",
        "small",
        "other-keys",
        "not-numbers",
        "not-finite",
        "beyond-double",
    ],
)
def test_read_metrics(message: str | None, report: MetricsReport) -> None:
    assert read_metrics(message) == report


@pytest.mark.parametrize(
    ("message", "unreadable"),
    [
        ("[1, 2]", "not a JSON object but a list"),
        ('"done"', "not a JSON object but a string"),
        ("0.93", "not a JSON object but a number"),
        ("null", "not a JSON object but null"),
        ('{"accuracy": 0.93}', '"metrics" must be an object of numbers, found no'),
        ('{"metrics": [0.93]}', '"metrics" must be an object of numbers, found a list'),
        ('{"metrics": "0.93"}', '"metrics" must be an object of numbers, found a string'),
    ],
)
def test_unreadable_messages_say_why(message: str, unreadable: str) -> None:
    assert read_metrics(message) == MetricsReport(unreadable=unreadable)


@pytest.mark.parametrize(
    "message",
    ["accuracy=0.93", '{"metrics": {"a": 1}', "{'metrics': {}}", "[" * 100_000],
    ids=["text", "cut-off", "python-repr", "deep"],
)
def test_text_that_is_not_json_is_unreadable(message: str) -> None:
    report = read_metrics(message)
    assert report.metrics == {}
    assert report.unreadable is not None
    assert report.unreadable.startswith("not JSON (")


def test_at_most_256_metrics_are_kept() -> None:
    message = json.dumps({"metrics": {f"m{i}": i for i in range(300)}})
    report = read_metrics(message)
    assert list(report.metrics) == [f"m{i}" for i in range(256)]
    assert report.ignored == tuple(f"m{i} (more than 256 metrics)" for i in range(256, 300))
