"""Objects of one of our kinds in one namespace: what every e2e helper reads and writes.

``TrainingJobs``, ``ModelDeployments`` and ``RetrainPolicies`` add what is particular to
their kind (its children, its waits); reading, patching, waiting on status and reading
Events is the same for all three and lives here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from kubernetes import client

from localcluster.waiting import wait_for
from mlops_operator import GROUP, VERSION


def event_time(event: Any) -> datetime:
    """When an Event was posted (microseconds where the poster gave them, UTC)."""
    stamp = event.event_time or event.last_timestamp or event.metadata.creation_timestamp
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def condition(status: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    """The condition of ``type_`` in a status, or None."""
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), None)


def found(read: Callable[[], Any]) -> bool:
    """Whether ``read`` finds its object: False on 404, any other error raised."""
    try:
        read()
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


class Objects:
    """One kind of ours (``plural``, ``kind``) in one namespace."""

    plural: ClassVar[str]
    kind: ClassVar[str]

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, self.plural, body
        )
        return created

    def get(self, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, self.plural, name
        )
        return obj

    def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the object, as ``kubectl patch --type merge``."""
        patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, self.plural, name, patch
        )
        return patched

    def annotate(self, name: str, annotations: Mapping[str, str | None]) -> None:
        """Set (or, with None, remove) annotations, as ``kubectl annotate --overwrite``:
        what a user or a GitOps tool does."""
        self.patch(name, {"metadata": {"annotations": dict(annotations)}})

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(
            GROUP, VERSION, self.namespace, self.plural, name
        )

    def exists(self, name: str) -> bool:
        return found(lambda: self.get(name))

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.get(name).get("status") or {}
        return status

    def condition(self, name: str, type_: str) -> dict[str, Any] | None:
        return condition(self.status(name), type_)

    def wait(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], object],
        message: str,
        timeout: float = 60,
    ) -> dict[str, Any]:
        """Wait until ``predicate(status)`` holds; return that status (the last one seen
        is in the error when it never does)."""
        last: list[dict[str, Any]] = [{}]

        def check() -> dict[str, Any] | None:
            last[0] = self.status(name)
            return last[0] if predicate(last[0]) else None

        try:
            return wait_for(
                check, timeout, f"{self.kind} {self.namespace}/{name}: {message}", interval=0.1
            )
        except TimeoutError as exc:
            raise type(exc)(f"{exc}; last status: {json.dumps(last[0], indent=1)}") from None

    def wait_phase(self, name: str, *phases: str, timeout: float = 60) -> dict[str, Any]:
        """Wait until ``status.phase`` is one of ``phases``; return the status."""
        return self.wait(
            name, lambda s: s.get("phase") in phases, f"phase {'/'.join(phases)}", timeout
        )

    def events(self, name: str, kind: str | None = None) -> list[Any]:
        """Events about the object (or another kind's ``name``), oldest first."""
        events = self.core.list_namespaced_event(
            self.namespace,
            field_selector=f"involvedObject.kind={kind or self.kind},involvedObject.name={name}",
        ).items
        return sorted(events, key=lambda e: (event_time(e), e.metadata.name))

    def reasons(self, name: str, kind: str | None = None) -> list[str]:
        return [e.reason for e in self.events(name, kind)]

    def messages(self, name: str, reason: str) -> list[str]:
        return [e.message for e in self.events(name) if e.reason == reason]

    def wait_event(
        self,
        name: str,
        reason: str,
        containing: str = "",
        timeout: float = 30,
        kind: str | None = None,
    ) -> Any:
        """Wait for an Event with ``reason`` (and ``containing`` in its message) about the
        object; return the newest such Event."""
        return wait_for(
            lambda: next(
                (
                    e
                    for e in reversed(self.events(name, kind))
                    if e.reason == reason and containing in (e.message or "")
                ),
                None,
            ),
            timeout,
            f"a {reason} Event {containing!r} on {kind or self.kind} {self.namespace}/{name}",
        )
