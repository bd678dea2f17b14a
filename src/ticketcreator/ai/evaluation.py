"""Offline evaluation of local triage, the way the customer measures quality.

Bug-report files (columns ``title``, ``description``, ``priority``, ``type``, ``category`` and
optionally ``category_description``, e.g. ``data/bug_reports/holdout.csv``) are scored
zero-shot as a new organization meets triage: see :func:`evaluate_bug_reports`.

Reads labelled ticket CSVs (the columns of ``shared/data/tickets/dev.csv``), trains or builds
the local provider per *source family* (``endava``; all ``tobi_bueck_*`` versions together;
label sets are never pooled across families), predicts category, priority and type for every
test ticket one at a time, and reports accuracy, macro-F1 and per-ticket latency.

Also computes the reference baseline, a class-balanced word TF-IDF + logistic regression per
family and task, on the same split so both can be reported side by side.
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from ticketcreator.ai.local.base import Embedder, FloatArray
from ticketcreator.ai.local.impact import PRIORITY_SCALE, TYPES
from ticketcreator.ai.local.learned import TrainingConfig
from ticketcreator.ai.local.triage import (
    TASKS,
    LabelledTicket,
    LabelSet,
    LearnedTriage,
    ZeroShotTriage,
    ticket_text,
)
from ticketcreator.ai.local.zeroshot import LabelSpec
from ticketcreator.ai.modes import Mode

Row = dict[str, str]
Report = dict[str, Any]
_FAMILY_PREFIXES: Final = ("tobi_bueck",)
REQUIRED_COLUMNS: Final = ("source", "subject", "body", "category", "priority", "type")
BUG_REPORT_COLUMNS: Final = ("title", "description", "priority", "type", "category")
# Optional: each row may carry its category's one-line description (the first one given per
# category is used).
CATEGORY_DESCRIPTION: Final = "category_description"


class EvaluationInputError(ValueError):
    """A ticket file the evaluation cannot use (e.g. a required column is missing)."""


def read_rows(path: Path, columns: Sequence[str] = REQUIRED_COLUMNS) -> list[Row]:
    """All rows of a ticket CSV as strings (RFC 4180; bodies may contain newlines).

    Raises :class:`EvaluationInputError` naming the file and every missing column.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in columns if column not in (reader.fieldnames or [])]
        if missing:
            raise EvaluationInputError(f"{path} lacks the columns {', '.join(missing)}")
        return [dict(row) for row in reader]


def is_bug_report_file(path: Path) -> bool:
    """Whether the CSV has the bug-report columns (title, description and the labels)."""
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    return all(column in header for column in BUG_REPORT_COLUMNS)


def family_of(source: str) -> str:
    """Source family: ``tobi_bueck_v3``/``_v4``/``_v5`` share one label set, others stand alone."""
    for prefix in _FAMILY_PREFIXES:
        if source.startswith(prefix):
            return prefix
    return source


def group_by_family(rows: Iterable[Row]) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        groups[family_of(row.get("source", ""))].append(row)
    return dict(groups)


def row_text(row: Row) -> str:
    """Subject and body of a ticket row, or title and description of a bug-report row."""
    subject = row.get("subject") or row.get("title", "")
    return ticket_text(subject, row.get("body") or row.get("description", ""))


def labelled(row: Row) -> LabelledTicket:
    return LabelledTicket(
        text=row_text(row),
        category=row.get("category", ""),
        priority=row.get("priority", ""),
        type=row.get("type", ""),
    )


def task_scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float | int]:
    """Accuracy and macro-F1 over the labels present in either the truth or the predictions.

    Rows without a true label (an empty cell) are not scored: ``n`` counts the rest.
    """
    pairs = [(label, guess) for label, guess in zip(truth, predicted, strict=True) if label]
    truth, predicted = [label for label, _ in pairs], [guess for _, guess in pairs]
    if not pairs:
        return {"accuracy": 0.0, "macro_f1": 0.0, "n": 0}
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
        "n": len(truth),
    }


