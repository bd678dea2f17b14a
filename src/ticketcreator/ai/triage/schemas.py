"""What the AI agents answer (the structured outputs every provider returns) and the API bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ticketcreator.ai.triage.models import SuggestionStatus
from ticketcreator.tickets.models import Priority, TicketType
from ticketcreator.tickets.models import Status as TicketStatus

Confidence = Annotated[float, Field(ge=0.0, le=1.0)]

# Agent outputs. Cloud providers receive their JSON schema; the local provider builds the same
# objects from the embedded models, so the pipeline never knows who answered.


class TagGuess(BaseModel):
    name: str = Field(max_length=50)
    confidence: Confidence


class CategorizationOutput(BaseModel):
    """Category (one of the organization's, by name), ticket type and tags."""

    category: str | None
    category_confidence: Confidence
    type: TicketType
    type_confidence: Confidence
    tags: list[TagGuess] = Field(max_length=10)


@lru_cache(maxsize=64)
def categorization_output(categories: tuple[str, ...]) -> type[CategorizationOutput]:
    """The categorization output restricted to an organization's category names.

    A provider that answers a category outside the list fails validation, so the router moves
    on to the next provider instead of storing a made-up category.
    """
    if not categories:
        category_type: Any = None
    else:
        category_type = Literal[categories] | None
    model: type[CategorizationOutput] = create_model(
        "CategorizationOutput",
        __base__=CategorizationOutput,
        category=(category_type, ...),
    )
    return model


class PriorityOutput(BaseModel):
    priority: Priority
    confidence: Confidence


class SummaryOutput(BaseModel):
    """A title proposal (used only when the reporter's title is poor) and a short summary."""

    title: str = Field(max_length=300)
    title_confidence: Confidence
    summary: str = Field(max_length=4000)
    summary_confidence: Confidence


# API


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class DecisionRead(_Output):
    id: uuid.UUID
    run_id: uuid.UUID
    agent: str = Field(description="`categorization`, `priority`, `summary` or `analysis`.")
    provider: str | None
    model: str | None
    model_version: str | None
    latency_ms: float
    cost: float
    inputs_hash: str = Field(description="SHA-256 of the redacted text the decision used.")
    output: dict[str, Any]
    confidence: dict[str, float]
    applied: bool
    applied_fields: dict[str, Any]
    record: dict[str, Any] = Field(
        description="The provider router's record: attempts, fallbacks, redactions, cost."
    )
    created_at: datetime


class SuggestionRead(_Output):
    id: uuid.UUID
    ticket_id: uuid.UUID
    field: str
    value: Any
    confidence: float
    status: SuggestionStatus
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    created_at: datetime


class SimilarTicket(BaseModel):
    ticket_id: uuid.UUID
    key: str
    title: str
    similarity: float = Field(description="Cosine similarity of the ticket texts, -1..1.")
    possible_duplicate: bool


class PastResolution(BaseModel):
    """A similar resolved ticket the caller may see, and how it was answered."""

    ticket_id: uuid.UUID
    key: str
    title: str
    similarity: float
    resolution: str | None = Field(description="Its last public reply, if any.")
    link: str = Field(description="The ticket in the API, e.g. `/v1/tickets/T-12`.")


class SuggestedAssignee(BaseModel):
    """Who resolved most of the similar resolved tickets (agents and admins only)."""

    user_id: uuid.UUID | None
    user_name: str | None
    team_id: uuid.UUID | None
    team_name: str | None
    resolved: int = Field(description="How many of the similar resolved tickets they had.")


class TicketAIRead(BaseModel):
    """What the AI made of a ticket: its latest analysis and every decision."""

    ticket_id: uuid.UUID
    summary: str | None
    language: str | None
    sentiment: float | None
    entities: dict[str, Any]
    suggested_title: str | None
    similar: list[SimilarTicket]
    suggestions: list[SuggestionRead]
    decisions: list[DecisionRead]
    resolutions: list[PastResolution] = Field(default_factory=list)
    suggested_assignee: SuggestedAssignee | None = None


class DraftReport(BaseModel):
    """A report being written, before it is submitted."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="", max_length=300)
    description: str = Field(default="", max_length=50_000)


class OpenMatch(BaseModel):
    ticket_id: uuid.UUID
    key: str
    title: str
    status: TicketStatus
    similarity: float
    message: str = Field(description='e.g. "This looks like T-123, already being worked on."')


class DraftMatches(BaseModel):
    matches: list[OpenMatch]


class TriageQueued(BaseModel):
    ticket_id: uuid.UUID
    status: Literal["queued"] = "queued"


class TrainingQueued(BaseModel):
    organization_id: uuid.UUID
    status: Literal["queued"] = "queued"


class ModelRead(_Output):
    id: uuid.UUID
    version: int
    tasks: list[str]
    metrics: dict[str, Any]
    active: bool
    n_examples: int
    trained_at: datetime


class ModelList(BaseModel):
    items: list[ModelRead]


class FieldAccuracy(BaseModel):
    """How the organization's people treated what the AI did to one field."""

    field: str = Field(description="`category_id`, `priority`, `type`, `title` or `tags`.")
    applied: int = Field(description="Values the AI set on tickets (each tag counts once).")
    changed: int = Field(description="Of those, values a person changed afterwards.")
    kept_rate: float | None = Field(
        description="Share of applied values nobody changed (null when none were applied)."
    )
    suggested: int = Field(description="Values the AI only suggested.")
    suggestions_accepted: int
    suggestions_rejected: int


class ModelAccuracy(BaseModel):
    """The active learned model and its accuracy on the organization's held-back tickets."""

    version: int
    trained_at: datetime
    n_examples: int
    held_back: dict[str, dict[str, float]] = Field(
        description="Per task: `accuracy` and `macro_f1` of the model and, for comparison, "
        "`zero_shot_accuracy` of triage without it, on tickets kept out of training."
    )


class AIAccuracyRead(BaseModel):
    since: datetime
    days: int
    fields: list[FieldAccuracy]
    model: ModelAccuracy | None = Field(
        description="Null while the organization is triaged zero-shot (no active model)."
    )


class TriageSettings(BaseModel):
    """Per-organization triage knobs (overridable at run time with ``PATCH /v1/ai/config``)."""

    model_config = ConfigDict(extra="forbid")

    duplicate_threshold: float = Field(
        default=0.9, ge=0.0, le=1.0, description="Similarity above which a ticket is a duplicate."
    )
    similar_limit: int = Field(default=5, ge=0, le=50, description="Similar tickets listed.")
    min_examples: int = Field(
        default=30, ge=4, description="Labelled tickets needed before a first model is trained."
    )
    min_new_labels: int = Field(
        default=20, ge=1, description="New labelled tickets that make a retraining worthwhile."
    )
    holdout_share: float = Field(
        default=0.2, gt=0.0, lt=0.5, description="Share of labelled tickets held back to evaluate."
    )
    training_debounce_s: int = Field(
        default=300, ge=0, description="Label changes within this window cause one training."
    )


class AIConfigPatch(BaseModel):
    """Run-time changes for this organization; `null` removes an override (back to the file)."""

    model_config = ConfigDict(extra="forbid")

    prompt_templates: dict[str, str | None] = Field(default_factory=dict)
    agents: dict[str, dict[str, Any] | None] = Field(
        default_factory=dict,
        description="Per agent (`categorization`, ...), the settings to change, e.g. "
        '`{"categorization": {"confidence_threshold": 0.7}}`.',
    )
    triage: dict[str, Any] | None = Field(
        default=None, description="Triage settings to change (see `TriageSettings`)."
    )


class AIConfigRead(BaseModel):
    """The effective configuration: the file, with this organization's overrides applied."""

    config: dict[str, Any] = Field(description="Every secret is masked.")
    triage: TriageSettings
    overrides: dict[str, Any]
    updated_at: datetime | None
