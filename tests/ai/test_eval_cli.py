"""The evaluation command on a small sample of the labelled tickets (shape and sanity)."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ticketcreator.ai.cli import app
from ticketcreator.ai.evaluation import family_of, group_by_family, read_rows

TASKS = {"category", "priority", "type"}


@pytest.fixture(scope="module")
def sample(dev_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """300 training and 100 test rows, both families, taken at fixed strides (no overlap)."""
    rows = read_rows(dev_csv)
    train, test = rows[0::27][:300], rows[13::81][:100]
    folder = tmp_path_factory.mktemp("eval")
    paths = []
    for name, part in (("train", train), ("test", test)):
        path = folder / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(part)
        paths.append(path)
    return paths[0], paths[1]


def _run(sample: tuple[Path, Path], models_dir: Path, *extra: str) -> dict[str, object]:
    train, test = sample
    args = ["eval", "--train", str(train), "--test", str(test), "--json"]
    result = CliRunner().invoke(app, [*args, "--models-dir", str(models_dir), *extra])
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


def _check_shape(report: dict[str, object]) -> None:
    assert set(report) == {"endava", "tobi_bueck", "latency_ms_p50", "latency_ms_p99"}
    for family in ("endava", "tobi_bueck"):
        tasks = report[family]
        assert isinstance(tasks, dict)
        assert set(tasks) == TASKS
        for scores in tasks.values():
            assert set(scores) == {"accuracy", "macro_f1", "n"}
            assert 0.0 <= scores["macro_f1"] <= scores["accuracy"] + 1.0
            assert 0.0 <= scores["accuracy"] <= 1.0
            assert scores["n"] > 10
    p50, p99 = report["latency_ms_p50"], report["latency_ms_p99"]
    assert isinstance(p50, float)
    assert isinstance(p99, float)
    assert 0 < p50 <= p99


@pytest.fixture(scope="module")
def learned(
    sample: tuple[Path, Path], minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """The learned mode's report (it trains, the slow part, once for the module's tests), on
    the test sample with the first five Endava rows' priority left empty."""
    train, test = sample
    rows = read_rows(test)
    for row in [row for row in rows if row["source"] == "endava"][:5]:
        row["priority"] = ""
    partial = _write(tmp_path_factory.mktemp("partial") / "partial.csv", rows)
    return _run((train, partial), minilm_dir.parent, "--mode", "learned")


def test_learned_eval_json(learned: dict[str, object]) -> None:
    report = learned
    _check_shape(report)
    endava = report["endava"]
    assert isinstance(endava, dict)
    # Even 150 training rows beat chance by far on Endava's dominant classes.
    assert endava["type"]["accuracy"] > 0.8
    assert endava["category"]["accuracy"] > 0.5


def test_zero_shot_eval_json(sample: tuple[Path, Path], minilm_dir: Path) -> None:
    report = _run(sample, minilm_dir.parent, "--mode", "zero-shot")
    _check_shape(report)


def test_baseline_eval_json(sample: tuple[Path, Path], minilm_dir: Path) -> None:
    _check_shape(_run(sample, minilm_dir.parent, "--baseline"))


def test_missing_model_is_reported(sample: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = sample
    result = CliRunner().invoke(
        app, ["eval", "--train", str(train), "--test", str(test), "--models-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "not installed" in result.output


def test_families_are_never_pooled() -> None:
    assert family_of("tobi_bueck_v3") == family_of("tobi_bueck_v5") == "tobi_bueck"
    assert family_of("endava") == "endava"
    groups = group_by_family([{"source": "endava"}, {"source": "tobi_bueck_v4"}])
    assert set(groups) == {"endava", "tobi_bueck"}


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_file_without_the_needed_columns_is_refused(
    sample: tuple[Path, Path], minilm_dir: Path, tmp_path: Path
) -> None:
    train, _ = sample
    test = _write(tmp_path / "test.csv", [{"id": "1", "source": "endava", "subject": "vpn"}])
    args = ["eval", "--train", str(train), "--test", str(test), "--json"]
    result = CliRunner().invoke(app, [*args, "--models-dir", str(minilm_dir.parent)])
    assert result.exit_code == 2
    assert f"{test} lacks the columns body, category, priority, type" in result.output
    assert result.stdout == ""


def test_rows_without_a_label_are_not_scored_for_that_task(
    sample: tuple[Path, Path], learned: dict[str, object]
) -> None:
    endava = [row for row in read_rows(sample[1]) if row["source"] == "endava"]
    scores = learned["endava"]
    assert isinstance(scores, dict)
    assert scores["category"]["n"] == len(endava)
    assert scores["priority"]["n"] == len(endava) - 5


def test_a_family_without_training_rows_is_named_not_silently_dropped(
    sample: tuple[Path, Path], minilm_dir: Path, tmp_path: Path
) -> None:
    train, test = sample
    endava_only = _write(
        tmp_path / "train.csv", [row for row in read_rows(train) if row["source"] == "endava"]
    )
    args = ["eval", "--train", str(endava_only), "--test", str(test), "--json"]
    result = CliRunner().invoke(app, [*args, "--models-dir", str(minilm_dir.parent)])
    assert result.exit_code == 0, result.output
    assert "tobi_bueck: no training rows for this family, not scored" in result.stderr
    assert set(json.loads(result.stdout)) == {"endava", "latency_ms_p50", "latency_ms_p99"}
