"""How often people kept what the AI set, and the active model's measured accuracy."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.ai.triage import repository as repo
from ticketcreator.ai.triage import training_repository as training_repo
from ticketcreator.ai.triage.feedback import FEEDBACK_FIELDS
from ticketcreator.ai.triage.models import OrganizationAIModel, SuggestionStatus
from ticketcreator.ai.triage.schemas import AIAccuracyRead, FieldAccuracy, ModelAccuracy
from ticketcreator.core.db import utcnow

ACCURACY_DAYS: Final = 30


async def accuracy(session: AsyncSession, principal: Principal) -> AIAccuracyRead:
    """How often the organization's people kept or changed what the AI set, per field, over
    the last :data:`ACCURACY_DAYS` days, and the active model's held-back accuracy."""
    organization_id = principal.organization_id
    since = utcnow() - timedelta(days=ACCURACY_DAYS)
    applied: dict[str, int] = dict.fromkeys(FEEDBACK_FIELDS, 0)
    for fields in await repo.applied_since(session, organization_id, since):
        for field, value in fields.items():
            if field in applied:
                applied[field] += len(value) if isinstance(value, list) else 1
    changed = await repo.feedback_counts(session, organization_id, since)
    suggestions = await repo.suggestion_counts(session, organization_id, since)

    def counted(field: str, *statuses: SuggestionStatus) -> int:
        return sum(suggestions.get((field, status), 0) for status in statuses)

    rows = [
        FieldAccuracy(
            field=field,
            applied=applied[field],
            changed=min(changed.get(field, 0), applied[field]),
            kept_rate=(
                round(1 - min(changed.get(field, 0), applied[field]) / applied[field], 4)
                if applied[field]
                else None
            ),
            suggested=counted(field, *SuggestionStatus),
            suggestions_accepted=counted(field, SuggestionStatus.ACCEPTED),
            suggestions_rejected=counted(field, SuggestionStatus.REJECTED),
        )
        for field in FEEDBACK_FIELDS
    ]
    return AIAccuracyRead(
        since=since,
        days=ACCURACY_DAYS,
        fields=rows,
        model=_model_accuracy(await training_repo.active_model_row(session, organization_id)),
    )


def _model_accuracy(model: OrganizationAIModel | None) -> ModelAccuracy | None:
    if model is None:
        return None
    held_back: dict[str, dict[str, float]] = {}
    for task, scores in (model.metrics.get("tasks") or {}).items():
        learned, zero = scores.get("learned", {}), scores.get("zero_shot", {})
        held_back[task] = {
            "accuracy": float(learned.get("accuracy", 0.0)),
            "macro_f1": float(learned.get("macro_f1", 0.0)),
            "zero_shot_accuracy": float(zero.get("accuracy", 0.0)),
            "n": float(learned.get("n", 0)),
        }
    return ModelAccuracy(
        version=model.version,
        trained_at=model.trained_at,
        n_examples=model.n_examples,
        held_back=held_back,
    )
