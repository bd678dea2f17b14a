"""The ``local`` AI provider: offline triage with MiniLM embeddings and linear models.

Typical use by the service (one encoder per worker process, loaded once)::

    encoder = triage_encoder(ModelStore(models_dir).path("minilm"))
    vectors = encoder.encode([ticket_text(subject, body)])
    model = LearnedTriage.from_bytes(stored_blob)        # or ZeroShotTriage(encoder, labels)
    predictions = model.predict([text], vectors)[0]       # {"category": Prediction, ...}
"""

from ticketcreator.ai.local.base import Embedder, Prediction, TextClassifier
from ticketcreator.ai.local.cues import CueScore, score_cues
from ticketcreator.ai.local.encoder import EMBEDDING_DIM, MiniLMEncoder
from ticketcreator.ai.local.learned import TrainingConfig
from ticketcreator.ai.local.selection import TaskComparison, compare_on_holdout, train_and_compare
from ticketcreator.ai.local.triage import (
    TASKS,
    LabelledTicket,
    LabelSet,
    LearnedTriage,
    ZeroShotTriage,
    ticket_text,
    triage_encoder,
)
from ticketcreator.ai.local.zeroshot import LabelSpec

__all__ = [
    "EMBEDDING_DIM",
    "TASKS",
    "CueScore",
    "Embedder",
    "LabelSet",
    "LabelSpec",
    "LabelledTicket",
    "LearnedTriage",
    "MiniLMEncoder",
    "Prediction",
    "TaskComparison",
    "TextClassifier",
    "TrainingConfig",
    "ZeroShotTriage",
    "compare_on_holdout",
    "score_cues",
    "ticket_text",
    "train_and_compare",
    "triage_encoder",
]
