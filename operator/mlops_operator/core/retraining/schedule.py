"""When a ``schedule`` trigger is due: a standard 5-field cron in an IANA time zone.

The cron is read by :func:`~mlops_operator.api.common.parse_cron`, the very function that
validates it at parse time, so what the API accepts is exactly what runs. Its fields mean
what they mean to Kubernetes' CronJob (and Vixie cron): day of month and day of week are
both required to match when either is a ``*`` field, and either may match when both are
restricted (``0 3 1 * MON``: the 1st and every Monday); ``7`` is Sunday like ``0``.

Times are wall-clock times in the zone, so ``0 3 * * *`` in ``Europe/Berlin`` is 03:00 in
Berlin in winter and in summer. Across a daylight-saving change every wall-clock time
fires once, where the standard library places it (PEP 495, ``fold=0``):

- a time the clocks skip (02:30 on the night they spring forward) fires one gap later,
  at 03:30 summer time: the run is late by an hour that day, but not lost;
- a time the clocks repeat (02:30 on the night they fall back) fires at its first
  occurrence only, not twice (so an hourly cron skips the repeated hour).

Missed schedules, while the operator was down or while a run was held back, start at most
one run: the latest. It still starts when it is late by at most half the time to the next
one (a daily 03:00 run starts until 15:00, an hourly one until half past); beyond that the
next scheduled time is nearer, and waiting for it keeps runs at the times users chose.
This is CronJob's ``startingDeadlineSeconds``, sized for each schedule instead of by hand.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mlops_operator.api.common import parse_cron
from mlops_operator.api.parse import InvalidSpec

__all__ = ["ZONE_FIELD", "check_zone", "expires", "last_due", "next_due", "zone"]

ZONE_FIELD = "spec.triggers.schedule.timeZone"
#: The largest change of a zone's UTC offset that wall-clock order may disagree with
#: instant order by; every zone in use today changes by at most two hours.
SLACK = timedelta(hours=3)
#: How far to look for a matching day: ``29 2`` matches only in leap years, which can be
#: eight years apart (2096 to 2104); a cron that matches no day (``30 2``) never fires.
_SEARCH_DAYS = 8 * 366 + 1
_MINUTE = timedelta(minutes=1)


def check_zone(name: str) -> str | None:
    """None if ``name`` is a time zone this operator knows, else why not (naming the field)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or UTC"
    return None


def zone(name: str) -> ZoneInfo:
    """The zone ``name``; raises :class:`InvalidSpec` naming ``spec.triggers.schedule.timeZone``."""
    problem = check_zone(name)
    if problem is not None:
        raise InvalidSpec([(ZONE_FIELD, problem)])
    return ZoneInfo(name)


def last_due(cron: str, time_zone: str, since: datetime | None, now: datetime) -> datetime | None:
    """The scheduled time that should start a run now, if any.

    That is the latest scheduled time ``t`` with ``since < t <= now``, provided it is late
    by at most half the time to the one after it (see the module's docstring). ``since``
    is the last scheduled time already acted on, or the policy's creation: a schedule
    fires only for times after it.
    """
    tz = zone(time_zone)
    fields = _compile(cron)
    latest = _latest(fields, tz, now)
    if latest is None or (since is not None and latest <= since):
        return None
    deadline = _deadline(fields, tz, latest)
    if deadline is not None and now > deadline:
        return None
    return latest


def next_due(cron: str, time_zone: str, after: datetime) -> datetime | None:
    """The first scheduled time strictly after ``after``; None if the cron never fires."""
    return _earliest_after(_compile(cron), zone(time_zone), after)


def expires(cron: str, time_zone: str, scheduled: datetime) -> datetime | None:
    """The last moment a missed ``scheduled`` time may still start a run; None if it never
    expires (the cron fires no more after it)."""
    return _deadline(_compile(cron), zone(time_zone), scheduled)


# --- the cron, in wall-clock time ---------------------------------------------------------


@dataclass(frozen=True)
class _Fields:
    minutes: tuple[int, ...]  # ascending
    hours: tuple[int, ...]  # ascending
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    either_day: bool  # both day fields restricted: either may match

    def day(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        dom = d.day in self.days
        dow = (d.weekday() + 1) % 7 in self.weekdays
        return dom or dow if self.either_day else dom and dow


@functools.lru_cache(maxsize=1024)
def _compile(cron: str) -> _Fields:
    minutes, hours, days, months, weekdays = parse_cron(cron)
    texts = cron.split()
    starred = [any(a.partition("/")[0] == "*" for a in t.split(",")) for t in texts]
    return _Fields(
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(d % 7 for d in weekdays),
        either_day=not starred[2] and not starred[4],
    )


def _prev_wall(f: _Fields, w: datetime) -> datetime | None:
    """The latest matching wall-clock minute at or before ``w`` (naive)."""
    day, limit = w.date(), (w.hour, w.minute)
    for _ in range(_SEARCH_DAYS):
        if f.day(day):
            for h in reversed(f.hours):
                if h > limit[0]:
                    continue
                for m in reversed(f.minutes):
                    if (h, m) <= limit:
                        return datetime.combine(day, time(h, m))
        day, limit = day - timedelta(days=1), (23, 59)
    return None


def _next_wall(f: _Fields, w: datetime) -> datetime | None:
    """The earliest matching wall-clock minute at or after ``w`` (naive, whole minutes)."""
    day, limit = w.date(), (w.hour, w.minute)
    for _ in range(_SEARCH_DAYS):
        if f.day(day):
            for h in f.hours:
                if h < limit[0]:
                    continue
                for m in f.minutes:
                    if (h, m) >= limit:
                        return datetime.combine(day, time(h, m))
        day, limit = day + timedelta(days=1), (0, 0)
    return None


# --- wall-clock time and instants ---------------------------------------------------------


def _wall(t: datetime, tz: ZoneInfo) -> datetime:
    return t.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0, fold=0)


def _instant(w: datetime, tz: ZoneInfo) -> datetime:
    """The instant of a wall-clock time; ``fold=0`` places skipped and repeated times."""
    return w.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _latest(f: _Fields, tz: ZoneInfo, now: datetime) -> datetime | None:
    """The latest scheduled instant at or before ``now``.

    Wall-clock order and instant order agree except within :data:`SLACK` of an offset
    change, so the search starts that much after ``now`` and stops that much before the
    best instant found.
    """
    best: datetime | None = None
    w: datetime | None = _wall(now, tz) + SLACK
    while w is not None:
        w = _prev_wall(f, w)
        if w is None:
            break
        t = _instant(w, tz)
        if t <= now and (best is None or t > best):
            best = t
        if best is not None and t < best - SLACK:
            break
        w -= _MINUTE
    return best


def _earliest_after(f: _Fields, tz: ZoneInfo, after: datetime) -> datetime | None:
    best: datetime | None = None
    w: datetime | None = _wall(after, tz) - SLACK
    while w is not None:
        w = _next_wall(f, w)
        if w is None:
            break
        t = _instant(w, tz)
        if t > after and (best is None or t < best):
            best = t
        if best is not None and t > best + SLACK:
            break
        w += _MINUTE
    return best


def _deadline(f: _Fields, tz: ZoneInfo, scheduled: datetime) -> datetime | None:
    following = _earliest_after(f, tz, scheduled)
    if following is None:
        return None
    return scheduled + (following - scheduled) / 2
