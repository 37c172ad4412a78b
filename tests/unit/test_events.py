"""The Event sender keeps posting whatever a single post runs into."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import structlog

from mlops_operator.kube.client import ApiError
from mlops_operator.kube.events import EventSender

INVOLVED = {
    "apiVersion": "mlops.dev/v1alpha1",
    "kind": "TrainingJob",
    "name": "a",
    "namespace": "ml",
    "uid": "u",
}


class FlakyKube:
    """Stands in for the API client: the first posts fail in the ways a network does."""

    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.posted: list[str] = []

    async def create(self, resource: Any, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.failures:
            raise self.failures.pop(0)
        self.posted.append(body["reason"])
        return body


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionResetError("reset"),
        TimeoutError(),
        OSError("unreachable"),
        ApiError(500, "InternalError", "etcd"),
    ],
)
async def test_the_sender_survives_a_failed_post_and_posts_the_next_events(
    failure: BaseException,
) -> None:
    kube = FlakyKube([failure])
    sender = EventSender(kube, senders=1)  # type: ignore[arg-type]
    task = asyncio.create_task(sender.run())
    try:
        with structlog.testing.capture_logs() as logs:
            sender.send(INVOLVED, "Normal", "First", "lost")
            sender.send(INVOLVED, "Normal", "Second", "posted")
            sender.send(INVOLVED, "Normal", "Third", "posted")
            async with asyncio.timeout(2):
                await sender.drain()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert kube.posted == ["Second", "Third"]
    assert any(entry["event"] == "event not posted" for entry in logs)
