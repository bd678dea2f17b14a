"""Shared types of the local provider's classifiers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Anything that turns texts into unit-length vectors (the MiniLM encoder, or a test fake)."""

    def encode(self, texts: list[str]) -> FloatArray: ...


class TextClassifier(Protocol):
    """A classifier over ticket texts whose embeddings were computed once by the caller.

    Triage embeds a ticket once and runs category, priority and type on the same vector, so
    classifiers receive both the raw text and its embedding.
    """

    @property
    def classes(self) -> tuple[str, ...]: ...

    def predict_proba(self, texts: Sequence[str], embeddings: FloatArray) -> FloatArray: ...


@dataclass(frozen=True)
class Prediction:
    """One label decision: the label, its probability and the full distribution."""

    label: str
    confidence: float
    scores: dict[str, float]


def to_predictions(classes: Sequence[str], proba: FloatArray) -> list[Prediction]:
    """Turn a probability matrix (rows = texts, columns = ``classes``) into predictions."""
    best = proba.argmax(axis=1)
    return [
        Prediction(
            label=classes[int(index)],
            confidence=round(float(row[index]), 4),
            scores={label: round(float(p), 4) for label, p in zip(classes, row, strict=True)},
        )
        for row, index in zip(proba, best, strict=True)
    ]


def softmax(logits: npt.NDArray[np.floating], axis: int = -1) -> FloatArray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=axis, keepdims=True)).astype(np.float32)
