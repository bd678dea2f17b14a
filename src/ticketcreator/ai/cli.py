"""``ticketcreator ai ...`` commands (mounted by the main CLI as the ``ai`` sub-app).

The evaluation stack (scikit-learn, the encoder) is imported when a command runs, so the
rest of the CLI starts without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ticketcreator.ai.modes import Mode
from ticketcreator.core.modelstore import ModelMissingError, ModelStore

app = typer.Typer(help="Local AI triage tools.", no_args_is_help=True)

_DEFAULT_MODELS_DIR = Path("var/models")


@app.callback()
def _ai() -> None:
    """Local AI triage tools."""


@app.command("eval")
def eval_command(
    train: Annotated[Path, typer.Option("--train", exists=True, dir_okay=False)],
    test: Annotated[Path, typer.Option("--test", exists=True, dir_okay=False)],
    mode: Annotated[Mode, typer.Option("--mode")] = Mode.LEARNED,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Score the TF-IDF + LR baseline instead.")
    ] = False,
    models_dir: Annotated[Path, typer.Option("--models-dir")] = _DEFAULT_MODELS_DIR,
) -> None:
    """Train the local provider on TRAIN per source family and score it on TEST."""
    from ticketcreator.ai.evaluation import (
        EvaluationInputError,
        evaluate,
        evaluate_baseline,
        group_by_family,
        read_rows,
    )
    from ticketcreator.ai.local.triage import triage_encoder

    try:
        train_rows, test_rows = read_rows(train), read_rows(test)
    except EvaluationInputError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(code=2) from error
    if baseline:
        report = evaluate_baseline(train_rows, test_rows)
    else:
        try:
            encoder = triage_encoder(ModelStore(models_dir).path("minilm"))
        except ModelMissingError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(code=2) from error
        report = evaluate(train_rows, test_rows, encoder, mode=mode)
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


if __name__ == "__main__":
    app()
