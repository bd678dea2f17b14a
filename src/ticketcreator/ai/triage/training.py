"""Per-organization triage models: trained on the organization's own labelled tickets.

A label is a category, priority or type a person set on a ticket (values only the AI set
are not labels, so the model never learns from itself). Training is incremental in the
sense that matters: a new version is trained on all labelled tickets once at least
``min_new_labels`` were added since the previous version (training from scratch takes
seconds for thousands of tickets). Each version is evaluated on a held-back share of the
organization's tickets against zero-shot triage on the same tickets, stored with its
metrics, and becomes the active model only when it measures better.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.ai.evaluation import task_scores
from ticketcreator.ai.local.base import FloatArray, TextClassifier
from ticketcreator.ai.local.triage import TASKS, LabelledTicket, LearnedTriage, ticket_text
from ticketcreator.ai.triage import repository as repo
from ticketcreator.ai.triage import training_repository as training_repo
from ticketcreator.ai.triage.config import runtime_config
from ticketcreator.ai.triage.local_provider import (
    CategoryLabel,
    encoder,
    zero_shot_classifiers,
)
from ticketcreator.ai.triage.models import OrganizationAIModel
from ticketcreator.ai.triage.schemas import ModelList, ModelRead
from ticketcreator.core.db import utcnow
from ticketcreator.core.events import Topic, emit

log = logging.getLogger(__name__)


def _split(n: int, share: float, seed: int) -> tuple[list[int], list[int]]:
    """Train and held-back row indices; the same organization always gets the same split."""
    order = np.random.default_rng(seed).permutation(n)
    held = max(1, round(n * share))
    return sorted(int(i) for i in order[held:]), sorted(int(i) for i in order[:held])


def _predict(classifier: TextClassifier, texts: list[str], embeddings: FloatArray) -> list[str]:
    proba = classifier.predict_proba(texts, embeddings)
    return [classifier.classes[int(i)] for i in proba.argmax(axis=1)]


def evaluate(
    learned: LearnedTriage,
    zero_shot: dict[str, TextClassifier],
    rows: Sequence[LabelledTicket],
    embeddings: FloatArray,
) -> dict[str, Any]:
    """Held-back accuracy and macro-F1 per task for both, and whether learned is better.

    Better means a higher mean macro-F1 over the tasks both can answer, with mean accuracy
    not lower.
    """
    texts = [row.text for row in rows]
    learned_predictions = learned.predict(texts, embeddings)
    metrics: dict[str, Any] = {"tasks": {}}
    for task in TASKS:
        keep = [i for i, row in enumerate(rows) if row.label(task)]
        if task not in learned.models or task not in zero_shot or not keep:
            continue
        truth = [rows[i].label(task) for i in keep]
        zero = _predict(zero_shot[task], [texts[i] for i in keep], embeddings[keep])
        mine = [learned_predictions[i][task].label for i in keep]
        metrics["tasks"][task] = {
            "learned": task_scores(truth, mine),
            "zero_shot": task_scores(truth, zero),
        }
    scored = metrics["tasks"].values()
    if scored:

        def mean(kind: str, metric: str) -> float:
            return float(np.mean([task[kind][metric] for task in scored]))

        metrics["learned_macro_f1"] = round(mean("learned", "macro_f1"), 4)
        metrics["zero_shot_macro_f1"] = round(mean("zero_shot", "macro_f1"), 4)
        metrics["better_than_zero_shot"] = metrics["learned_macro_f1"] > metrics[
            "zero_shot_macro_f1"
        ] and mean("learned", "accuracy") >= mean("zero_shot", "accuracy")
    else:
        metrics["better_than_zero_shot"] = False
    return metrics


async def train(
    session: AsyncSession, organization_id: uuid.UUID, *, force: bool = False
) -> OrganizationAIModel | None:
    """Train, evaluate and store a new model version when there is enough new data.

    ``force`` trains even when fewer than ``min_new_labels`` labels are new (an admin's
    request), but never with fewer than ``min_examples`` labelled tickets. Returns the new
    version, or None when nothing was trained (too little data, or another process is
    training this organization right now).
    """
    if not await training_repo.try_training_lock(session, organization_id):
        return None
    _, settings = await runtime_config(session, organization_id)
    labelled = await training_repo.labelled_tickets(session, organization_id)
    latest = await training_repo.latest_model(session, organization_id)
    new_labels = len(labelled) - (latest.n_examples if latest else 0)
    if len(labelled) < settings.min_examples or (
        latest is not None and not force and new_labels < settings.min_new_labels
    ):
        return None
    rows = [
        LabelledTicket(
            text=ticket_text(row.title, row.description),
            category=row.category,
            priority=row.priority,
            type=row.type,
        )
        for row in labelled
    ]
    embeddings = encoder().encode([row.text for row in rows])
    train_rows, held_rows = _split(len(rows), settings.holdout_share, organization_id.int % 2**32)
    candidate = LearnedTriage.train([rows[i] for i in train_rows], embeddings[train_rows])
    categories = await repo.categories(session, organization_id)
    zero_shot = zero_shot_classifiers(
        [CategoryLabel(c.id, c.name, c.description) for c in categories]
    )
    metrics = evaluate(candidate, zero_shot, [rows[i] for i in held_rows], embeddings[held_rows])
    metrics.update({"n_train": len(train_rows), "n_held_back": len(held_rows)})
    final = LearnedTriage.train(rows, embeddings)
    better = bool(metrics["better_than_zero_shot"])
    if better:
        await training_repo.deactivate_models(session, organization_id)
    model = OrganizationAIModel(
        id=uuid.uuid4(),
        organization_id=organization_id,
        version=(latest.version + 1) if latest else 1,
        tasks=sorted(final.models),
        blob=final.to_bytes(),
        metrics=metrics,
        active=better,
        n_examples=len(rows),
        trained_at=utcnow(),
    )
    session.add(model)
    await session.flush()
    log.info(
        "organization triage model trained",
        extra={
            "organization_id": str(organization_id),
            "version": model.version,
            "active": better,
            "n_examples": model.n_examples,
        },
    )
    return model


async def train_due(session: AsyncSession) -> list[OrganizationAIModel]:
    """Train every organization whose people changed labels since its latest model."""
    trained = []
    for organization_id in await training_repo.organizations_with_labels_since(session):
        model = await train(session, organization_id)
        if model is not None:
            trained.append(model)
    return trained


async def list_models(session: AsyncSession, principal: Principal) -> ModelList:
    rows = await training_repo.models(session, principal.organization_id)
    return ModelList(items=[ModelRead.model_validate(row) for row in rows])


def request_training(session: AsyncSession, principal: Principal) -> None:
    """Queue a training of the organization's model (delivered after commit)."""
    emit(
        session,
        Topic.AI_TRAINING_REQUESTED,
        {"organization_id": str(principal.organization_id), "force": True},
        organization_id=principal.organization_id,
    )
