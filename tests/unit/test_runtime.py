"""The two memories that bridge the caches' lag behind our own writes, and the keys."""

from __future__ import annotations

from pydantic import BaseModel

from mlops_operator.controllers.runtime import EXPECTATION_TIMEOUT, Expectations, Key, OwnWrites

KEY = Key("TrainingJob", "ml", "llm")
SAME_NAME = Key("ModelDeployment", "ml", "llm")
OTHER = Key("TrainingJob", "ml", "bert")


class Status(BaseModel):
    phase: str
    attempts: int = 1


RUNNING = Status(phase="Running")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_keys_carry_the_kind_so_namesakes_of_two_kinds_differ() -> None:
    assert KEY != SAME_NAME
    assert len({KEY, SAME_NAME}) == 2
    assert str(KEY) == "TrainingJob/ml/llm"


# --- own status writes ----------------------------------------------------------------------


def test_no_status_written_means_nothing_remembered() -> None:
    assert OwnWrites(Clock()).status(KEY, "100") is None


def test_written_status_is_served_while_the_cache_is_stale() -> None:
    writes = OwnWrites(Clock())
    writes.wrote(KEY, "100", RUNNING, "101")
    written = writes.status(KEY, "100")  # the cache still shows the version we wrote over
    assert written is not None
    assert written.status == RUNNING
    assert written.latest == "101"
    assert writes.status(KEY, "100") == written  # as often as it is asked
    assert writes.status(SAME_NAME, "100") is None  # kinds never share a memory
    assert writes.status(OTHER, "100") is None


def test_written_status_is_dropped_once_the_cache_moved_past_our_write() -> None:
    writes = OwnWrites(Clock())
    writes.wrote(KEY, "100", RUNNING, "101")
    assert writes.status(KEY, "102") is None  # someone wrote after us
    assert writes.status(KEY, "100") is None  # dropped for good


def test_the_cache_showing_our_own_write_keeps_the_echo_recognisable() -> None:
    writes = OwnWrites(Clock())
    writes.wrote(KEY, "100", RUNNING, "101")
    assert writes.status(KEY, "101") is None  # the cache caught up: decide from it
    assert writes.is_ours(KEY, "101")


def test_a_newer_write_replaces_the_older_one() -> None:
    writes = OwnWrites(Clock())
    writes.wrote(KEY, "100", RUNNING, "101")
    done = Status(phase="Succeeded")
    writes.wrote(KEY, "100", done, "102")
    written = writes.status(KEY, "100")
    assert written is not None
    assert written.status == done


def test_the_echo_of_our_own_write_is_recognised() -> None:
    writes = OwnWrites(Clock())
    assert not writes.is_ours(KEY, "101")
    writes.wrote(KEY, "100", RUNNING, "101")
    assert writes.is_ours(KEY, "101")
    assert not writes.is_ours(KEY, "102")  # someone else's change after ours
    assert not writes.is_ours(KEY, None)
    assert not writes.is_ours(SAME_NAME, "101")
    writes.forget(KEY)
    assert not writes.is_ours(KEY, "101")


def test_held_counts_from_the_first_time_a_change_is_held_back() -> None:
    clock = Clock()
    writes = OwnWrites(clock)
    assert writes.held(KEY) == 0.0
    clock.advance(2.0)
    assert writes.held(KEY) == 2.0
    assert writes.held(OTHER) == 0.0


def test_a_status_write_ends_the_hold() -> None:
    clock = Clock()
    writes = OwnWrites(clock)
    writes.held(KEY)
    clock.advance(5.0)
    writes.wrote(KEY, "1", RUNNING, "2")
    assert writes.held(KEY) == 0.0


def test_clear_forgets_every_key() -> None:
    writes = OwnWrites(Clock())
    writes.wrote(KEY, "100", RUNNING, "101")
    writes.wrote(OTHER, "100", RUNNING, "101")
    writes.clear()
    assert writes.status(KEY, "100") is None
    assert not writes.is_ours(OTHER, "101")


# --- expectations ---------------------------------------------------------------------------


def test_nothing_created_means_nothing_awaited() -> None:
    assert not Expectations(Clock()).awaiting(KEY, set())


