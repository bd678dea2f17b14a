"""What one triage run proposes: the agents' prompts, the fields their answers would set,
and the decision rows that record each answer."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel

from ticketcreator.ai import text as analysis
from ticketcreator.ai.entities import extract_entities
from ticketcreator.ai.providers import Decision, Prompt
from ticketcreator.ai.tags import tag_name
from ticketcreator.ai.triage import similar_repository as similar_repo
from ticketcreator.ai.triage.local_provider import ENCODER_NAME, TicketContent
from ticketcreator.ai.triage.models import AIDecision
from ticketcreator.ai.triage.schemas import (
    CategorizationOutput,
    PriorityOutput,
    SummaryOutput,
    TriageSettings,
)
from ticketcreator.core.ai_config import LOCAL, AIConfig
from ticketcreator.core.db import utcnow
from ticketcreator.tickets.models import Ticket

ANALYSIS: Final = "analysis"


@dataclass
class Proposal:
    """A value an agent would set on a field, with its confidence."""

    field: str
    value: Any
    confidence: float
    agent: str


@dataclass
class Answer:
    """An agent's structured answer (None when no provider gave one) and how it was made."""

    agent: str
    value: BaseModel | None
    decision: Decision


def _render(template: str, values: dict[str, str]) -> str:
    """A prompt template with its ``{placeholders}`` filled; unknown ones are left as written."""

    class _Keep(dict[str, str]):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    try:
        return template.format_map(_Keep(values))
    except (ValueError, IndexError):
        return template


def build_prompts(config: AIConfig, organization: str, content: TicketContent) -> dict[str, Prompt]:
    """Each agent's prompt: its template filled in, and the ticket's texts."""
    categories = "\n".join(
        f"- {c.name}: {c.description}" if c.description else f"- {c.name}"
        for c in content.categories
    )
    values = {
        "organization": organization,
        "categories": categories or "(none defined)",
        "priorities": "urgent, high, normal, low",
    }
    context = "\n\n".join(content.context)
    user = f"Title: {content.title}\n\nDescription:\n{content.description}"
    if context:
        user += f"\n\nComments, transcripts and screenshot text:\n{context}"
    prompts = {}
    for agent in ("categorization", "priority", "summary"):
        found = config.agents.get(agent)
        template = config.prompt_templates.get(found.system_prompt_template, "") if found else ""
        prompts[agent] = Prompt(system=_render(template, values), user=user)
    return prompts


def propose(
    answers: dict[str, Answer], content: TicketContent, title_problem: str | None
) -> list[Proposal]:
    """Every field value the answers name (a title only when the reporter's is poor)."""
    ids = {c.name: str(c.id) for c in content.categories}
    proposals: list[Proposal] = []
    categorization = answers["categorization"].value
    if isinstance(categorization, CategorizationOutput):
        if categorization.category in ids:
            proposals.append(
                Proposal(
                    "category_id",
                    ids[categorization.category],
                    categorization.category_confidence,
                    "categorization",
                )
            )
        proposals.append(
            Proposal(
                "type", categorization.type.value, categorization.type_confidence, "categorization"
            )
        )
        seen: set[str] = set()
        for guess in categorization.tags:
            name = tag_name(guess.name)
            if name and name not in seen:
                seen.add(name)
                proposals.append(Proposal("tags", name, guess.confidence, "categorization"))
    priority = answers["priority"].value
    if isinstance(priority, PriorityOutput):
        proposals.append(
            Proposal("priority", priority.priority.value, priority.confidence, "priority")
        )
    summary = answers["summary"].value
    if isinstance(summary, SummaryOutput) and title_problem and summary.title.strip():
        proposals.append(
            Proposal("title", summary.title.strip(), summary.title_confidence, "summary")
        )
    return proposals


def already_set(ticket: Ticket, field: str, value: Any) -> bool:
    """Whether the ticket already has ``value`` in ``field``."""
    if field == "tags":
        return value in ticket.tag_names
    current = getattr(ticket, field)
    if field == "category_id":
        return current is not None and str(current) == value
    return bool(str(getattr(current, "value", current)) == value)


def _confidence(value: BaseModel | None) -> dict[str, float]:
    if value is None:
        return {}
    return {
        key.removesuffix("_confidence") if key != "confidence" else "value": float(number)
        for key, number in value.model_dump().items()
        if key.endswith("confidence")
    }


def decision_row(
    ticket: Ticket,
    run_id: uuid.UUID,
    answer: Answer,
    inputs_hash: str,
    model_version: str,
    applied: dict[str, Any],
) -> AIDecision:
    decision = answer.decision
    local = decision.provider == LOCAL
    confidence = _confidence(answer.value)
    if isinstance(answer.value, PriorityOutput):
        confidence = {"priority": answer.value.confidence}
    if isinstance(answer.value, CategorizationOutput):
        confidence.update({f"tag:{t.name}": t.confidence for t in answer.value.tags})
    return AIDecision(
        id=uuid.uuid4(),
        organization_id=ticket.organization_id,
        ticket_id=ticket.id,
        run_id=run_id,
        agent=answer.agent,
        provider=decision.provider,
        model=decision.model,
        model_version=model_version if local else decision.model,
        latency_ms=decision.latency_ms,
        cost=decision.cost,
        inputs_hash=inputs_hash,
        output=answer.value.model_dump(mode="json") if answer.value else {},
        confidence=confidence,
        applied=bool(applied),
        applied_fields=applied,
        record=decision.to_dict(),
        created_at=utcnow(),
    )


def analysis_row(
    ticket: Ticket,
    run_id: uuid.UUID,
    content: TicketContent,
    inputs_hash: str,
    neighbours: list[similar_repo.Neighbour],
    settings: TriageSettings,
    title_problem: str | None,
) -> AIDecision:
    """The local text analysis: language, sentiment, entities, key terms, similar tickets."""
    text = content.text
    language = analysis.detect_language(text)
    sentiment = analysis.analyze_sentiment(text)
    entities = extract_entities(text)
    terms = analysis.extract_key_terms(text, known_tags=content.known_tags)
    similar = [
        {
            "ticket_id": str(n.ticket_id),
            "similarity": round(n.similarity, 4),
            "possible_duplicate": n.similarity >= settings.duplicate_threshold,
        }
        for n in neighbours
    ]
    return AIDecision(
        id=uuid.uuid4(),
        organization_id=ticket.organization_id,
        ticket_id=ticket.id,
        run_id=run_id,
        agent=ANALYSIS,
        provider=LOCAL,
        model=ENCODER_NAME,
        model_version="text-analysis",
        latency_ms=0.0,
        cost=0.0,
        inputs_hash=inputs_hash,
        output={
            "language": language.language,
            "sentiment": sentiment.score,
            "entities": dataclasses.asdict(entities),
            "key_terms": [term.term for term in terms],
            "title_problem": title_problem,
            "similar": similar,
        },
        confidence={"language": language.confidence, "sentiment": sentiment.confidence},
        applied=False,
        applied_fields={},
        record={},
        created_at=utcnow(),
    )
