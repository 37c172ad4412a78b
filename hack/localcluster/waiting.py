"""Polling waits with a deadline, for tests and for bringing the cluster up.

Everything in a Kubernetes cluster is eventually consistent, so tests must poll for an
outcome rather than sleep a fixed time and assert. These helpers poll a predicate until
it returns something truthy and fail with a message that says what was awaited and
what was last seen, which is what one needs to debug a flaky wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """A polled condition did not become true before its deadline."""


def _timeout_message(
    message: str, timeout: float, last: object, error: BaseException | None
) -> str:
    detail = f"{message} (not true after {timeout:.1f}s; last value: {last!r}"
    if error is not None:
        detail += f"; last error: {type(error).__name__}: {error}"
    return detail + ")"


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float,
    message: str,
    interval: float = 0.2,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``predicate`` until it returns a truthy value, and return that value.

    A predicate returning ``X | None`` yields an ``X``: the value found, never None.

    ``ignore`` lists exception types that count as "not yet" (e.g. a 404 while an
    object is being created); anything else propagates at once. Raises
    :class:`WaitTimeout` naming ``message`` when ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    error: BaseException | None = None
    while True:
        try:
            value = predicate()
        except ignore as exc:
            error = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise WaitTimeout(_timeout_message(message, timeout, last, error))
        time.sleep(interval)


async def wait_for_async(
    predicate: Callable[[], Awaitable[T | None]],
    # Same signature as wait_for on purpose; asyncio.timeout could not name the
    # condition in the error.
    timeout: float,  # noqa: ASYNC109
    message: str,
    interval: float = 0.2,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """The asyncio twin of :func:`wait_for`, for tests driving async clients."""
    deadline = time.monotonic() + timeout
    last: object = None
    error: BaseException | None = None
    while True:
        try:
            value = await predicate()
        except ignore as exc:
            error = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise WaitTimeout(_timeout_message(message, timeout, last, error))
        await asyncio.sleep(interval)