def test_a_created_child_is_awaited_until_the_cache_shows_it() -> None:
    expect = Expectations(Clock())
    expect.created(KEY, ("Job", "llm-a1"))
    assert expect.awaiting(KEY, set())
    assert expect.awaiting(KEY, {("Service", "llm")})  # another child is not the one we wait for
    assert not expect.awaiting(SAME_NAME, set())  # namesake of another kind: not awaited
    assert not expect.awaiting(KEY, {("Job", "llm-a1")})
    assert not expect.awaiting(KEY, set())  # seen once is enough


def test_every_created_child_must_show_up() -> None:
    expect = Expectations(Clock())
    expect.created(KEY, ("Service", "llm"))
    expect.created(KEY, ("Job", "llm-a1"))
    assert expect.awaiting(KEY, {("Service", "llm")})
    assert not expect.awaiting(KEY, {("Service", "llm"), ("Job", "llm-a1")})


def test_a_created_child_is_awaited_at_most_the_timeout() -> None:
    clock = Clock()
    expect = Expectations(clock)
    expect.created(KEY, ("Job", "llm-a1"))
    clock.advance(EXPECTATION_TIMEOUT - 0.1)
    assert expect.awaiting(KEY, set())
    clock.advance(0.2)
    assert not expect.awaiting(KEY, set())


def test_forget_and_clear() -> None:
    expect = Expectations(Clock())
    expect.created(KEY, ("Job", "a"))
    expect.created(OTHER, ("Job", "b"))
    expect.forget(KEY)
    assert not expect.awaiting(KEY, set())
    assert expect.awaiting(OTHER, set())
    expect.clear()
    assert not expect.awaiting(OTHER, set())


def test_two_writes_before_the_first_echo_keep_both_echoes_ours() -> None:
    writes = OwnWrites(Clock())
    writes.wrote(KEY, "10", Status(phase="Starting"), "11")  # the cache shows 10
    writes.wrote(KEY, "10", RUNNING, "12")  # still 10 in the cache
    assert writes.is_ours(KEY, "11")
    written = writes.status(KEY, "11")  # the cache shows our first write, not the second
    assert written is not None
    assert written.status == RUNNING
    assert written.latest == "12"
    assert writes.is_ours(KEY, "12")
    assert writes.status(KEY, "12") is None  # caught up


def test_a_write_decided_from_our_own_earlier_write_extends_it() -> None:
    writes = OwnWrites(Clock())
    writes.wrote(KEY, "10", Status(phase="Starting"), "11")
    writes.wrote(KEY, "11", RUNNING, "12")  # decided once the cache showed 11
    assert writes.is_ours(KEY, "11")
    assert writes.is_ours(KEY, "12")


def test_expectations_tell_namesakes_of_two_kinds_apart() -> None:
    expect = Expectations(Clock())
    expect.created(KEY, ("Service", "md"))
    expect.created(KEY, ("HorizontalPodAutoscaler", "md"))
    assert expect.awaiting(KEY, {("HorizontalPodAutoscaler", "md")})  # the Service is missing
    assert not expect.awaiting(KEY, {("HorizontalPodAutoscaler", "md"), ("Service", "md")})


def test_the_memory_of_a_write_ends_with_its_echo() -> None:
    writes = OwnWrites(Clock())
    writes.wrote(KEY, "100", RUNNING, "101")
    writes.wrote(KEY, "101", RUNNING, "102")  # again, before the first echo
    assert writes.is_ours(KEY, "101")
    assert writes.status(KEY, "101") is not None  # the cache still lags the second write
    assert writes.is_ours(KEY, "102")
    assert writes.status(KEY, "101") is None  # nothing kept: the cache is the truth now
    assert not writes.is_ours(KEY, "102")
    assert writes._written == {}


def test_once_the_cache_shows_the_write_its_status_is_dropped_but_the_echo_still_known() -> None:
    writes = OwnWrites(Clock())
    writes.wrote(KEY, "100", RUNNING, "101")
    assert writes.status(KEY, "101") is None  # the reconcile read the cache first
    assert writes._written[KEY].status is None
    assert writes.status(KEY, "100") is None  # a status once dropped is never used again
    assert writes.is_ours(KEY, "101")
    assert KEY not in writes._written
