"""What the benchmark reports each TrainingJob status write changed."""

from __future__ import annotations

from typing import Any

from bench.track import status_changes


def running(message: str, ready: int, succeeded: int = 0) -> dict[str, Any]:
    return {
        "phase": "Running",
        "nodes": {"ready": ready, "succeeded": succeeded},
        "conditions": [
            {"type": "Running", "status": "True", "reason": "AllNodesReady", "message": message}
        ],
    }


def test_each_write_is_named_by_what_it_changed_including_a_condition_message() -> None:
    history: list[dict[str, Any]] = [
        {},
        {
            "phase": "Pending",
            "conditions": [{"type": "Running", "status": "False", "reason": "NodesStarting"}],
        },
        running("1/1 nodes ready", ready=1),
        running("0/1 nodes ready, 1 finished", ready=0, succeeded=1),
        {**running("0/1 nodes ready, 1 finished", ready=0, succeeded=1), "completionTime": "t"},
    ]
    assert status_changes([history]) == {
        "phase->Pending, Running=False": 1,
        "nodes, phase->Running, Running=True": 1,
        # A node counted finished before the Job completes: a write, for the message.
        "nodes, Running.message": 1,
        "completionTime": 1,
    }
