"""Schedules: cron fields as CronJob reads them, IANA zones, DST, missed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlops_operator.api.parse import InvalidSpec
from mlops_operator.core.retraining.schedule import (
    check_zone,
    expires,
    last_due,
    next_due,
    zone,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def sequence(cron: str, tz: str, start: datetime, count: int) -> list[datetime]:
    out: list[datetime] = []
    t = start
    for _ in range(count):
        nxt = next_due(cron, tz, t)
        assert nxt is not None
        out.append(nxt)
        t = nxt
    return out


def test_known_and_unknown_zones() -> None:
    assert check_zone("UTC") is None
    assert check_zone("Europe/Berlin") is None
    message = check_zone("Mars/Olympus_Mons")
    assert message is not None
    assert "'Mars/Olympus_Mons'" in message
    with pytest.raises(InvalidSpec) as exc:
        zone("Europe/Atlantis")
    assert str(exc.value).startswith("spec.triggers.schedule.timeZone: unknown time zone")
    with pytest.raises(InvalidSpec):
        next_due("0 3 * * *", "Nowhere/Special", utc(2026, 1, 1))


@pytest.mark.parametrize(
    ("cron", "tz", "after", "expected"),
    [
        ("0 3 * * *", "UTC", utc(2026, 1, 1, 3, 0), utc(2026, 1, 2, 3, 0)),  # strictly after
        ("0 3 * * *", "UTC", utc(2026, 1, 1, 2, 59, 59), utc(2026, 1, 1, 3, 0)),
        # wall-clock time in the zone, in winter and in summer
        ("0 3 * * *", "Europe/Berlin", utc(2026, 1, 15), utc(2026, 1, 15, 2, 0)),
        ("0 3 * * *", "Europe/Berlin", utc(2026, 7, 15), utc(2026, 7, 15, 1, 0)),
        ("0 3 * * *", "America/New_York", utc(2026, 1, 15), utc(2026, 1, 15, 8, 0)),
        ("0 3 * * *", "America/New_York", utc(2026, 7, 15), utc(2026, 7, 15, 7, 0)),
        ("0 9 * * *", "Asia/Kolkata", utc(2026, 7, 15), utc(2026, 7, 15, 3, 30)),
        # Monday 03:00 CEST is 01:00 UTC
        ("0 3 * * 1", "Europe/Berlin", utc(2026, 7, 15), utc(2026, 7, 20, 1, 0)),
        ("0 0 * * 7", "UTC", utc(2026, 7, 15), utc(2026, 7, 19)),  # 7 is Sunday
        ("0 0 * * SUN", "UTC", utc(2026, 7, 15), utc(2026, 7, 19)),
        ("*/15 * * * *", "UTC", utc(2026, 7, 15, 10, 7, 30), utc(2026, 7, 15, 10, 15)),
        ("0 0 29 2 *", "UTC", utc(2026, 3, 1), utc(2028, 2, 29)),
        ("0 0 29 2 *", "UTC", utc(2096, 3, 1), utc(2104, 2, 29)),  # 2100 is no leap year
    ],
)
def test_next_due(cron: str, tz: str, after: datetime, expected: datetime) -> None:
    assert next_due(cron, tz, after) == expected


def test_day_of_month_and_weekday_as_cronjob_reads_them() -> None:
    # Both restricted: either matches (the 1st, and every Monday).
    either = sequence("0 0 1 * MON", "UTC", utc(2026, 6, 25), 4)
    assert either == [utc(2026, 6, 29), utc(2026, 7, 1), utc(2026, 7, 6), utc(2026, 7, 13)]
    # A '*' field (here */2) makes both required: odd days that are Mondays.
    both = sequence("0 0 */2 * MON", "UTC", utc(2026, 6, 25), 3)
    assert both == [utc(2026, 6, 29), utc(2026, 7, 13), utc(2026, 7, 27)]


def test_a_cron_that_matches_no_day_never_fires() -> None:
    assert next_due("0 0 30 2 *", "UTC", utc(2026, 1, 1)) is None
    assert last_due("0 0 30 2 *", "UTC", None, utc(2026, 1, 1)) is None


def test_spring_forward_fires_a_skipped_time_one_gap_later() -> None:
    # Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that night.
    daily = sequence("30 2 * * *", "Europe/Berlin", utc(2026, 3, 27, 12), 3)
    assert daily == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 30),  # would-be 02:30 CET, i.e. 03:30 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]
    # Every 30 minutes: the skipped times fall onto real ones, which fire once.
    halves = sequence("*/30 * * * *", "Europe/Berlin", utc(2026, 3, 29, 0, 0), 4)
    assert halves == [
        utc(2026, 3, 29, 0, 30),  # 01:30 CET
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST (and the skipped 02:00)
        utc(2026, 3, 29, 1, 30),  # 03:30 CEST (and the skipped 02:30)
        utc(2026, 3, 29, 2, 0),  # 04:00 CEST
    ]


def test_fall_back_fires_a_repeated_time_once() -> None:
    # Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice that night.
    daily = sequence("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12), 2)
    assert daily == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    hourly = sequence("0 * * * *", "Europe/Berlin", utc(2026, 10, 24, 23, 30), 4)
    assert hourly == [
        utc(2026, 10, 25, 0, 0),  # 02:00 CEST
        # 01:00 UTC is 02:00 again (CET): that wall-clock time has fired already
        utc(2026, 10, 25, 2, 0),  # 03:00 CET
        utc(2026, 10, 25, 3, 0),  # 04:00 CET
        utc(2026, 10, 25, 4, 0),
    ]
    # During the repeated hour, the due time is the first 02:30, not a second one.
    assert last_due("30 2 * * *", "Europe/Berlin", None, utc(2026, 10, 25, 1, 45)) == utc(
        2026, 10, 25, 0, 30
    )


def test_half_hour_dst_zone() -> None:
    # Lord Howe Island moves its clocks by 30 minutes (to +11 on 2026-10-04 at 02:00).
    assert sequence("0 3 * * *", "Australia/Lord_Howe", utc(2026, 10, 2), 3) == [
        utc(2026, 10, 2, 16, 30),  # 03:00 on the 3rd, +10:30
        utc(2026, 10, 3, 16, 0),  # 03:00 on the 4th, +11
        utc(2026, 10, 4, 16, 0),
    ]


def test_last_due_is_the_latest_time_after_since() -> None:
    cron = "0 * * * *"
    now = utc(2026, 7, 15, 10, 20)
    assert last_due(cron, "UTC", None, now) == utc(2026, 7, 15, 10, 0)
    assert last_due(cron, "UTC", utc(2026, 7, 15, 9, 59), now) == utc(2026, 7, 15, 10, 0)
    assert last_due(cron, "UTC", utc(2026, 7, 15, 10, 0), now) is None  # already acted on
    assert last_due(cron, "UTC", None, utc(2026, 7, 15, 10, 0)) == utc(2026, 7, 15, 10, 0)


def test_missed_schedules_start_one_run_while_it_is_nearer_than_the_next() -> None:
    # Down from 01:00 to 10:00 with a run every hour: only 10:00 is due, once.
    hourly = "0 * * * *"
    since = utc(2026, 7, 15, 0, 0)
    assert last_due(hourly, "UTC", since, utc(2026, 7, 15, 10, 0, 5)) == utc(2026, 7, 15, 10)
    # Half an hour late still starts; later, the next one is nearer: wait for it.
    assert last_due(hourly, "UTC", since, utc(2026, 7, 15, 10, 30)) == utc(2026, 7, 15, 10)
    assert last_due(hourly, "UTC", since, utc(2026, 7, 15, 10, 30, 1)) is None
    # A daily 03:00 run missed while down until 14:00 starts then; at 15:01 it is dropped.
    daily = "0 3 * * *"
    day = utc(2026, 7, 14, 3)
    assert last_due(daily, "UTC", day, utc(2026, 7, 15, 14)) == utc(2026, 7, 15, 3)
    assert last_due(daily, "UTC", day, utc(2026, 7, 15, 15, 1)) is None
    assert expires(daily, "UTC", utc(2026, 7, 15, 3)) == utc(2026, 7, 15, 15)
    # Irregular gaps: the deadline is half the gap to the following time.
    assert expires("0 3,4 * * *", "UTC", utc(2026, 7, 15, 3)) == utc(2026, 7, 15, 3, 30)
    assert expires("0 3,4 * * *", "UTC", utc(2026, 7, 15, 4)) == utc(2026, 7, 15, 15, 30)


def test_every_minute_is_fast_enough() -> None:
    # Each call scans at most a few hours of minutes around the time asked about.
    start = datetime.now(UTC)
    for i in range(20):
        last_due("* * * * *", "Europe/Berlin", None, utc(2026, 3, 29, 1) + timedelta(minutes=i))
    assert (datetime.now(UTC) - start).total_seconds() < 2
