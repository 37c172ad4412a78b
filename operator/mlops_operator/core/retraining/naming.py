"""The name of each run a RetrainPolicy starts, derived from the trigger that started it.

Like a CronJob's Jobs, a run's name is a function of its trigger and of nothing the
operator might lose: the breach window's start for drift, the scheduled time for a
schedule, a hash of the annotation's value for a manual retrain. A crash between creating
the run and recording the trigger in status therefore re-derives the same name, and the
second create finds the first run instead of starting another one.

Names are ``<policy>-<d|s|m>-<id>``: ``id`` is a time as 7 base-36 digits (seconds since
the epoch, good until the year 4400) or 8 hex digits of a hash. A TrainingJob's name must
be a DNS-1035 label of at most :data:`~mlops_operator.api.trainingjob.MAX_NAME_LENGTH`
characters, which leaves 37 for the policy; a longer policy name, or one that is not a
DNS-1035 label (policies are DNS subdomains: ``v2.churn``, ``7-days``), is cut and
followed by a hash of the whole name so that two policies never share a prefix.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from mlops_operator.api.retrainpolicy import TriggerReason
from mlops_operator.api.trainingjob import MAX_NAME_LENGTH, NAME_PATTERN

__all__ = ["POLICY_PART_LENGTH", "hash_id", "policy_part", "run_name", "time_id"]

_KIND = {TriggerReason.DRIFT: "d", TriggerReason.SCHEDULE: "s", TriggerReason.MANUAL: "m"}
_ID_LENGTH = 8  # the longest id: 8 hex digits (a time takes 7 base-36 digits)
POLICY_PART_LENGTH = MAX_NAME_LENGTH - len("-d-") - _ID_LENGTH
"""37: the longest policy part of a run's name."""
_HASH_LENGTH = 6  # of a cut policy name: 16.7 million values per prefix
_TIME_DIGITS = 7
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def run_name(policy: str, reason: TriggerReason, id_: str) -> str:
    """``<policy part>-<d|s|m>-<id>``, e.g. ``churn-d-0tovxs0``; ``id_`` from
    :func:`time_id` or :func:`hash_id`."""
    if not 1 <= len(id_) <= _ID_LENGTH or not id_.isalnum():
        raise ValueError(f"a run id has 1 to {_ID_LENGTH} letters and digits, not {id_!r}")
    return f"{policy_part(policy)}-{_KIND[reason]}-{id_}"


def policy_part(policy: str) -> str:
    """The policy's name if it is a short DNS-1035 label, else a cut of it plus a hash."""
    if len(policy) <= POLICY_PART_LENGTH and re.fullmatch(NAME_PATTERN, policy):
        return policy
    clean = re.sub(r"[^a-z0-9-]+", "-", policy.lower()).strip("-")
    if not clean[:1].isalpha():
        clean = "rp-" + clean  # a DNS-1035 label starts with a letter
    head = clean[: POLICY_PART_LENGTH - 1 - _HASH_LENGTH].rstrip("-")
    return f"{head}-{_sha(policy)[:_HASH_LENGTH]}"


def time_id(t: datetime) -> str:
    """Whole seconds since the epoch as 7 base-36 digits (``2026-11-22T04:00:00Z`` ->
    ``0tovxs0``): one per second, sorting like the times."""
    n = int(t.timestamp())
    if n < 0:
        raise ValueError(f"{t} is before the epoch")
    digits = ""
    while n:
        n, d = divmod(n, 36)
        digits = _BASE36[d] + digits
    return digits.rjust(_TIME_DIGITS, "0")


def hash_id(*parts: str) -> str:
    """8 hex digits of a hash of ``parts`` (kept apart, so ``("a", "bc") != ("ab", "c")``)."""
    return _sha("\0".join(parts))[:_ID_LENGTH]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
