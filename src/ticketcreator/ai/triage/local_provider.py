"""The ``local`` provider: the embedded models behind the same interface as the cloud ones.

It answers the agents' structured outputs (:class:`CategorizationOutput`,
:class:`PriorityOutput`, :class:`SummaryOutput`) from the MiniLM sentence encoder, the
organization's classifiers (its learned model where one is active, zero-shot over its
category names and descriptions otherwise) and the extractive text analysis. It needs no
network and no money, so the provider router always ends its chain here.

The encoder and the classifiers are loaded once per process and kept: loading MiniLM takes
~0.2 s, embedding an organization's category descriptions a few ms per category.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from pydantic import BaseModel

from ticketcreator.ai.bugreport import CaptureFacts, clip, suggested_title, summarize_report
from ticketcreator.ai.local.base import FloatArray, Prediction, TextClassifier, to_predictions
from ticketcreator.ai.local.encoder import MiniLMEncoder
from ticketcreator.ai.local.impact_classifiers import ImpactPriorityClassifier, ImpactTypeClassifier
from ticketcreator.ai.local.triage import (
    CategoryClassifier,
    LearnedTriage,
    category_classifier,
    triage_encoder,
)
from ticketcreator.ai.local.zeroshot import LabelSpec
from ticketcreator.ai.providers import (
    Completion,
    CompletionRequest,
    ProviderError,
    Usage,
    validate_output,
)
from ticketcreator.ai.tags import choose_tags
from ticketcreator.ai.triage.schemas import CategorizationOutput, PriorityOutput, SummaryOutput
from ticketcreator.core.ai_config import LOCAL
from ticketcreator.core.config import get_settings
from ticketcreator.core.modelstore import ModelStore

ENCODER_NAME: Final = "all-MiniLM-L6-v2-int8"
ZERO_SHOT_VERSION: Final = "zero-shot"
KNOWN_TAG_CONFIDENCE: Final = 0.9
NEW_TAG_CONFIDENCE: Final = 0.45  # below the categorization agent's default 0.5: suggested
TITLE_CONFIDENCE: Final = 0.7
_LEARNED_CACHE_SIZE: Final = 32


@lru_cache(maxsize=1)
def encoder() -> MiniLMEncoder:
    """The process's sentence encoder (the installed all-MiniLM-L6-v2 weights).

    It is built as the triage models were measured with (word pieces, int8 weights), so a
    ticket costs the service what ``ai eval`` and ``bench/ai_triage.py`` report.
    """
    return triage_encoder(ModelStore(get_settings().models.dir).path("minilm"))


def embed(text: str) -> FloatArray:
    return encoder().encode([text])


@dataclass(frozen=True)
class CategoryLabel:
    id: uuid.UUID
    name: str
    description: str


@lru_cache(maxsize=256)
def _category_classifier(labels: tuple[tuple[str, str], ...]) -> CategoryClassifier:
    return category_classifier(encoder(), [LabelSpec(name, text) for name, text in labels])


@lru_cache(maxsize=1)
def _type_classifier() -> ImpactTypeClassifier:
    return ImpactTypeClassifier(encoder())


def zero_shot_classifiers(categories: Sequence[CategoryLabel]) -> dict[str, TextClassifier]:
    """Zero-shot per task; category classes are the category ids (as strings)."""
    classifiers: dict[str, TextClassifier] = {
        "priority": ImpactPriorityClassifier(),
        "type": _type_classifier(),
    }
    if categories:
        by_name = _category_classifier(tuple((c.name, c.description) for c in categories))
        classifiers["category"] = _ById(by_name, {c.name: str(c.id) for c in categories})
    return classifiers


class _ById:
    """A zero-shot category classifier whose classes are category ids instead of names."""

    def __init__(self, inner: CategoryClassifier, ids: dict[str, str]) -> None:
        self._inner = inner
        self._classes = tuple(ids[name] for name in inner.classes)

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    def predict_proba(self, texts: Sequence[str], embeddings: FloatArray) -> FloatArray:
        return self._inner.predict_proba(texts, embeddings)


_learned: OrderedDict[uuid.UUID, LearnedTriage] = OrderedDict()


def learned_model(model_id: uuid.UUID, blob: bytes | None) -> LearnedTriage | None:
    """A stored model, deserialised once per process (``blob`` is needed on first use only)."""
    model = _learned.get(model_id)
    if model is None:
        if blob is None:
            return None
        model = LearnedTriage.from_bytes(blob)
        _learned[model_id] = model
        if len(_learned) > _LEARNED_CACHE_SIZE:
            _learned.popitem(last=False)
    _learned.move_to_end(model_id)
    return model


@dataclass
class TicketContent:
    """What triage reads of a ticket and its organization."""

    title: str
    description: str
    # Public comments, then transcripts and OCR text of the captures.
    context: list[str]
    categories: list[CategoryLabel]
    known_tags: list[str]
    captures: list[CaptureFacts] = field(default_factory=list)
    # The extension made the title from the capture: propose a better one.
    title_generated: bool = False

    @property
    def body(self) -> str:
        return "\n\n".join([self.description, *self.context]).strip()

    @property
    def text(self) -> str:
        body = self.body
        return f"{self.title}. {body}" if body else self.title


@dataclass
class LocalTriage:
    """The local models' answers for one ticket, computed on first use and kept."""

    content: TicketContent
    embedding: FloatArray
    learned: LearnedTriage | None = None
    model_version: str = ZERO_SHOT_VERSION
    _predictions: dict[str, Prediction] | None = field(default=None, init=False)

    def predictions(self) -> dict[str, Prediction]:
        if self._predictions is None:
            texts = [self.content.text]
            classifiers = zero_shot_classifiers(self.content.categories)
            out: dict[str, Prediction] = {}
            for task, classifier in classifiers.items():
                (out[task],) = to_predictions(
                    classifier.classes, classifier.predict_proba(texts, self.embedding)
                )
            if self.learned is not None:
                known = {str(c.id) for c in self.content.categories}
                for task, prediction in self.learned.predict(texts, self.embedding)[0].items():
                    if task != "category" or prediction.label in known:
                        out[task] = prediction
            self._predictions = out
        return self._predictions

    def categorization(self) -> dict[str, Any]:
        predictions = self.predictions()
        names = {str(c.id): c.name for c in self.content.categories}
        category = predictions.get("category")
        content = self.content
        # A tag the organization already uses is a safe choice; a new term stays a suggestion.
        tags = {
            name: KNOWN_TAG_CONFIDENCE if known else NEW_TAG_CONFIDENCE
            for name, known in choose_tags(
                content.title, content.description, content.known_tags, content.context
            )
        }
        return {
            "category": names[category.label] if category else None,
            "category_confidence": category.confidence if category else 0.0,
            "type": predictions["type"].label,
            "type_confidence": predictions["type"].confidence,
            "tags": [{"name": n, "confidence": c} for n, c in tags.items()],
        }

    def priority(self) -> dict[str, Any]:
        prediction = self.predictions()["priority"]
        return {"priority": prediction.label, "confidence": prediction.confidence}

    def summary(self) -> dict[str, Any]:
        content = self.content
        summary = summarize_report(
            content.title, content.description, content.captures, content.context
        )
        title = suggested_title(
            content.title, content.description, content.captures, generated=content.title_generated
        )
        return {
            "title": title or content.title,
            "title_confidence": TITLE_CONFIDENCE if title else 0.0,
            "summary": clip(summary.as_text(), 4000),
            "summary_confidence": summary.confidence,
        }


class LocalProvider:
    """The embedded models as a :class:`~ticketcreator.ai.providers.Provider`."""

    def __init__(self, triage: LocalTriage) -> None:
        self._triage = triage

    @property
    def name(self) -> str:
        return LOCAL

    @property
    def remote(self) -> bool:
        return False

    async def complete[T: BaseModel](
        self, request: CompletionRequest, output: type[T]
    ) -> Completion[T]:
        started = time.perf_counter()
        if issubclass(output, CategorizationOutput):
            answer = self._triage.categorization()
        elif issubclass(output, PriorityOutput):
            answer = self._triage.priority()
        elif issubclass(output, SummaryOutput):
            answer = self._triage.summary()
        else:
            raise ProviderError(LOCAL, f"the local models cannot answer {output.__name__}")
        value = validate_output(output, answer, provider=LOCAL, model=request.model.name)
        return Completion(
            value=value,
            provider=LOCAL,
            model=request.model.name,
            usage=Usage(),
            cost=0.0,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        )
