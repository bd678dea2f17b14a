"""Leave-one-set-out measurement of the zero-shot urgency and type models (docs/ai.md,
steps 8 and 14).

For each bug-report set, both models are trained on the other sets only, and the priority
and type of the set's reports are predicted by the impact rules alone and by the rules with
the models, through the same classifiers the service runs. Prints, per set and on average,
urgent recall, priority accuracy, accuracy within one level and type accuracy, before and
after.

    .venv/bin/python bench/ai_zero_shot.py [--data data/bug_reports]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
from pathlib import Path

import numpy as np

from ticketcreator.ai.evaluation import (
    BUG_REPORT_COLUMNS,
    priority_scores,
    read_rows,
    row_text,
    task_scores,
)
from ticketcreator.ai.local.impact import assess, priority_level, ticket_type
from ticketcreator.ai.local.impact_classifiers import ImpactPriorityClassifier, read_types
from ticketcreator.ai.local.kinds import train_kinds_leaving_out
from ticketcreator.ai.local.triage import triage_encoder
from ticketcreator.ai.local.urgency import TRAINING_SETS, train_leaving_out
from ticketcreator.core.modelstore import ModelStore

REPO = Path(__file__).resolve().parents[1]
# The sets the impact rules were changed on (docs/ai.md); the others are the closest to new
# reports.
TUNED_ON = ("dev", "dev2", "dev3", "holdout")
NOT_TUNED_ON = tuple(name for name in TRAINING_SETS if name not in TUNED_ON)


def scores(truth: list[str], predicted: list[str]) -> tuple[float, float, float]:
    """Accuracy, accuracy within one level, recall of urgent, as ``ai eval`` reports them
    (four decimals)."""
    levels = priority_scores(truth, predicted)
    accuracy = float(task_scores(truth, predicted)["accuracy"])
    return accuracy, levels["within_one"], levels["urgent_recall"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO / "data" / "bug_reports")
    parser.add_argument("--models-dir", type=Path, default=REPO / "var" / "models")
    args = parser.parse_args()
    encoder = triage_encoder(ModelStore(args.models_dir).path("minilm"))
    sets = {
        name: read_rows(args.data / f"{name}.csv", BUG_REPORT_COLUMNS) for name in TRAINING_SETS
    }
    texts = {name: [row_text(row) for row in rows] for name, rows in sets.items()}
    vectors = {name: encoder.encode(texts[name]) for name in sets}
    truths = {name: [row["priority"] for row in rows] for name, rows in sets.items()}
    types = {name: [row["type"] for row in rows] for name, rows in sets.items()}
    table: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
    print(f"{'set':9} {'n':>4}  urgent recall     accuracy          within one        type")
    for name, rows in sets.items():
        kinds = train_kinds_leaving_out(name, vectors, types)
        classifier = ImpactPriorityClassifier(train_leaving_out(name, vectors, truths), kinds)
        proba = classifier.predict_proba(texts[name], vectors[name])
        after = [classifier.classes[int(i)] for i in proba.argmax(axis=1)]
        types_after = [kind for _, kind in read_types(texts[name], vectors[name], kinds)]
        before, types_before = [], []
        for text in texts[name]:
            impact = assess(text)
            types_before.append(ticket_type(impact))
            before.append(priority_level(impact, types_before[-1]))
        table[name] = (
            (*scores(truths[name], before), _accuracy(types[name], types_before)),
            (*scores(truths[name], after), _accuracy(types[name], types_after)),
        )
        (acc0, one0, urg0, type0), (acc1, one1, urg1, type1) = table[name]
        print(
            f"{name:9} {len(rows):4}  {urg0:.4f} -> {urg1:.4f}  {acc0:.4f} -> {acc1:.4f}"
            f"  {one0:.4f} -> {one1:.4f}  {type0:.4f} -> {type1:.4f}"
        )
    for label, names in (("mean, all", list(table)), ("mean, not tuned on", NOT_TUNED_ON)):
        before_mean = np.mean([table[name][0] for name in names], axis=0)
        after_mean = np.mean([table[name][1] for name in names], axis=0)
        print(
            f"{label}: urgent recall {before_mean[2]:.4f} -> {after_mean[2]:.4f}, accuracy "
            f"{before_mean[0]:.4f} -> {after_mean[0]:.4f}, within one "
            f"{before_mean[1]:.4f} -> {after_mean[1]:.4f}, type "
            f"{before_mean[3]:.4f} -> {after_mean[3]:.4f}"
        )


def _accuracy(truth: list[str], predicted: list[str]) -> float:
    return float(task_scores(truth, predicted)["accuracy"])


if __name__ == "__main__":
    main()