def percentile_ms(samples: Sequence[float], q: float) -> float:
    return round(float(np.percentile(np.array(samples) * 1000.0, q)), 2) if samples else 0.0


Predictor = Callable[[Sequence[str], FloatArray], dict[str, tuple[tuple[str, ...], FloatArray]]]


def _zero_shot_labels(train: Sequence[Row], test: Sequence[Row]) -> LabelSet:
    """Label names only: the set of labels the organization uses (no texts, no examples)."""
    rows = [*train, *test]

    def names(task: str) -> list[str]:
        return sorted({row[task] for row in rows if row.get(task)})

    return LabelSet(categories=names("category"), priorities=names("priority"), types=names("type"))


def build_predictor(
    mode: Mode,
    train: Sequence[Row],
    test: Sequence[Row],
    embedder: Embedder,
    config: TrainingConfig | None = None,
) -> Predictor:
    """The local provider for one family: trained on ``train`` or defined by label names."""
    if mode is Mode.ZERO_SHOT:
        return ZeroShotTriage(embedder, _zero_shot_labels(train, test)).predict_proba
    tickets = [labelled(row) for row in train]
    embeddings = embedder.encode([ticket.text for ticket in tickets])
    return LearnedTriage.train(tickets, embeddings, config).predict_proba


@dataclass(frozen=True)
class _Timed:
    labels: dict[str, list[str]]
    seconds: list[float]


def _predict_one_by_one(predictor: Predictor, embedder: Embedder, rows: Sequence[Row]) -> _Timed:
    """Triage each ticket alone (embedding + all tasks), as the service does, and time it."""
    labels: dict[str, list[str]] = defaultdict(list)
    seconds = []
    for row in rows:
        text = row_text(row)
        start = time.perf_counter()
        result = predictor([text], embedder.encode([text]))
        seconds.append(time.perf_counter() - start)
        for task, (classes, proba) in result.items():
            labels[task].append(classes[int(proba[0].argmax())])
    return _Timed(dict(labels), seconds)


def evaluate(
    train_rows: Sequence[Row],
    test_rows: Sequence[Row],
    embedder: Embedder,
    *,
    mode: Mode = Mode.LEARNED,
    config: TrainingConfig | None = None,
) -> Report:
    """The eval report: per family and task accuracy/macro-F1/n, plus latency p50/p99 in ms."""
    train_by_family = group_by_family(train_rows)
    report: Report = {}
    latencies: list[float] = []
    for family, test in sorted(group_by_family(test_rows).items()):
        train = train_by_family.get(family, [])
        if mode is Mode.LEARNED and not train:
            continue
        predictor = build_predictor(mode, train, test, embedder, config)
        timed = _predict_one_by_one(predictor, embedder, test)
        latencies += timed.seconds
        report[family] = {
            task: task_scores([row[task] for row in test], timed.labels[task])
            for task in TASKS
            if task in timed.labels
        }
    report["latency_ms_p50"] = percentile_ms(latencies, 50)
    report["latency_ms_p99"] = percentile_ms(latencies, 99)
    return report


