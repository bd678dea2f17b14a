"""Whether a bug report is urgent, read from its MiniLM embedding by a small learned model.

The impact rules of :mod:`~.impact` read urgency from words, and on reports written after
they were tuned they rate a third of the urgent ones ``high`` or ``normal``: the words for
"everyone is blocked" or "we are losing business" vary more than patterns can follow. This
model reads the same decision from the sentence embedding the triage computes anyway: a
logistic regression (384 weights and a bias) trained on the product's bug-report sets
(``data/bug_reports``, :data:`TRAINING_SETS`), urgent against every other level. It only
raises the rules' ``high``, or a ``normal`` in which they read some impact, to ``urgent``
when it is confident (:func:`escalates`); every other decision stays the rules'.

The shipped weights (``urgency.json`` next to this module) are written by
``ticketcreator ai train-zero-shot``, which retrains them from the sets; inference is a dot
product in numpy. How the model and its thresholds were chosen, with the leave-one-set-out
numbers, is in ``docs/ai.md`` (step 8).
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

from ticketcreator.ai.local.base import FloatArray
from ticketcreator.ai.local.encoder import EMBEDDING_DIM
from ticketcreator.ai.local.impact import Impact

WEIGHTS_FILE: Final = Path(__file__).with_name("urgency.json")
# The product's bug-report sets (``data/bug_reports/<name>.csv``) the weights are trained on.
TRAINING_SETS: Final = (
    "dev",
    "dev2",
    "dev3",
    "holdout",
    "holdout2",
    "holdout3",
    "blind",
    "blind2",
    "blind3",
    "blind4",
    "blind5",
    "blind6",
    "blind7",
    "blind8",
    "blind9",
)
# Inverse regularisation strength of the logistic regression; classes are weighted to balance
# (about one report in four is urgent). Leave-one-set-out with the thresholds below, 30 gave
# the same numbers and 100 a mean urgent recall 0.02 lower (docs/ai.md, step 8).
REGULARISATION: Final = 10.0
# Least probability of "urgent" that raises the rules' level: a "high" report needs 0.6, a
# "normal" one, two levels away, 0.8.
ESCALATE_FROM: Final[dict[str, float]] = {"high": 0.6, "normal": 0.8}
# The readings of the impact rules that let a "normal" report be raised: something does not
# work, who is hit, how, and what is at stake (ai/local/impact.py). Leave-one-set-out, this
# condition changed no urgent report and kept one high report of dev3 from being raised.
SEVERE: Final = (
    "everyone",
    "many",
    "blocked",
    "money",
    "data_loss",
    "exposure",
    "outage",
    "deadline",
    "core",
    "onset",
    "defect",
)


@dataclass(frozen=True)
class UrgencyModel:
    """Probability that a report is urgent, from its unit-length MiniLM embedding."""

    weights: FloatArray
    bias: float

    def probability(self, embeddings: FloatArray) -> FloatArray:
        """P(urgent) for each row of ``embeddings`` (rows: reports, columns: 384 dimensions)."""
        logits = embeddings.astype(np.float64) @ self.weights.astype(np.float64) + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float32)

    def to_json(self) -> str:
        return json.dumps(
            {"bias": float(self.bias), "weights": [float(w) for w in self.weights]}, indent=0
        )

    @classmethod
    def from_json(cls, text: str) -> UrgencyModel:
        data = json.loads(text)
        weights = np.asarray(data["weights"], dtype=np.float64)
        if weights.shape != (EMBEDDING_DIM,):
            raise ValueError(f"urgency weights need {EMBEDDING_DIM} values, not {weights.size}")
        return cls(weights=weights.astype(np.float32), bias=float(data["bias"]))


def train_urgency(embeddings: FloatArray, urgent: np.ndarray) -> UrgencyModel:
    """Fit the model to reports' embeddings and whether each one is urgent."""
    model = LogisticRegression(C=REGULARISATION, class_weight="balanced", max_iter=5000)
    model.fit(embeddings.astype(np.float64), np.asarray(urgent, dtype=bool))
    return UrgencyModel(
        weights=np.asarray(model.coef_[0], dtype=np.float32), bias=float(model.intercept_[0])
    )


def train_leaving_out(
    left_out: str,
    embeddings: Mapping[str, FloatArray],
    priorities: Mapping[str, Sequence[str]],
) -> UrgencyModel:
    """The model trained on every set but ``left_out`` (sets by name: their reports'
    embeddings and true priorities), to be measured on the set it has not seen."""
    others = [name for name in embeddings if name != left_out]
    return train_urgency(
        np.concatenate([embeddings[name] for name in others]),
        np.array([level == "urgent" for name in others for level in priorities[name]]),
    )


def escalates(level: str, probability: float, impact: Impact) -> bool:
    """Whether the rules' ``level`` becomes ``urgent`` at this probability of urgency.

    A ``normal`` report is raised only if the rules read a malfunction or some impact in it
    (:data:`SEVERE`): on a report that says nothing of what fails, who is hit or how (a
    one-word title, "something happened, not sure what"), the model's probability comes
    from wording alone, and it gave such texts up to 0.97.
    """
    if level not in ESCALATE_FROM or probability < ESCALATE_FROM[level]:
        return False
    return level == "high" or any(getattr(impact, reading) for reading in SEVERE)


@cache
def shipped_urgency() -> UrgencyModel:
    """The model shipped with the product, read once per process."""
    return UrgencyModel.from_json(WEIGHTS_FILE.read_text(encoding="utf-8"))
