"""How many canary pods a traffic weight asks for, and which weight the pods really serve.

With replica routing (the default: no mesh, no gateway) the one client Service selects the
pods of both variants, and kube-proxy spreads connections evenly over the ready ones. The
stable Deployment keeps its ``N`` replicas during the whole canary (an abort is then
instant: the warm stable never went anywhere), and the canary gets :func:`split` pods next
to them. The canary's share of traffic is therefore ``c / (N + c)``, not ``c / N``: 10 % of 10
replicas gives 1 canary pod and 1/11 = 9 % of the traffic; 50 % gives 5 pods and 33 %; 100 %
gives ``N`` pods and 50 %. :func:`served` computes that share from the ready pods, and it is
what ``status.canary.weight`` shows. Exact weights need Gateway API routing, where the
HTTPRoute's backend weights decide the share and :func:`split` only sizes the canary's
capacity.
"""

from __future__ import annotations

__all__ = ["served", "split"]


def split(replicas: int, weight: int) -> int:
    """Canary pods for ``weight`` percent of ``replicas`` stable pods.

    ``round(replicas * weight / 100)`` (half up), then clamped so that every weight
    strictly between 0 and 100 gets at least one canary pod and leaves the canary below
    the stable: ``1 <= c <= replicas - 1`` for ``replicas >= 2``. Argo Rollouts' basic
    canary rounds without the lower clamp and gives 0 canary pods at 75 % of 2 replicas
    and at 90 % of 5 (its surge arithmetic), so such a step "completes" with no canary at
    all; here it gets 1 and 4.

    - ``weight <= 0`` (or no stable replicas): 0.
    - ``weight >= 100``: ``replicas``, as many as the stable.
    - ``replicas == 1`` and ``0 < weight < 100``: 1, one surge pod next to the one stable
      pod (like Argo's surge), which takes half of the connections.
    """
    if weight <= 0 or replicas <= 0:
        return 0
    if weight >= 100:
        return replicas
    if replicas == 1:
        return 1
    wanted = (replicas * weight + 50) // 100  # half up, in integers
    return min(max(wanted, 1), replicas - 1)


def served(canary_ready: int, stable_ready: int) -> int:
    """The percent of traffic the canary's ready pods take behind one Service, rounded down.

    Rounded down so that the status never claims more exposure than there is: 1 of 3 ready
    pods is 33 %, not 34 %; but at least 1 while a canary pod is ready, because 0 means "takes
    no traffic" (background analysis runs only while the weight is above 0). With no ready
    canary pod the canary serves nothing: 0.
    """
    if canary_ready <= 0:
        return 0
    return max(1, 100 * canary_ready // (canary_ready + max(stable_ready, 0)))
