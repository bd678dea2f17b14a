"""When to trust an organization's learned model over zero-shot triage.

A freshly trained model on a handful of tickets can be worse than zero-shot. The learned
model is therefore used for a task only once it measures better than zero-shot on the
organization's own held-back tickets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from ticketcreator.ai.local.base import FloatArray
from ticketcreator.ai.local.triage import TASKS, LabelledTicket, LearnedTriage

ProbaByTask = dict[str, tuple[tuple[str, ...], FloatArray]]
Predictor = Callable[[Sequence[str], FloatArray], ProbaByTask]


@dataclass(frozen=True)
class TaskComparison:
    """Held-back scores of both approaches for one task, and the decision."""

    task: str
    n: int
    learned_macro_f1: float
    zero_shot_macro_f1: float
    learned_accuracy: float
    zero_shot_accuracy: float
    use_learned: bool


def _labels(result: ProbaByTask, task: str) -> list[str] | None:
    if task not in result:
        return None
    classes, proba = result[task]
    return [classes[int(i)] for i in proba.argmax(axis=1)]


def compare_on_holdout(
    learned: Predictor,
    zero_shot: Predictor,
    holdout: Sequence[LabelledTicket],
    embeddings: FloatArray,
    *,
    min_gain: float = 0.0,
    min_rows: int = 20,
) -> dict[str, TaskComparison]:
    """Score both predictors on held-back tickets the learned model never saw.

    The learned model wins a task when its macro-F1 beats zero-shot's by more than
    ``min_gain`` without losing accuracy, on at least ``min_rows`` labelled tickets; with
    fewer rows the evidence is too thin and zero-shot stays.
    """
    texts = [ticket.text for ticket in holdout]
    learned_out, zero_out = learned(texts, embeddings), zero_shot(texts, embeddings)
    decisions = {}
    for task in TASKS:
        rows = [i for i, ticket in enumerate(holdout) if ticket.label(task)]
        truth = [holdout[i].label(task) for i in rows]
        learned_all, zero_all = _labels(learned_out, task), _labels(zero_out, task)
        if not rows or learned_all is None:
            continue
        ours = [learned_all[i] for i in rows]
        theirs = [zero_all[i] for i in rows] if zero_all is not None else [""] * len(rows)
        l_f1 = float(f1_score(truth, ours, average="macro", zero_division=0))
        z_f1 = float(f1_score(truth, theirs, average="macro", zero_division=0))
        l_acc, z_acc = float(accuracy_score(truth, ours)), float(accuracy_score(truth, theirs))
        wins = len(rows) >= min_rows and l_f1 > z_f1 + min_gain and l_acc >= z_acc
        decisions[task] = TaskComparison(task, len(rows), l_f1, z_f1, l_acc, z_acc, wins)
    return decisions


def train_and_compare(
    tickets: Sequence[LabelledTicket],
    embeddings: FloatArray,
    zero_shot: Predictor,
    *,
    holdout_fraction: float = 0.2,
    seed: int = 0,
    min_gain: float = 0.0,
) -> tuple[LearnedTriage, dict[str, TaskComparison]]:
    """Hold back part of the tickets, train on the rest, compare, then retrain on all.

    Returns the model trained on *all* tickets (what gets stored) and the comparison that
    decides, per task, whether it is used.
    """
    index = np.arange(len(tickets))
    train_rows, held_rows = train_test_split(index, test_size=holdout_fraction, random_state=seed)
    model = LearnedTriage.train([tickets[i] for i in train_rows], embeddings[train_rows])
    decisions = compare_on_holdout(
        model.predict_proba,
        zero_shot,
        [tickets[i] for i in held_rows],
        embeddings[held_rows],
        min_gain=min_gain,
    )
    return LearnedTriage.train(tickets, embeddings), decisions
