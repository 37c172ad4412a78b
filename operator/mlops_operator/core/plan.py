"""What a reconcile decided: the writes to make, the status to show, when to look again.

The core returns a :class:`Plan`; the kopf layer carries it out in order (creates, patches,
deletes, status, events). Keeping decisions as data makes them testable by equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

EventType = Literal["Normal", "Warning"]

S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True)
class Create:
    """Create this manifest; AlreadyExists counts as done (names are deterministic)."""

    manifest: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])


@dataclass(frozen=True)
class Patch:
    """Merge-patch a child we own."""

    kind: str
    name: str
    patch: dict[str, Any]


@dataclass(frozen=True)
class Delete:
    """Delete an object; ``uid`` pins the incarnation so a newer one is never removed."""

    kind: str
    name: str
    uid: str | None = None


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event on the reconciled object."""

    type: EventType
    reason: str
    message: str


@dataclass
class Plan(Generic[S]):
    """Everything one reconcile wants done.

    ``status`` stays the kind's typed status model until the write: the kopf layer turns it
    into a true diff against what the server holds (removed keys become ``null``).
    """

    creates: list[Create] = field(default_factory=list)
    patches: list[Patch] = field(default_factory=list)
    deletes: list[Delete] = field(default_factory=list)
    status: S | None = None  # the full desired status, or None to leave it as it is
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None

    def requeue(self, seconds: float) -> None:
        """Ask to look again after ``seconds`` (the earliest request wins)."""
        seconds = max(seconds, 0.0)
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = seconds
