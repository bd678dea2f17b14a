"""Whether a report the impact rules read as a bug is a question, a wish or a request, read
from its MiniLM embedding by a small learned model.

The rules of :mod:`~.impact` take a report for a feature request, a question or a task
only when they find no defect in it, and requests mention defects in passing ("I don't open
the portal that often", "accounts payable won't process anything without a PO") or ask in
words the patterns lack ("Feature idea:", "would really help"). Read as bugs, they are also
rated like bugs: a wish becomes ``normal`` or ``high`` instead of ``low``. This model reads
the type from the sentence embedding the triage computes anyway: a multinomial logistic
regression (five classes, 384 weights and a bias each) trained on the product's bug-report
sets (:data:`~.urgency.TRAINING_SETS`). It changes one decision only: the rules' ``bug``
becomes the question, feature request or task the model is confident of (:func:`refine`).

The shipped weights (``kinds.json`` next to this module) are written by
``ticketcreator ai train-zero-shot``; how the threshold was chosen, leave-one-set-out, is
in ``docs/ai.md`` (step 14).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

import numpy as np
from sklearn.linear_model import LogisticRegression

from ticketcreator.ai.local.base import FloatArray, softmax
from ticketcreator.ai.local.encoder import EMBEDDING_DIM

WEIGHTS_FILE: Final = Path(__file__).with_name("kinds.json")
# Inverse regularisation strength; classes are weighted to balance. Leave-one-set-out over
# the eleven sets, 1, 3 and 10 gave mean type accuracy 0.876-0.881 at the threshold below.
REGULARISATION: Final = 3.0
# The types a report the rules call a bug may turn out to be, and the least probability of
# the model's choice that makes it so (0.5-0.8 gave 0.877-0.881 leave-one-set-out).
ASKING: Final = ("question", "feature_request", "task")
ASKING_FROM: Final = 0.6


@dataclass(frozen=True)
class KindModel:
    """Probability of each ticket type, from a unit-length MiniLM embedding."""

    classes: tuple[str, ...]
    weights: FloatArray  # (classes, 384)
    biases: FloatArray  # (classes,)

    def probabilities(self, embeddings: FloatArray) -> FloatArray:
        """Rows: reports; columns: :attr:`classes`."""
        logits = embeddings.astype(np.float64) @ self.weights.astype(np.float64).T
        return softmax(logits + self.biases.astype(np.float64))

    def refine(self, rules_type: str, probabilities: FloatArray) -> str:
        """The rules' type, or the question, wish or task the model is sure a "bug" is."""
        if rules_type != "bug":
            return rules_type
        best = int(probabilities.argmax())
        if self.classes[best] in ASKING and probabilities[best] >= ASKING_FROM:
            return self.classes[best]
        return rules_type

    def to_json(self) -> str:
        return json.dumps(
            {
                "classes": list(self.classes),
                "biases": [float(b) for b in self.biases],
                "weights": [[float(w) for w in row] for row in self.weights],
            },
            indent=0,
        )

    @classmethod
    def from_json(cls, text: str) -> KindModel:
        data = json.loads(text)
        classes = tuple(str(name) for name in data["classes"])
        weights = np.asarray(data["weights"], dtype=np.float64)
        biases = np.asarray(data["biases"], dtype=np.float64)
        if weights.shape != (len(classes), EMBEDDING_DIM) or biases.shape != (len(classes),):
            raise ValueError(
                f"type weights need {len(classes)} rows of {EMBEDDING_DIM} values and a bias each"
            )
        return cls(classes, weights.astype(np.float32), biases.astype(np.float32))


def train_kinds(embeddings: FloatArray, types: Sequence[str]) -> KindModel:
    """Fit the model to reports' embeddings and their true types."""
    model = LogisticRegression(C=REGULARISATION, class_weight="balanced", max_iter=5000)
    model.fit(embeddings.astype(np.float64), np.asarray(types))
    return KindModel(
        classes=tuple(str(name) for name in model.classes_),
        weights=np.asarray(model.coef_, dtype=np.float32),
        biases=np.asarray(model.intercept_, dtype=np.float32),
    )


def train_kinds_leaving_out(
    left_out: str, embeddings: Mapping[str, FloatArray], types: Mapping[str, Sequence[str]]
) -> KindModel:
    """The model trained on every set but ``left_out``, to be measured on it."""
    others = [name for name in embeddings if name != left_out]
    return train_kinds(
        np.concatenate([embeddings[name] for name in others]),
        [kind for name in others for kind in types[name]],
    )


@cache
def shipped_kinds() -> KindModel:
    """The model shipped with the product, read once per process."""
    return KindModel.from_json(WEIGHTS_FILE.read_text(encoding="utf-8"))
