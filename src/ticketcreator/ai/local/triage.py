"""The local provider's triage models: category, priority and type for one organization.

:class:`LearnedTriage` bundles one :class:`~.learned.LinearTextModel` per task. Priority is
conditioned on type when the organization's data shows that some types always carry one
priority (e.g. every service request is "low"): those rows are decided by the type model and
the priority model is trained on the remaining rows only, where priority is a real decision.
A :class:`~.memory.LabelMemory` of the labelled tickets then lets a near-copy of one of them
take its labels.

:class:`ZeroShotTriage` serves organizations without labelled tickets: label-name similarity
for category, the support lead's rules of :mod:`~.impact` for priority and type (urgency cues
and similarity on other scales).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from ticketcreator.ai.local.base import (
    Embedder,
    FloatArray,
    Prediction,
    TextClassifier,
    softmax,
    to_predictions,
)
from ticketcreator.ai.local.category_rules import CategoryRules
from ticketcreator.ai.local.encoder import MiniLMEncoder
from ticketcreator.ai.local.impact import PRIORITY_SCALE, TYPES
from ticketcreator.ai.local.impact_classifiers import ImpactPriorityClassifier, ImpactTypeClassifier
from ticketcreator.ai.local.learned import (
    LinearTextModel,
    TrainingConfig,
    models_from_bytes,
    models_to_bytes,
    prepare_texts,
    train_linear_model,
)
from ticketcreator.ai.local.memory import LabelMemory
from ticketcreator.ai.local.zeroshot import (
    CuePriorityClassifier,
    LabelSpec,
    ZeroShotClassifier,
    names_something,
    order_priority_scale,
)

TASKS: Final = ("category", "priority", "type")
MODEL_NAME: Final = "local-linear"
# all-MiniLM-L6-v2 was trained on 128-token inputs; the subject and first paragraph carry the
# triage signal, and 256 tokens would double the encoder's cost per ticket.
TRIAGE_MAX_TOKENS: Final = 128
# Zero-shot categories: weight of description words found in the ticket. On the English
# development tickets (label names with the default hints) category accuracy went from 0.360
# to 0.381 with 0.5 (0.380 with 0.4, 0.381 with 0.6, 0.364 with 1.0); German tickets stayed
# at 0.26. For types the same matching lowered accuracy (0.560 -> 0.495), so types use none.
CATEGORY_WORD_WEIGHT: Final = 0.5
# Zero-shot category confidences: the softmax temperature over similarity, word matches and
# the labelling rules' readings, fitted (minimum negative log-likelihood) to the product's
# bug-report sets with one-line category descriptions (docs/ai.md, "Categories"): 0.125 on
# the nine sets it was chosen on, and still the minimum with the two sets written after it
# (944 reports: 0.690 at 0.125, 0.704 at 0.15, 0.738 at the former 0.175). At 0.175, fitted to
# the vaguer helpdesk tickets, bug reports scored 0.3-0.4 were right half of the time, so an
# agent's threshold of 0.5 left one right category in six as a suggestion.
CATEGORY_TEMPERATURE: Final = 0.125
# A text that names nothing specific (zeroshot.names_something) has nothing to file it by:
# its scores are spread by this temperature, so its category stays a suggestion.
VAGUE_TEMPERATURE: Final = 0.5
CATEGORY_PHRASE_WEIGHT: Final = 1.0
# A type "implies" a priority when at least this share of at least this many rows agree.
_IMPLY_SHARE: Final = 0.99
_IMPLY_MIN_ROWS: Final = 10


@dataclass(frozen=True)
class LabelledTicket:
    """One training row: the ticket text and the labels agents set (empty = unknown)."""

    text: str
    category: str = ""
    priority: str = ""
    type: str = ""

    def label(self, task: str) -> str:
        return str(getattr(self, task))


def triage_encoder(model_dir: Path, *, threads: int = 1) -> MiniLMEncoder:
    """The sentence encoder as the triage models were measured with.

    128 word pieces, and int8 weights: on one core a 128-piece ticket takes 15.4-15.9 ms
    instead of 34.5-35.6 ms, with vectors within cosine 0.979 (mean 0.993) of the float
    model's. Over five seeded 80/20 splits of the development data, mean macro-F1 per task
    moved by -0.006 to +0.007 against the float encoder, within the splits' spread.
    """
    return MiniLMEncoder(model_dir, max_tokens=TRIAGE_MAX_TOKENS, threads=threads, quantized=True)


def ticket_text(subject: str, body: str) -> str:
    """The text the local models read: subject and body as one passage."""
    subject, body = subject.strip(), body.strip()
    if subject and body:
        return f"{subject}. {body}"
    return subject or body


def _implied_priorities(rows: Sequence[LabelledTicket]) -> dict[str, str]:
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row.type and row.priority:
            by_type[row.type][row.priority] += 1
    implied = {}
    for type_label, counts in by_type.items():
        priority, top = counts.most_common(1)[0]
        total = sum(counts.values())
        if total >= _IMPLY_MIN_ROWS and top / total >= _IMPLY_SHARE:
            implied[type_label] = priority
    return implied


@dataclass
class LearnedTriage:
    """Per-task linear models plus the type -> priority rules found in training data."""

    models: dict[str, LinearTextModel]
    implied_priority: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    memory: LabelMemory | None = None

    @classmethod
    def train(
        cls,
        rows: Sequence[LabelledTicket],
        embeddings: FloatArray,
        config: TrainingConfig | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> LearnedTriage:
        """Train every task that has at least two distinct labels among ``rows``.

        ``embeddings`` are the rows' MiniLM vectors in the same order, oldest ticket first
        (the label memory keeps the most recent ones).
        """
        models: dict[str, LinearTextModel] = {}
        texts = [row.text for row in rows]
        for task in ("category", "type"):
            keep = [i for i, row in enumerate(rows) if row.label(task)]
            labels = [rows[i].label(task) for i in keep]
            if len(set(labels)) >= 2:
                models[task] = train_linear_model(
                    [texts[i] for i in keep], embeddings[keep], labels, config
                )
        implied = _implied_priorities(rows) if "type" in models else {}
        keep = [i for i, row in enumerate(rows) if row.priority and row.type not in implied]
        if len({rows[i].priority for i in keep}) < 2:
            implied = {}
            keep = [i for i, row in enumerate(rows) if row.priority]
        labels = [rows[i].priority for i in keep]
        if len(set(labels)) >= 2:
            models["priority"] = train_linear_model(
                [texts[i] for i in keep], embeddings[keep], labels, config
            )
        info = {"model": MODEL_NAME, "trained_rows": len(rows), **dict(metadata or {})}
        memory = LabelMemory.of(
            embeddings, {task: [row.label(task) for row in rows] for task in models}
        )
        return cls(models=models, implied_priority=implied, metadata=info, memory=memory)

    def predict_proba(
        self, texts: Sequence[str], embeddings: FloatArray
    ) -> dict[str, tuple[tuple[str, ...], FloatArray]]:
        """Per task: its classes and a probability matrix (rows = texts)."""
        prepared = prepare_texts(texts)
        out = {
            task: (model.classes, model.predict_proba(texts, embeddings, prepared))
            for task, model in self.models.items()
        }
        if self.implied_priority and "priority" in out and "type" in out:
            out["priority"] = self._condition_priority(out["priority"], out["type"])
        if self.memory is not None:
            neighbours = self.memory.nearest(embeddings)
            out = {
                task: (classes, self.memory.pull(task, classes, proba, neighbours))
                for task, (classes, proba) in out.items()
            }
        return out

    def _condition_priority(
        self,
        priority: tuple[tuple[str, ...], FloatArray],
        type_: tuple[tuple[str, ...], FloatArray],
    ) -> tuple[tuple[str, ...], FloatArray]:
        """P(priority) = sum over types of P(type) * P(priority | type, text)."""
        p_classes, p_proba = priority
        t_classes, t_proba = type_
        classes = tuple(sorted(set(p_classes) | set(self.implied_priority.values())))
        combined = np.zeros((p_proba.shape[0], len(classes)), dtype=np.float32)
        free_mass = np.ones(p_proba.shape[0], dtype=np.float32)
        for t_index, t_label in enumerate(t_classes):
            if t_label in self.implied_priority:
                combined[:, classes.index(self.implied_priority[t_label])] += t_proba[:, t_index]
                free_mass -= t_proba[:, t_index]
        for p_index, p_label in enumerate(p_classes):
            combined[:, classes.index(p_label)] += free_mass * p_proba[:, p_index]
        return classes, combined

    def predict(self, texts: Sequence[str], embeddings: FloatArray) -> list[dict[str, Prediction]]:
        """Label + confidence + distribution per task, for each text."""
        per_task = {
            task: to_predictions(classes, proba)
            for task, (classes, proba) in self.predict_proba(texts, embeddings).items()
        }
        return [{task: per_task[task][i] for task in per_task} for i in range(len(texts))]

    def to_bytes(self) -> bytes:
        """Versioned, pickle-free serialisation for storage in the database."""
        return models_to_bytes(
            self.models,
            {**self.metadata, "implied_priority": self.implied_priority},
            self.memory.to_arrays() if self.memory is not None else {},
        )

    @classmethod
    def from_bytes(cls, blob: bytes) -> LearnedTriage:
        models, metadata, extra = models_from_bytes(blob)
        implied = metadata.pop("implied_priority", {})
        memory = LabelMemory.from_arrays(extra) if extra else None
        return cls(models=models, implied_priority=implied, metadata=metadata, memory=memory)


class CategoryClassifier:
    """Zero-shot categories from names and one-line descriptions.

    Scores add up the similarity of the ticket to each category's text (name, description and
    the words of its product area, see :data:`~.zeroshot.AREA_HINTS`), to the category's best
    description phrase, and the words they share; then the labelling rules' readings of the
    report (:mod:`~.category_rules`): a data exposure goes to the category that names
    security, privacy or permissions whatever part of the product leaks it, lost records to
    data, looks to the interface, a named tool's sync to integrations, and the availability
    category needs the report to say the product is down or slow.
    """

    def __init__(self, embedder: Embedder, categories: Sequence[LabelSpec | str]) -> None:
        self._inner = ZeroShotClassifier(
            embedder,
            categories,
            temperature=CATEGORY_TEMPERATURE,
            lexical_weight=CATEGORY_WORD_WEIGHT,
            phrase_weight=CATEGORY_PHRASE_WEIGHT,
            area_hints=True,
        )
        self._rules = CategoryRules(
            [c if isinstance(c, LabelSpec) else LabelSpec(c) for c in categories]
        )

    @property
    def classes(self) -> tuple[str, ...]:
        return self._inner.classes

    def predict_proba(self, texts: Sequence[str], embeddings: FloatArray) -> FloatArray:
        scores = self._inner.scores(texts, embeddings) + self._rules.scores(texts)
        temperature = np.array(
            [
                CATEGORY_TEMPERATURE if names_something(text) else VAGUE_TEMPERATURE
                for text in texts
            ],
            dtype=np.float32,
        )
        return softmax(scores / temperature[:, None])


def category_classifier(
    embedder: Embedder, categories: Sequence[LabelSpec | str]
) -> CategoryClassifier:
    """Zero-shot categories (see :class:`CategoryClassifier`)."""
    return CategoryClassifier(embedder, categories)


@dataclass(frozen=True)
class LabelSet:
    """The labels an organization uses per task (category/type with optional descriptions)."""

    categories: Sequence[LabelSpec | str]
    priorities: Sequence[str]
    types: Sequence[LabelSpec | str] = ()
    priority_default: str | None = None


class ZeroShotTriage:
    """Triage from label definitions only; needs the sentence encoder to embed the labels.

    An organization on the product's own scales (priorities urgent/high/normal/low, the five
    ticket types) gets the support lead's rules of :mod:`~.impact`; other scales get urgency
    cues and similarity to the labels.
    """

    def __init__(self, embedder: Embedder, labels: LabelSet) -> None:
        self.classifiers: dict[str, TextClassifier] = {
            "category": category_classifier(embedder, labels.categories)
        }
        if set(labels.priorities) == set(PRIORITY_SCALE):
            self.classifiers["priority"] = ImpactPriorityClassifier()
        elif labels.priorities:
            scale, default = order_priority_scale(labels.priorities)
            self.classifiers["priority"] = CuePriorityClassifier(
                scale, labels.priority_default or default
            )
        type_names = {t.name if isinstance(t, LabelSpec) else t for t in labels.types}
        if type_names == set(TYPES):
            self.classifiers["type"] = ImpactTypeClassifier(embedder)
        elif labels.types:
            self.classifiers["type"] = ZeroShotClassifier(embedder, labels.types)

    def predict_proba(
        self, texts: Sequence[str], embeddings: FloatArray
    ) -> dict[str, tuple[tuple[str, ...], FloatArray]]:
        return {
            task: (classifier.classes, classifier.predict_proba(texts, embeddings))
            for task, classifier in self.classifiers.items()
        }

    def predict(self, texts: Sequence[str], embeddings: FloatArray) -> list[dict[str, Prediction]]:
        per_task = {
            task: to_predictions(classes, proba)
            for task, (classes, proba) in self.predict_proba(texts, embeddings).items()
        }
        return [{task: per_task[task][i] for task in per_task} for i in range(len(texts))]
