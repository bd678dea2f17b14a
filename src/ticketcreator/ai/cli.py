"""``ticketcreator ai ...`` commands (mounted by the main CLI as the ``ai`` sub-app).

The evaluation stack (scikit-learn, the encoder) is imported when a command runs, so the
rest of the CLI starts without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from ticketcreator.ai.modes import Mode
from ticketcreator.core.modelstore import ModelMissingError, ModelStore

if TYPE_CHECKING:
    from ticketcreator.ai.local.encoder import MiniLMEncoder

app = typer.Typer(help="Local AI triage tools.", no_args_is_help=True)

_DEFAULT_MODELS_DIR = Path("var/models")


@app.callback()
def _ai() -> None:
    """Local AI triage tools."""


@app.command("eval")
def eval_command(
    test: Annotated[Path, typer.Option("--test", exists=True, dir_okay=False)],
    train: Annotated[Path | None, typer.Option("--train", exists=True, dir_okay=False)] = None,
    mode: Annotated[Mode | None, typer.Option("--mode")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Score the TF-IDF + LR baseline instead.")
    ] = False,
    models_dir: Annotated[Path, typer.Option("--models-dir")] = _DEFAULT_MODELS_DIR,
) -> None:
    """Score local triage on TEST: trained on TRAIN per source family (`--mode learned`, the
    default), or zero-shot. A bug-report file (columns title, description, priority, type,
    category, optional category_description) is scored zero-shot, no TRAIN needed."""
    from ticketcreator.ai.evaluation import is_bug_report_file

    if is_bug_report_file(test):
        if baseline or mode is Mode.LEARNED:
            _refuse("bug-report files are scored zero-shot (--mode zero-shot, no --baseline)")
        _eval_bug_reports(test, models_dir, as_json)
        return
    if train is None:
        _refuse("--train is needed to score a ticket file (columns source, subject, body, ...)")
    _eval_tickets(train, test, mode or Mode.LEARNED, baseline, models_dir, as_json)


@app.command("train-zero-shot")
def train_zero_shot_command(
    data: Annotated[Path, typer.Option("--data", exists=True, file_okay=False)] = Path(
        "data/bug_reports"
    ),
    out_dir: Annotated[Path | None, typer.Option("--out-dir", file_okay=False)] = None,
    models_dir: Annotated[Path, typer.Option("--models-dir")] = _DEFAULT_MODELS_DIR,
) -> None:
    """Retrain the zero-shot urgency and type models from the bug-report sets in DATA and
    write their weights to OUT_DIR (default: the weights files the product ships)."""
    import numpy as np

    from ticketcreator.ai.evaluation import BUG_REPORT_COLUMNS, read_rows, row_text
    from ticketcreator.ai.local import kinds, urgency

    rows = [
        row
        for name in urgency.TRAINING_SETS
        for row in read_rows(data / f"{name}.csv", BUG_REPORT_COLUMNS)
    ]
    embeddings = _encoder(models_dir).encode([row_text(row) for row in rows])
    urgent = np.array([row["priority"] == "urgent" for row in rows])
    trained = {
        urgency.WEIGHTS_FILE: urgency.train_urgency(embeddings, urgent).to_json(),
        kinds.WEIGHTS_FILE: kinds.train_kinds(embeddings, [row["type"] for row in rows]).to_json(),
    }
    for shipped, weights in trained.items():
        target = out_dir / shipped.name if out_dir else shipped
        target.write_text(weights + "\n", encoding="utf-8")
        typer.echo(f"{target}: trained on {len(rows)} reports")
    typer.echo(f"{int(urgent.sum())} of them urgent")


def _refuse(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code=2)


def _encoder(models_dir: Path) -> MiniLMEncoder:
    from ticketcreator.ai.local.triage import triage_encoder

    try:
        return triage_encoder(ModelStore(models_dir).path("minilm"))
    except ModelMissingError as error:
        _refuse(str(error))


def _eval_tickets(
    train: Path, test: Path, mode: Mode, baseline: bool, models_dir: Path, as_json: bool
) -> None:
    from ticketcreator.ai.evaluation import (
        EvaluationInputError,
        evaluate,
        evaluate_baseline,
        group_by_family,
        read_rows,
    )

    try:
        train_rows, test_rows = read_rows(train), read_rows(test)
    except EvaluationInputError as error:
        _refuse(str(error))
    if baseline:
        report = evaluate_baseline(train_rows, test_rows)
    else:
        report = evaluate(train_rows, test_rows, _encoder(models_dir), mode=mode)
    for family in sorted(set(group_by_family(test_rows)) - set(report)):
        typer.echo(f"{family}: no training rows for this family, not scored", err=True)
    if as_json:
        typer.echo(json.dumps(report, sort_keys=True))
        return
    for family, tasks in report.items():
        if isinstance(tasks, dict):
            for task, scores in tasks.items():
                typer.echo(
                    f"{family:12} {task:9} accuracy {scores['accuracy']:.3f}  "
                    f"macro-F1 {scores['macro_f1']:.3f}  n={scores['n']}"
                )
    typer.echo(f"latency p50 {report['latency_ms_p50']} ms, p99 {report['latency_ms_p99']} ms")


def _eval_bug_reports(test: Path, models_dir: Path, as_json: bool) -> None:
    from ticketcreator.ai.evaluation import BUG_REPORT_COLUMNS, evaluate_bug_reports, read_rows

    rows = read_rows(test, BUG_REPORT_COLUMNS)
    report = evaluate_bug_reports(rows, _encoder(models_dir))
    if as_json:
        typer.echo(json.dumps(report, sort_keys=True))
        return
    typer.echo(f"{test}: {len(rows)} bug reports, zero-shot")
    for task in ("priority", "type", "category"):
        scores = report.get(task)
        if not scores:
            continue
        line = f"{task:9} accuracy {scores['accuracy']:.3f}"
        if task == "priority":
            line += (
                f"  within one level {scores['within_one']:.3f}"
                f"  urgent recall {scores['urgent_recall']:.3f} (of {scores['urgent_n']})"
            )
        typer.echo(f"{line}  n={scores['n']}")
    for task in ("priority", "type", "category"):
        if task in report:
            typer.echo(f"\n{task} confusion (rows: true label, columns: predicted)")
            typer.echo(_matrix(report[task]["confusion"]))
    typer.echo(f"\nlatency p50 {report['latency_ms_p50']} ms, p99 {report['latency_ms_p99']} ms")


def _matrix(confusion: dict[str, Any]) -> str:
    labels: list[str] = confusion["labels"]
    width = max(len(label) for label in labels)
    cell = max(5, *(min(len(label), 12) for label in labels))
    head = " " * width + " " + " ".join(label[:12].rjust(cell) for label in labels)
    lines = [head]
    for label, counts in zip(labels, confusion["matrix"], strict=True):
        lines.append(label.ljust(width) + " " + " ".join(str(n).rjust(cell) for n in counts))
    return "\n".join(lines)


if __name__ == "__main__":
    app()
