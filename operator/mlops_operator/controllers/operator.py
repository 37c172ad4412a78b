"""Start-up, login, leadership and kopf's settings: the parts that are not a controller.

Start-up loops over the registry: one work queue per controller, each reconciling with the
one machinery of :mod:`~mlops_operator.controllers.reconciler`. With leader election on,
every replica keeps its caches warm from the watches but only the holder of the Lease runs
reconciles; a replica that loses the Lease stops at once and forgets its queues, and one
that gains it starts from its caches with every object queued once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
from typing import Any

import kopf
from prometheus_client import REGISTRY

from mlops_operator.api import keys
from mlops_operator.controllers import reconciler
from mlops_operator.controllers.census import Census
from mlops_operator.controllers.registry import CONTROLLERS, child_informers, index_ids
from mlops_operator.controllers.runtime import Key, Runtime
from mlops_operator.kube.client import Kube
from mlops_operator.kube.events import EventSender
from mlops_operator.kube.lease import LeaderElector
from mlops_operator.kube.workqueue import WorkQueue
from mlops_operator.observability import logging
from mlops_operator.settings import Settings

log = logging.get(__name__)


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
    """Apply our kopf settings, connect the client, start the queues (or the election)."""
    config: Settings = memo.settings
    # Our own names for anything kopf would write (it writes nothing today: no handler
    # needs progress storage or a finalizer), and Events posted by us alone.
    settings.persistence.finalizer = keys.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=keys.PREFIX.rstrip("/")
    )
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.posting.enabled = False
    # Reconnect watches regularly, so a silently dropped connection cannot stall us.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    # Replicas coordinate through our Lease, not kopf peering: every replica keeps watching.
    settings.peering.standalone = True

    kube = await Kube.connect(request_timeout=config.request_timeout)
    runtime = Runtime(
        kube=kube,
        settings=config,
        indices={name: kwargs[name] for name in index_ids()},
        events=EventSender(kube),
    )
    runtime.tasks.append(asyncio.create_task(runtime.events.run(), name="events"))
    for ctl in CONTROLLERS:
        runtime.queues[ctl.kind] = WorkQueue(
            ctl.kind.lower(),  # the metrics' controller label, as controller-runtime names it
            _reconcile_with(runtime, ctl),
            workers=config.workers,
            timeout=config.reconcile_timeout,
        )
    informers = child_informers(runtime, config.namespaces or None)
    runtime.indices.update(informers)
    runtime.informers = list(informers.values())
    for name, informer in informers.items():
        runtime.tasks.append(asyncio.create_task(informer.run(), name=f"informer:{name}"))
    memo.runtime = runtime
    memo.census = Census(runtime, {"trainingjobs": "trainingjobs"})
    REGISTRY.register(memo.census)

    if config.leader_election is None:
        await lead(runtime)
        return
    for queue in runtime.queues.values():
        await queue.pause()
    elector = LeaderElector(
        kube,
        config.lease_namespace,
        config.leader_election,
        identity=_identity(),
        on_started=lambda: lead(runtime),
        on_stopped=lambda: follow(runtime),
    )
    memo.elector = elector
    runtime.tasks.append(asyncio.create_task(elector.run(), name="leader-election"))


def _reconcile_with(runtime: Runtime, ctl: reconciler.Controller[Any, Any]) -> Any:
    async def reconcile(key: Key) -> float | None:
        return await reconciler.reconcile(runtime, ctl, key)

    return reconcile


async def lead(runtime: Runtime) -> None:
    """Start acting: clear memories, queue every cached object once, run the queues.

    Only once every cache is listed: before that a cache could hold a run without its
    Jobs, and acting on it would create them twice or flap its status. The queues start
    once the children's informers have listed; kopf's own indexes are listed when it first
    calls a watch handler (``runtime.listed``), and until then those handlers, which kopf
    holds, fill the queues themselves.
    """
    runtime.reset()
    await runtime.children_listed()
    for ctl in CONTROLLERS:
        queue = runtime.queues[ctl.kind]
        queue.resume()
        if runtime.listed:
            for key in list(runtime.index(ctl.index_id)):
                queue.add(key)


async def follow(runtime: Runtime) -> None:
    """Stop acting at once: no reconcile runs, nothing stays queued."""
    for queue in runtime.queues.values():
        await queue.pause()
    runtime.reset()


def _identity() -> str:
    """This replica's name in the Lease: the pod's name in a cluster, else host and pid."""
    return os.environ.get("POD_NAME") or f"{os.uname().nodename}-{os.getpid()}"


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    """Stop the queues (a reconcile in flight is cancelled; it is level-based) and close."""
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is None:
        return
    census = getattr(memo, "census", None)
    if census is not None:
        REGISTRY.unregister(census)
    with contextlib.suppress(TimeoutError):  # what was decided is also told, briefly
        async with asyncio.timeout(5.0):
            await runtime.events.drain()
    for queue in runtime.queues.values():
        await queue.pause()
    for task in runtime.tasks:  # the elector releases its Lease on the way out
        task.cancel()
    await asyncio.gather(*runtime.tasks, return_exceptions=True)
    if runtime.prometheus is not None:
        await runtime.prometheus.close()
    await runtime.kube.close()


@kopf.on.probe(id="queued")
async def queued(memo: kopf.Memo, **_: Any) -> dict[str, int]:
    """Keys waiting per work queue, for /healthz; fails while a reconcile is stuck.

    Every request and every reconcile has a timeout, so a reconcile running for twice its
    timeout means the event loop or a worker is wedged: the probe fails and the kubelet
    restarts the pod.
    """
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is None:
        return {}
    dead = [t.get_name() for t in runtime.tasks if t.done()]
    dead += [f"workqueue:{name}" for name, q in runtime.queues.items() if not q.alive]
    if dead:
        raise RuntimeError(f"background tasks ended: {dead}")
    limit = 2 * runtime.settings.reconcile_timeout
    stuck = {name: q.stuck(limit) for name, q in runtime.queues.items()}
    wedged = {name: [str(k) for k in keys_] for name, keys_ in stuck.items() if keys_}
    if wedged:
        raise RuntimeError(f"reconciles stuck for over {limit:.0f}s: {wedged}")
    return {name: len(q) for name, q in runtime.queues.items()}
