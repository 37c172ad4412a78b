"""py-spy's collapsed stacks, summarised: self and inclusive shares of the samples."""

from __future__ import annotations

from pathlib import Path

from bench.profile import Profiling, function, markdown, parse_raw, summarize_raw

SP = "/work/main/.venv/lib/python3.11/site-packages"
RAW = "\n".join(
    [
        f"<module> (x.py:1);run (asyncio/runners.py:190);spin ({SP}/kopf/_core/queueing.py:40);"
        f"parse ({SP}/kopf/_cogs/structs.py:12) 60",
        f"<module> (x.py:1);run (asyncio/runners.py:190);spin ({SP}/kopf/_core/queueing.py:41);"
        f"dumps (json/encoder.py:200) 30",
        "<module> (x.py:1);run (asyncio/runners.py:190);reconcile "
        "(/work/main/operator/mlops_operator/core/training/reconcile.py:99) 10",
        "",
        "garbage line",
    ]
)


def test_a_frame_becomes_its_function_with_the_install_prefix_cut() -> None:
    assert function(f"spin ({SP}/kopf/_core/queueing.py:40)") == "spin (kopf/_core/queueing.py)"
    assert (
        function("reconcile (/work/main/operator/mlops_operator/core/training/reconcile.py:99)")
        == "reconcile (mlops_operator/core/training/reconcile.py)"
    )
    assert function("<module> (x.py:1)") == "<module> (x.py)"
    assert function("odd") == "odd"


def test_lines_are_parsed_and_garbage_skipped() -> None:
    parsed = list(parse_raw(RAW))
    assert [count for _, count in parsed] == [60, 30, 10]
    assert parsed[0][0][-1] == f"parse ({SP}/kopf/_cogs/structs.py:12)"


def test_self_and_inclusive_shares() -> None:
    summary = summarize_raw([RAW], top=3)
    assert summary["samples"] == 100
    assert summary["self"] == [
        {"function": "parse (kopf/_cogs/structs.py)", "samples": 60, "percent": 60.0},
        {"function": "dumps (json/encoder.py)", "samples": 30, "percent": 30.0},
        {
            "function": "reconcile (mlops_operator/core/training/reconcile.py)",
            "samples": 10,
            "percent": 10.0,
        },
    ]
    inclusive = {r["function"]: r["percent"] for r in summary["inclusive"]}
    # <module> and asyncio's runner are plumbing: on every stack, saying nothing. Two lines
    # of one function count once per stack, and both stacks count.
    assert inclusive == {
        "spin (kopf/_core/queueing.py)": 90.0,
        "parse (kopf/_cogs/structs.py)": 60.0,
        "dumps (json/encoder.py)": 30.0,
    }


def test_recordings_add_up_and_a_recursive_function_counts_once_per_stack() -> None:
    recursive = "a (m.py:1);b (m.py:2);a (m.py:1) 10"
    summary = summarize_raw([recursive, recursive])
    assert summary["samples"] == 20
    assert {r["function"]: r["samples"] for r in summary["inclusive"]} == {
        "a (m.py)": 20,
        "b (m.py)": 20,
    }


def test_nothing_recorded_gives_an_empty_summary_and_no_table() -> None:
    assert summarize_raw([""]) == {"samples": 0, "self": [], "inclusive": []}
    assert markdown(summarize_raw([""]), "x") == []


def test_markdown_lists_both_tables() -> None:
    text = "\n".join(markdown(summarize_raw([RAW], top=2), "the operator"))
    assert "100 samples of busy threads, about 2 s" in text
    assert "| `parse (kopf/_cogs/structs.py)` | 60.0 |" in text
    # top 2 of each: dumps is second by self time, third (out) inclusive
    assert text.count("| `dumps (json/encoder.py)` | 30.0 |") == 1
    assert "| `spin (kopf/_core/queueing.py)` | 90.0 |" in text
    assert "<module>" not in text


def test_profiles_are_named_per_repetition() -> None:
    wanted = Profiling(Path("/w/operator-profile.svg"), Path("/w/operator-profile.raw.txt"))
    assert wanted.on
    assert wanted.named("r2") == Profiling(
        Path("/w/operator-profile-r2.svg"), Path("/w/operator-profile-r2.raw.txt")
    )
    assert not Profiling().on
    assert Profiling().named("r1") == Profiling()
