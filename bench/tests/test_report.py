"""LATEST.md keeps one section per benchmark; rerunning one replaces only its own."""

from __future__ import annotations

from pathlib import Path

from bench.report import compose, demote, sections, update_latest

OLD = "# TrainingJob benchmark: latest run\n\nnumbers\n\n## Targets\n\n| a |\n"


def test_a_report_from_before_sections_becomes_the_training_section() -> None:
    assert sections(OLD) == {
        "training": "## TrainingJob benchmark: latest run\n\nnumbers\n\n### Targets\n\n| a |"
    }


def test_demote_moves_every_heading_one_level_down_and_nothing_else() -> None:
    assert demote("# A\ntext # not a heading\n## B") == "## A\ntext # not a heading\n### B"


def compose_placeholder(name: str) -> str:
    """What a section never run holds."""
    return sections(compose({}))[name]


def test_updating_one_section_keeps_the_others_word_for_word(tmp_path: Path) -> None:
    (tmp_path / "LATEST.md").write_text(OLD)
    update_latest("serving", "## Serving benchmark: latest run\n\nfirst", tmp_path)
    update_latest("retraining", "## Retraining benchmark\n\nr", tmp_path)
    update_latest("serving", "## Serving benchmark: latest run\n\nsecond", tmp_path)
    found = sections((tmp_path / "LATEST.md").read_text())
    assert found == {
        "training": sections(OLD)["training"],
        "cache": compose_placeholder("cache"),
        "serving": "## Serving benchmark: latest run\n\nsecond",
        "retraining": "## Retraining benchmark\n\nr",
    }


def test_a_training_report_with_its_own_title_is_demoted_into_its_section(
    tmp_path: Path,
) -> None:
    update_latest("training", OLD, tmp_path)
    text = (tmp_path / "LATEST.md").read_text()
    assert text.startswith("# Benchmarks: latest runs\n")
    assert sections(text)["training"].startswith("## TrainingJob benchmark")


def test_a_section_never_run_says_how_to_run_it() -> None:
    text = compose({})
    assert "`python -m bench cache`" in sections(text)["cache"]
    assert "`python -m bench serving`" in sections(text)["serving"]
    assert "`python -m bench retraining`" in sections(text)["retraining"]