class BaselineModel:
    """Class-balanced word TF-IDF + logistic regression for one task (the reference model)."""

    def __init__(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        self.vectorizer = TfidfVectorizer()
        features = self.vectorizer.fit_transform(list(texts))
        self.model = LogisticRegression(class_weight="balanced", max_iter=2000)
        self.model.fit(features, list(labels))

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [str(label) for label in self.model.predict(self.vectorizer.transform(list(texts)))]


def train_baseline(train: Sequence[Row]) -> dict[str, BaselineModel]:
    """One baseline model per task that has at least two labels in ``train``."""
    texts = [row_text(row) for row in train]
    models = {}
    for task in TASKS:
        keep = [i for i, row in enumerate(train) if row.get(task)]
        labels = [train[i][task] for i in keep]
        if len(set(labels)) >= 2:
            models[task] = BaselineModel([texts[i] for i in keep], labels)
    return models


def evaluate_baseline(train_rows: Sequence[Row], test_rows: Sequence[Row]) -> Report:
    """The same report shape for the baseline (latency: its per-ticket predict, all tasks)."""
    train_by_family = group_by_family(train_rows)
    report: Report = {}
    latencies: list[float] = []
    for family, test in sorted(group_by_family(test_rows).items()):
        models = train_baseline(train_by_family.get(family, []))
        if not models:
            continue
        predicted: dict[str, list[str]] = defaultdict(list)
        for row in test:
            text = row_text(row)
            start = time.perf_counter()
            labels = {task: model.predict([text])[0] for task, model in models.items()}
            latencies.append(time.perf_counter() - start)
            for task, label in labels.items():
                predicted[task].append(label)
        report[family] = {
            task: task_scores([row[task] for row in test], predicted[task]) for task in models
        }
    report["latency_ms_p50"] = percentile_ms(latencies, 50)
    report["latency_ms_p99"] = percentile_ms(latencies, 99)
    return report


def confusion(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> Report:
    """Counts per (true, predicted) label over labelled rows; rows follow ``labels``' order."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for label, guess in zip(truth, predicted, strict=True):
        if label in index and guess in index:
            matrix[index[label]][index[guess]] += 1
    return {"labels": list(labels), "matrix": matrix}


def _order(known: Sequence[str], *columns: Sequence[str]) -> list[str]:
    """``known`` labels first (in their order), then any other label seen, sorted."""
    seen = {label for column in columns for label in column if label}
    return [*known, *sorted(seen - set(known))]


def bug_report_labels(rows: Sequence[Row]) -> LabelSet:
    """The product's priorities and types, and the file's categories with their descriptions."""
    descriptions: dict[str, str] = {}
    for row in rows:
        name = row.get("category", "")
        if name and not descriptions.get(name):
            descriptions[name] = row.get(CATEGORY_DESCRIPTION, "") or ""
    return LabelSet(
        categories=[LabelSpec(name, text) for name, text in descriptions.items()],
        priorities=list(PRIORITY_SCALE),
        types=list(TYPES),
    )


def evaluate_bug_reports(rows: Sequence[Row], embedder: Embedder) -> Report:
    """Zero-shot triage of labelled bug reports, one at a time, as a new organization gets it.

    Per task: accuracy, n and the confusion matrix (rows: true label, columns: predicted);
    for priority also accuracy within one level and the recall of ``urgent``.
    """
    labels = bug_report_labels(rows)
    timed = _predict_one_by_one(ZeroShotTriage(embedder, labels).predict_proba, embedder, rows)
    report: Report = {}
    for task in TASKS:
        if task not in timed.labels:
            continue
        truth = [row[task] for row in rows]
        predicted = timed.labels[task]
        known = PRIORITY_SCALE if task == "priority" else TYPES if task == "type" else ()
        scores: Report = {
            "accuracy": task_scores(truth, predicted)["accuracy"],
            "n": task_scores(truth, predicted)["n"],
            "confusion": confusion(truth, predicted, _order(known, truth, predicted)),
        }
        if task == "priority":
            scores.update(priority_scores(truth, predicted))
        report[task] = scores
    report["latency_ms_p50"] = percentile_ms(timed.seconds, 50)
    report["latency_ms_p99"] = percentile_ms(timed.seconds, 99)
    return report


def priority_scores(truth: Sequence[str], predicted: Sequence[str]) -> Report:
    """Accuracy within one priority level, recall of ``urgent`` and how many were urgent
    (rows with a true priority only)."""
    pairs = [(t, p) for t, p in zip(truth, predicted, strict=True) if t in PRIORITY_SCALE]
    level = PRIORITY_SCALE.index
    within = sum(abs(level(t) - level(p)) <= 1 for t, p in pairs if p in PRIORITY_SCALE)
    urgent = [p for t, p in pairs if t == "urgent"]
    return {
        "within_one": round(within / len(pairs), 4) if pairs else 0.0,
        "urgent_recall": round(urgent.count("urgent") / len(urgent), 4) if urgent else 0.0,
        "urgent_n": len(urgent),
    }
