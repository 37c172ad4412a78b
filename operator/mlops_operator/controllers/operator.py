"""Start-up, login and kopf's settings: the parts of the operator that are not a controller."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterable
from typing import Any

import kopf

from mlops_operator import GROUP
from mlops_operator.controllers import trainingjob
from mlops_operator.controllers.runtime import Key, Runtime
from mlops_operator.kube.client import Kube
from mlops_operator.kube.events import EventSender
from mlops_operator.kube.workqueue import WorkQueue
from mlops_operator.settings import Settings


class NoDiffBase(kopf.DiffBaseStorage):
    """A diff base that is never built, fetched or stored.

    kopf deep-copies every watched object on every event to diff it against the last
    handled state, for change-detecting handlers (on.create/update/delete/resume). This
    operator has none: index and event handlers, then level-based reconciles. At 1,000
    runs that copy was a measurable share of the operator's CPU (py-spy), all wasted.
    A unit test fails if a change-detecting handler is ever registered with this in place.
    """

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """The pod's service account in a cluster, else the kubeconfig; nothing else."""
    info: kopf.ConnectionInfo | None = kopf.login_with_service_account(**kwargs)
    return info or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    """Apply our kopf settings, connect the client, and start the work queues."""
    config: Settings = memo.settings
    # Our own names for anything kopf would write (it writes nothing today: no handler
    # needs progress storage or a finalizer), and Events posted by us alone.
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.posting.enabled = False
    # Reconnect watches regularly, so a silently dropped connection cannot stall us.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    if config.peering:
        settings.peering.name = config.peering
        settings.peering.mandatory = True
        # Equal priorities freeze every replica; random ones elect one (kopf's advice).
        settings.peering.priority = random.randint(0, 32767)
    else:
        settings.peering.standalone = True

    indices = {
        name: kwargs[name] for name in ("trainingjobs", "trainingjob_jobs", "trainingjob_services")
    }
    kube = await Kube.connect()
    runtime = Runtime(kube=kube, settings=config, indices=indices, events=EventSender(kube))
    runtime.tasks.append(asyncio.create_task(runtime.events.run(), name="events"))

    async def reconcile_trainingjob(key: Key) -> float | None:
        return await trainingjob.reconcile(runtime, key)

    queue: WorkQueue[Key] = WorkQueue(
        trainingjob.NAME, reconcile_trainingjob, workers=config.workers
    )
    runtime.queues[trainingjob.NAME] = queue
    runtime.tasks.append(asyncio.create_task(queue.run(), name="workqueue:trainingjob"))
    memo.runtime = runtime


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    """Stop the queues (a reconcile in flight is cancelled; it is level-based) and close."""
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is None:
        return
    with contextlib.suppress(TimeoutError):  # what was decided is also told, briefly
        async with asyncio.timeout(5.0):
            await runtime.events.drain()
    for task in runtime.tasks:
        task.cancel()
    await asyncio.gather(*runtime.tasks, return_exceptions=True)
    await runtime.kube.close()


@kopf.on.probe(id="queued")
async def queued(memo: kopf.Memo, **_: Any) -> dict[str, int]:
    """Keys waiting per work queue, for the /healthz endpoint."""
    runtime: Runtime | None = getattr(memo, "runtime", None)
    return {name: len(q) for name, q in runtime.queues.items()} if runtime else {}
