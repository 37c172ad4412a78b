"""Overlay: our own writes that the watch-fed caches have not shown us yet."""

from __future__ import annotations

from typing import Any

from mlops_operator.controllers.runtime import EXPECTATION_TIMEOUT, Overlay

KEY = ("ml", "llm")
OTHER = ("ml", "bert")
STATUS: dict[str, Any] = {"phase": "Running", "attempts": 1}


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- status -------------------------------------------------------------------------------


def test_no_status_written_means_no_overlay() -> None:
    overlay = Overlay(Clock())
    assert overlay.status(KEY, "100") is None


def test_written_status_is_served_while_the_cache_is_stale() -> None:
    overlay = Overlay(Clock())
    overlay.wrote_status(KEY, "100", STATUS)
    # The cache still shows resourceVersion 100, the one we wrote over.
    assert overlay.status(KEY, "100") == STATUS
    assert overlay.status(KEY, "100") == STATUS  # as often as it is asked
    assert overlay.status(OTHER, "100") is None  # keys are independent


def test_written_status_is_dropped_once_the_cache_caught_up() -> None:
    overlay = Overlay(Clock())
    overlay.wrote_status(KEY, "100", STATUS)
    assert overlay.status(KEY, "101") is None  # the cache shows our write (or a later one)
    # Dropped for good: even an old version of the object no longer gets it.
    assert overlay.status(KEY, "100") is None


def test_a_newer_write_replaces_the_older_one() -> None:
    overlay = Overlay(Clock())
    overlay.wrote_status(KEY, "100", STATUS)
    newer = {"phase": "Succeeded", "attempts": 1}
    overlay.wrote_status(KEY, "101", newer)
    assert overlay.status(KEY, "101") == newer


def test_write_over_an_object_without_resource_version() -> None:
    overlay = Overlay(Clock())
    overlay.wrote_status(KEY, None, STATUS)
    assert overlay.status(KEY, None) == STATUS
    assert overlay.status(KEY, "7") is None


def test_held_counts_from_the_first_time_a_change_is_held_back() -> None:
    clock = Clock()
    overlay = Overlay(clock)
    assert overlay.held(KEY) == 0.0
    clock.advance(2.5)
    assert overlay.held(KEY) == 2.5
    assert overlay.held(OTHER) == 0.0


def test_a_status_write_ends_the_hold() -> None:
    clock = Clock()
    overlay = Overlay(clock)
    overlay.held(KEY)
    clock.advance(2.0)
    overlay.wrote_status(KEY, "100", STATUS)
    clock.advance(1.0)
    assert overlay.held(KEY) == 0.0  # a new hold starts now


# --- created children ----------------------------------------------------------------------


def test_nothing_created_means_nothing_awaited() -> None:
    overlay = Overlay(Clock())
    assert not overlay.awaiting(KEY, set())


def test_a_created_child_is_awaited_until_the_cache_shows_it() -> None:
    overlay = Overlay(Clock())
    overlay.created(KEY, "llm-a1")
    assert overlay.awaiting(KEY, set())
    assert overlay.awaiting(KEY, {"llm"})  # another child does not count
    assert not overlay.awaiting(OTHER, set())
    assert not overlay.awaiting(KEY, {"llm", "llm-a1"})
    # Seen once is enough: no longer awaited even if the cache loses it again later.
    assert not overlay.awaiting(KEY, set())


def test_every_created_child_must_show_up() -> None:
    overlay = Overlay(Clock())
    overlay.created(KEY, "llm")
    overlay.created(KEY, "llm-a1")
    assert overlay.awaiting(KEY, {"llm"})
    assert not overlay.awaiting(KEY, {"llm-a1"})  # "llm" was already seen


def test_a_created_child_is_awaited_at_most_the_timeout() -> None:
    clock = Clock()
    overlay = Overlay(clock)
    overlay.created(KEY, "llm-a1")
    clock.advance(EXPECTATION_TIMEOUT)
    assert overlay.awaiting(KEY, set())  # exactly at the timeout: still waiting
    clock.advance(0.001)
    assert not overlay.awaiting(KEY, set())  # past it: the watch must have missed it
    assert not overlay.awaiting(KEY, set())


def test_the_timeout_counts_per_child_from_its_own_creation() -> None:
    clock = Clock()
    overlay = Overlay(clock)
    overlay.created(KEY, "llm")
    clock.advance(EXPECTATION_TIMEOUT - 1)
    overlay.created(KEY, "llm-a1")
    clock.advance(2)
    # "llm" has timed out, "llm-a1" has not.
    assert overlay.awaiting(KEY, set())
    assert not overlay.awaiting(KEY, {"llm-a1"})


def test_creating_again_restarts_the_wait() -> None:
    clock = Clock()
    overlay = Overlay(clock)
    overlay.created(KEY, "llm-a2")
    clock.advance(EXPECTATION_TIMEOUT - 1)
    overlay.created(KEY, "llm-a2")
    clock.advance(2)
    assert overlay.awaiting(KEY, set())


# --- forget -------------------------------------------------------------------------------


def test_forget_drops_everything_about_the_key_only() -> None:
    clock = Clock()
    overlay = Overlay(clock)
    for key in (KEY, OTHER):
        overlay.wrote_status(key, "100", STATUS)
        overlay.created(key, "child")
        overlay.held(key)
    clock.advance(1.0)
    overlay.forget(KEY)
    assert overlay.status(KEY, "100") is None
    assert overlay.held(KEY) == 0.0
    assert not overlay.awaiting(KEY, set())
    assert overlay.status(OTHER, "100") == STATUS
    assert overlay.held(OTHER) == 1.0
    assert overlay.awaiting(OTHER, set())


def test_forget_of_an_unknown_key_is_harmless() -> None:
    overlay = Overlay(Clock())
    overlay.forget(KEY)
    assert overlay.status(KEY, None) is None
    assert not overlay.awaiting(KEY, set())


def test_default_clock_is_monotonic_time() -> None:
    overlay = Overlay()
    overlay.held(KEY)
    assert 0.0 <= overlay.held(KEY) < 5.0


def test_the_echo_of_our_own_write_is_recognised() -> None:
    overlay = Overlay(Clock())
    assert not overlay.is_ours(KEY, "101")
    overlay.wrote_status(KEY, "100", STATUS, "101")
    assert overlay.is_ours(KEY, "101")
    assert not overlay.is_ours(KEY, "102")  # someone else's change after ours
    assert not overlay.is_ours(KEY, None)
    assert not overlay.is_ours(OTHER, "101")
    overlay.forget(KEY)
    assert not overlay.is_ours(KEY, "101")
