"""AI triage of tickets, suggestions, feedback and the organization's AI configuration.

Triage reads the ticket (title, description, public comments), embeds it, asks the three
agents (categorization, priority, summary) through the provider router, which tries the
configured providers and ends with the embedded ``local`` one, and analyses the text locally
(language, sentiment, entities, key terms, similar tickets). A field whose confidence reaches
its agent's ``confidence_threshold`` is applied through the tickets service with the AI as
actor (a ticket event and ``ticket.updated`` with actor kind ``ai``, no user and no key),
unless a person has set that field; everything else becomes a suggestion. Each answer is
stored as a decision, and ``ticket.triaged`` announces the result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import httpx
import redis.asyncio as aioredis
from pydantic import BaseModel
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts import audit
from ticketcreator.accounts.audit import Actor, AuditAction, Origin
from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import ROLE_PERMISSIONS, Permission, Role
from ticketcreator.ai import text as analysis
from ticketcreator.ai.bugreport import clip, tag_name
from ticketcreator.ai.local.triage import ticket_text
from ticketcreator.ai.providers import (
    Decision,
    Prompt,
    Router,
    RoutingFailed,
    build_http_providers,
)
from ticketcreator.ai.triage import repository as repo
from ticketcreator.ai.triage.config import (
    effective_config,
    merge_overrides,
    public_view,
    threshold,
    triage_settings,
)
from ticketcreator.ai.triage.errors import InvalidAIConfig, SuggestionDecided
from ticketcreator.ai.triage.ledger import DatabaseSpendLedger
from ticketcreator.ai.triage.local_provider import (
    ENCODER_NAME,
    CategoryLabel,
    LocalProvider,
    LocalTriage,
    TicketContent,
    embed,
    learned_model,
)
from ticketcreator.ai.triage.models import (
    AIDecision,
    AIFeedback,
    AISettings,
    AISuggestion,
    OrganizationAIModel,
    SuggestionStatus,
)
from ticketcreator.ai.triage.schemas import (
    AIAccuracyRead,
    AIConfigPatch,
    AIConfigRead,
    CategorizationOutput,
    DecisionRead,
    DraftMatches,
    DraftReport,
    FieldAccuracy,
    ModelAccuracy,
    ModelList,
    ModelRead,
    OpenMatch,
    PastResolution,
    PriorityOutput,
    SimilarTicket,
    SuggestedAssignee,
    SuggestionRead,
    SummaryOutput,
    TicketAIRead,
    TriageSettings,
    categorization_output,
)
from ticketcreator.core.ai_config import LOCAL, AIConfig, get_ai_config
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import NotFound
from ticketcreator.core.events import Topic, emit
from ticketcreator.privacy.redaction import redact
from ticketcreator.taxonomy import repository as taxonomy_repo
from ticketcreator.tickets import service as tickets
from ticketcreator.tickets.actors import AutomatedPrincipal
from ticketcreator.tickets.models import ActorKind, Status, Ticket
from ticketcreator.tickets.repository import Visibility
from ticketcreator.tickets.schemas import TicketUpdate

log = logging.getLogger(__name__)

ANALYSIS: Final = "analysis"
_KNOWN_TAGS_LIMIT: Final = 500
# Fields whose human correction of an AI value is feedback.
FEEDBACK_FIELDS: Final = ("category_id", "priority", "type", "title", "tags")


def ai_principal(organization_id: uuid.UUID) -> Principal:
    """The AI as an actor: agent rights in the organization, no user and no API key.

    Ticket events it writes carry actor kind ``ai`` and neither a user nor a key: the timeline
    names the AI as the actor, and the feedback subscriber never takes the AI's own changes
    for corrections.
    """
    return AutomatedPrincipal(
        organization_id=organization_id,
        role=Role.AGENT,
        permissions=ROLE_PERMISSIONS[Role.AGENT],
        actor_kind=ActorKind.AI,
    )


# Configuration


async def runtime_config(
    session: AsyncSession, organization_id: uuid.UUID
) -> tuple[AIConfig, TriageSettings]:
    """The organization's effective configuration for triage.

    Overrides that no longer fit the file (say a template they refer to was removed from it)
    are ignored with a warning rather than stopping triage.
    """
    row = await repo.settings(session, organization_id)
    overrides = row.overrides if row else {}
    try:
        return effective_config(get_ai_config(), overrides), triage_settings(overrides)
    except InvalidAIConfig as exc:
        log.warning(
            "organization AI overrides ignored",
            extra={"organization_id": str(organization_id), "error": exc.detail},
        )
        return get_ai_config(), TriageSettings()


async def get_config(session: AsyncSession, principal: Principal) -> AIConfigRead:
    row = await repo.settings(session, principal.organization_id)
    overrides = row.overrides if row else {}
    return AIConfigRead(
        config=public_view(effective_config(get_ai_config(), overrides)),
        triage=triage_settings(overrides),
        overrides=overrides,
        updated_at=row.updated_at if row else None,
    )


async def update_config(
    session: AsyncSession, principal: Principal, patch: AIConfigPatch, origin: Origin
) -> AIConfigRead:
    """Validate and store the organization's overrides, and audit who changed what."""
    row = await repo.settings(session, principal.organization_id, lock=True)
    before = row.overrides if row else {}
    overrides = merge_overrides(before, patch)
    config = effective_config(get_ai_config(), overrides)
    settings = triage_settings(overrides)
    now = utcnow()
    if row is None:
        row = AISettings(organization_id=principal.organization_id, overrides=overrides)
        session.add(row)
    row.overrides = overrides
    row.updated_by = principal.user_id
    row.updated_at = now
    audit.record(
        session,
        AuditAction.AI_CONFIG_UPDATED,
        Actor.of(principal),
        origin,
        target_type="ai_config",
        target_id=principal.organization_id,
        details={
            "prompt_templates": sorted(patch.prompt_templates),
            "agents": {name: sorted(c or {}) for name, c in patch.agents.items()},
            "triage": sorted(patch.triage or {}),
        },
    )
    await session.flush()
    return AIConfigRead(
        config=public_view(config), triage=settings, overrides=overrides, updated_at=now
    )


# Triage


@dataclass
class _Proposal:
    field: str
    value: Any
    confidence: float
    agent: str


@dataclass
class _Answer:
    agent: str
    value: BaseModel | None
    decision: Decision


async def _ask(
    router: Router,
    prompt: Prompt,
    output: type[BaseModel],
    agent: str,
    config: AIConfig,
    ticket_id: uuid.UUID,
) -> _Answer:
    try:
        routed = await router.complete(
            prompt, output, agent=agent if agent in config.agents else None, ticket_id=ticket_id
        )
    except RoutingFailed as exc:
        return _Answer(agent, None, exc.decision)
    return _Answer(agent, routed.value, routed.decision)


def _render(template: str, values: dict[str, str]) -> str:
    """A prompt template with its ``{placeholders}`` filled; unknown ones are left as written."""

    class _Keep(dict[str, str]):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    try:
        return template.format_map(_Keep(values))
    except (ValueError, IndexError):
        return template


def _prompts(config: AIConfig, organization: str, content: TicketContent) -> dict[str, Prompt]:
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


def _proposals(
    answers: dict[str, _Answer], content: TicketContent, title_problem: str | None
) -> list[_Proposal]:
    ids = {c.name: str(c.id) for c in content.categories}
    proposals: list[_Proposal] = []
    categorization = answers["categorization"].value
    if isinstance(categorization, CategorizationOutput):
        if categorization.category in ids:
            proposals.append(
                _Proposal(
                    "category_id",
                    ids[categorization.category],
                    categorization.category_confidence,
                    "categorization",
                )
            )
        proposals.append(
            _Proposal(
                "type", categorization.type.value, categorization.type_confidence, "categorization"
            )
        )
        seen: set[str] = set()
        for guess in categorization.tags:
            name = tag_name(guess.name)
            if name and name not in seen:
                seen.add(name)
                proposals.append(_Proposal("tags", name, guess.confidence, "categorization"))
    priority = answers["priority"].value
    if isinstance(priority, PriorityOutput):
        proposals.append(
            _Proposal("priority", priority.priority.value, priority.confidence, "priority")
        )
    summary = answers["summary"].value
    if isinstance(summary, SummaryOutput) and title_problem and summary.title.strip():
        proposals.append(
            _Proposal("title", summary.title.strip(), summary.title_confidence, "summary")
        )
    return proposals


def _current(ticket: Ticket, field: str, value: Any) -> bool:
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


def _decision_row(
    ticket: Ticket,
    run_id: uuid.UUID,
    answer: _Answer,
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


async def triage(session: AsyncSession, ticket_id: uuid.UUID) -> uuid.UUID | None:
    """Triage one ticket; returns the run id (None when the ticket is gone)."""
    ticket = await repo.ticket(session, ticket_id)
    if ticket is None:
        return None
    organization_id = ticket.organization_id
    config, settings = await runtime_config(session, organization_id)
    categories = await repo.categories(session, organization_id)
    known_tags = await taxonomy_repo.list_tags(session, organization_id, None, _KNOWN_TAGS_LIMIT)
    content = TicketContent(
        title=ticket.title,
        description=ticket.description,
        context=[
            *await repo.public_comments(session, ticket.id),
            *await repo.capture_texts(session, ticket.id),
        ],
        categories=[CategoryLabel(c.id, c.name, c.description) for c in categories],
        known_tags=[tag.name for tag in known_tags],
        captures=await repo.capture_facts(session, ticket.id),
        title_generated=await repo.title_generated(session, ticket.id),
    )
    text = content.text
    inputs_hash = hashlib.sha256(redact(text).text.encode()).hexdigest()
    vector = embed(text)
    await repo.save_embedding(session, organization_id, ticket.id, vector[0], ENCODER_NAME)
    local = LocalTriage(content, vector)
    active = await repo.active_model(session, organization_id)
    if active is not None:
        model_id, version = active
        local.learned = learned_model(model_id, None) or learned_model(
            model_id, await repo.model_blob(session, model_id)
        )
        local.model_version = f"learned-v{version}"
    prompts = _prompts(config, await repo.organization_name(session, organization_id), content)
    outputs: dict[str, type[BaseModel]] = {
        "categorization": categorization_output(tuple(c.name for c in categories)),
        "priority": PriorityOutput,
        "summary": SummaryOutput,
    }
    async with httpx.AsyncClient() as client:
        providers = [*build_http_providers(config, client), LocalProvider(local)]
        router = Router(config, providers, DatabaseSpendLedger(organization_id))
        answers = {
            agent: await _ask(router, prompts[agent], output, agent, config, ticket.id)
            for agent, output in outputs.items()
        }
    title_problem = analysis.title_problem(ticket.title) or (
        "generated" if content.title_generated else None
    )
    human = await repo.human_set_fields(session, ticket.id)
    await repo.drop_pending_suggestions(session, ticket.id)
    applied: dict[str, dict[str, Any]] = {agent: {} for agent in answers}
    suggested: list[_Proposal] = []
    for proposal in _proposals(answers, content, title_problem):
        if _current(ticket, proposal.field, proposal.value):
            continue
        confident = proposal.confidence > threshold(config, proposal.agent)
        if confident and proposal.field not in human:
            if proposal.field == "tags":
                applied[proposal.agent].setdefault("tags", []).append(proposal.value)
            else:
                applied[proposal.agent][proposal.field] = proposal.value
        else:
            suggested.append(proposal)
    run_id = uuid.uuid4()
    rows = {
        agent: _decision_row(
            ticket, run_id, answer, inputs_hash, local.model_version, applied[agent]
        )
        for agent, answer in answers.items()
    }
    # Stored organization-wide; each reader sees the part their visibility allows.
    neighbours = await repo.similar_tickets(
        session, Visibility.whole(organization_id), ticket.id, settings.similar_limit
    )
    rows[ANALYSIS] = _analysis_row(
        ticket, run_id, content, inputs_hash, neighbours, settings, title_problem
    )
    session.add_all(rows.values())
    await session.flush()
    session.add_all(
        AISuggestion(
            id=uuid.uuid4(),
            organization_id=organization_id,
            ticket_id=ticket.id,
            decision_id=rows[proposal.agent].id,
            field=proposal.field,
            value=proposal.value,
            confidence=proposal.confidence,
            status=SuggestionStatus.PENDING,
            created_at=utcnow(),
        )
        for proposal in suggested
    )
    changes = {
        field: value
        for agent_fields in applied.values()
        for field, value in agent_fields.items()
        if field != "tags"
    }
    tags = [tag for agent_fields in applied.values() for tag in agent_fields.get("tags", [])]
    actor = ai_principal(organization_id)
    if changes:
        update = TicketUpdate.model_validate(changes)
        await tickets.update_ticket(session, actor, str(ticket.id), update, None)
    if tags:
        await tickets.change_tags(session, actor, str(ticket.id), add=tags)
    emit(
        session,
        Topic.TICKET_TRIAGED,
        {
            "ticket_id": str(ticket.id),
            "run_id": str(run_id),
            "applied": {**changes, **({"tags": tags} if tags else {})},
            "suggested": sorted({proposal.field for proposal in suggested}),
            "possible_duplicates": [
                str(n.ticket_id) for n in neighbours if n.similarity >= settings.duplicate_threshold
            ],
            "providers": {agent: answer.decision.provider for agent, answer in answers.items()},
        },
        organization_id=organization_id,
    )
    await session.flush()
    return run_id


def _analysis_row(
    ticket: Ticket,
    run_id: uuid.UUID,
    content: TicketContent,
    inputs_hash: str,
    neighbours: list[repo.Neighbour],
    settings: TriageSettings,
    title_problem: str | None,
) -> AIDecision:
    """The local text analysis: language, sentiment, entities, key terms, similar tickets."""
    text = content.text
    language = analysis.detect_language(text)
    sentiment = analysis.analyze_sentiment(text)
    entities = analysis.extract_entities(text)
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


async def request_triage(session: AsyncSession, principal: Principal, ref: str) -> Ticket:
    """Queue a new triage run of the ticket (delivered to the ``ai`` queue after commit)."""
    ticket = await tickets.load(session, principal, ref)
    emit(
        session,
        Topic.AI_TRIAGE_REQUESTED,
        {"ticket_id": str(ticket.id)},
        organization_id=ticket.organization_id,
    )
    return ticket


# Reading


async def ticket_ai(session: AsyncSession, principal: Principal, ref: str) -> TicketAIRead:
    ticket = await tickets.load(session, principal, ref)
    _, settings = await runtime_config(session, ticket.organization_id)
    decisions = await repo.decisions(session, ticket.id)
    latest: dict[str, AIDecision] = {}
    for decision in decisions:
        latest.setdefault(decision.agent, decision)
    analysed = latest.get(ANALYSIS)
    summary = latest.get("summary")
    neighbours = await repo.similar_tickets(
        session, tickets.visibility(principal), ticket.id, settings.similar_limit
    )
    named = {
        uuid.UUID(item["ticket_id"])
        for decision in decisions
        for item in decision.output.get("similar") or ()
    }
    visible = {str(id_) for id_ in await tickets.visible_ids(session, principal, named)}
    return TicketAIRead(
        ticket_id=ticket.id,
        summary=summary.output.get("summary") if summary else None,
        language=analysed.output.get("language") if analysed else None,
        sentiment=analysed.output.get("sentiment") if analysed else None,
        entities=analysed.output.get("entities", {}) if analysed else {},
        suggested_title=(
            summary.output.get("title")
            if summary and analysed and analysed.output.get("title_problem")
            else None
        ),
        similar=[
            SimilarTicket(
                ticket_id=n.ticket_id,
                key=f"T-{n.number}",
                title=n.title,
                similarity=round(n.similarity, 4),
                possible_duplicate=n.similarity >= settings.duplicate_threshold,
            )
            for n in neighbours
        ],
        suggestions=[
            SuggestionRead.model_validate(s) for s in await repo.suggestions(session, ticket.id)
        ],
        decisions=[_decision_read(d, visible) for d in decisions],
        **await _past_resolutions(session, principal, ticket),
    )


# Context from earlier tickets

RESOLVED: Final = (Status.RESOLVED, Status.CLOSED)
WORKED_ON: Final = (Status.OPEN, Status.IN_PROGRESS, Status.WAITING)
# MiniLM cosine above which an earlier ticket is about the same problem (paraphrases of one
# report score 0.6-0.9, unrelated reports of one product 0.1-0.4).
RELATED_SIMILARITY: Final = 0.6
_RESOLUTIONS: Final = 3


async def _past_resolutions(
    session: AsyncSession, principal: Principal, ticket: Ticket
) -> dict[str, Any]:
    """The most similar resolved tickets the caller may see, with their last public reply,
    and (for agents) who resolved most of them."""
    vector = await repo.stored_embedding(session, ticket.id)
    if vector is None:
        return {}
    nearby = await repo.nearest_tickets(
        session,
        vector,
        tickets.visibility(principal).tickets(),
        RESOLVED,
        exclude=ticket.id,
        min_similarity=RELATED_SIMILARITY,
        limit=_RESOLUTIONS,
    )
    replies = await repo.last_public_replies(session, [n.ticket_id for n in nearby])
    resolutions = [
        PastResolution(
            ticket_id=n.ticket_id,
            key=f"T-{n.number}",
            title=n.title,
            similarity=round(n.similarity, 4),
            resolution=clip(replies[n.ticket_id], 600) if n.ticket_id in replies else None,
            link=f"/v1/tickets/T-{n.number}",
        )
        for n in nearby
    ]
    assignee = None
    handlers = Counter((n.assignee_id, n.team_id) for n in nearby if n.assignee_id or n.team_id)
    if handlers and principal.can(Permission.TICKETS_WRITE):
        (user_id, team_id), count = handlers.most_common(1)[0]
        user_name, team_name = await repo.names(session, ticket.organization_id, user_id, team_id)
        assignee = SuggestedAssignee(
            user_id=user_id,
            user_name=user_name,
            team_id=team_id,
            team_name=team_name,
            resolved=count,
        )
    return {"resolutions": resolutions, "suggested_assignee": assignee}


async def draft_matches(
    session: AsyncSession, principal: Principal, draft: DraftReport
) -> DraftMatches:
    """Open tickets the caller may see that a report being written looks like, before it is
    filed (a reporter sees only their own tickets)."""
    text = ticket_text(draft.title, draft.description)
    if not text:
        return DraftMatches(matches=[])
    nearby = await repo.nearest_tickets(
        session,
        [float(x) for x in embed(text)[0]],
        tickets.visibility(principal).tickets(),
        WORKED_ON,
        exclude=None,
        min_similarity=RELATED_SIMILARITY,
        limit=_RESOLUTIONS,
    )
    return DraftMatches(
        matches=[
            OpenMatch(
                ticket_id=n.ticket_id,
                key=f"T-{n.number}",
                title=n.title,
                status=n.status,
                similarity=round(n.similarity, 4),
                message=(
                    f"This looks like T-{n.number}, already being worked on."
                    if n.status is Status.IN_PROGRESS
                    else f"This looks like T-{n.number}, already reported."
                ),
            )
            for n in nearby
        ]
    )


def _decision_read(decision: AIDecision, visible: set[str]) -> DecisionRead:
    """A stored decision as the caller may see it: similar tickets they may not see left out."""
    read = DecisionRead.model_validate(decision)
    similar = read.output.get("similar")
    if similar is not None:
        shown = [item for item in similar if item["ticket_id"] in visible]
        read.output = {**read.output, "similar": shown}
    return read


# Suggestions


async def _pending(
    session: AsyncSession, principal: Principal, ref: str, suggestion_id: uuid.UUID
) -> tuple[Ticket, AISuggestion]:
    ticket = await tickets.load(session, principal, ref)
    suggestion = await repo.suggestion(session, ticket.id, suggestion_id, lock=True)
    if suggestion is None:
        raise NotFound("No such suggestion on this ticket.")
    if suggestion.status is not SuggestionStatus.PENDING:
        raise SuggestionDecided(
            f"The suggestion was already {suggestion.status.value}.",
            status=suggestion.status.value,
        )
    return ticket, suggestion


async def accept_suggestion(
    session: AsyncSession, principal: Principal, ref: str, suggestion_id: uuid.UUID
) -> AISuggestion:
    """Apply the suggested value as the caller (a person's choice, so also a label)."""
    ticket, suggestion = await _pending(session, principal, ref, suggestion_id)
    if suggestion.field == "tags":
        await tickets.change_tags(session, principal, str(ticket.id), add=[suggestion.value])
    else:
        update = TicketUpdate.model_validate({suggestion.field: suggestion.value})
        await tickets.update_ticket(session, principal, str(ticket.id), update, None)
    return _decide(suggestion, principal, SuggestionStatus.ACCEPTED)


async def reject_suggestion(
    session: AsyncSession, principal: Principal, ref: str, suggestion_id: uuid.UUID
) -> AISuggestion:
    _, suggestion = await _pending(session, principal, ref, suggestion_id)
    return _decide(suggestion, principal, SuggestionStatus.REJECTED)


def _decide(
    suggestion: AISuggestion, principal: Principal, status: SuggestionStatus
) -> AISuggestion:
    suggestion.status = status
    suggestion.decided_by = principal.user_id
    suggestion.decided_at = utcnow()
    return suggestion


# Feedback


async def record_feedback(session: AsyncSession, message: dict[str, Any]) -> list[AIFeedback]:
    """Store a person's change of a field the AI had set; schedule training on label changes.

    Reads ``ticket.updated`` events: their ``changes`` list every field with old and new
    value, and ``actor_kind`` says whether a person (directly or through an API key) made it.
    """
    payload = message["payload"]
    if payload.get("actor_kind") not in (ActorKind.USER, ActorKind.API_KEY):
        return []
    user_id, key_id = payload.get("actor_user_id"), payload.get("actor_api_key_id")
    ticket_id = uuid.UUID(payload["ticket_id"])
    organization_id = uuid.UUID(message["organization_id"])
    feedback: list[AIFeedback] = []
    for change in payload.get("changes", []):
        field = change["field"]
        if field not in FEEDBACK_FIELDS:
            continue
        decision = await repo.latest_applied(session, ticket_id, field)
        if decision is None:
            continue
        ai_value = decision.applied_fields[field]
        corrected = (
            change["old"] is not None and change["old"] in ai_value
            if field == "tags"
            else change["old"] == ai_value
        )
        if corrected:
            feedback.append(
                AIFeedback(
                    id=uuid.uuid4(),
                    organization_id=organization_id,
                    ticket_id=ticket_id,
                    decision_id=decision.id,
                    field=field,
                    ai_value=change["old"],
                    human_value=change["new"],
                    actor_user_id=uuid.UUID(user_id) if user_id else None,
                    actor_api_key_id=uuid.UUID(key_id) if key_id else None,
                    created_at=utcnow(),
                )
            )
    session.add_all(feedback)
    if any(change["field"] in repo.LABEL_FIELDS for change in payload.get("changes", [])):
        _, settings = await runtime_config(session, organization_id)
        await schedule_training(session, organization_id, settings.training_debounce_s)
    await session.flush()
    return feedback


async def schedule_training(
    session: AsyncSession, organization_id: uuid.UUID, debounce_s: int
) -> bool:
    """Announce one training of the organization ``debounce_s`` from now (a delayed
    ``ai.training_due`` event), unless one is announced already.

    Label changes come in bursts (a person re-categorizing a dozen tickets); a Redis key that
    lives for the debounce window lets only the first change of a burst announce a training
    (if that change is rolled back, the hourly ``ai.train_due`` catches up). Returns whether a
    training was announced.
    """
    cfg = get_settings().redis
    client = aioredis.Redis.from_url(cfg.url, socket_timeout=cfg.socket_timeout_s)
    try:
        first = await client.set(
            f"ai:training-queued:{organization_id}", "1", nx=True, ex=max(1, debounce_s)
        )
    except RedisError:
        first = True  # without Redis, better one training too many than none
    finally:
        await client.aclose()
    if not first:
        return False
    emit(
        session,
        Topic.AI_TRAINING_DUE,
        {"organization_id": str(organization_id), "force": False},
        organization_id=organization_id,
        delay=timedelta(seconds=debounce_s),
    )
    return True


# Accuracy

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
        model=_model_accuracy(await repo.active_model_row(session, organization_id)),
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


# Models


async def list_models(session: AsyncSession, principal: Principal) -> ModelList:
    rows = await repo.models(session, principal.organization_id)
    return ModelList(items=[ModelRead.model_validate(row) for row in rows])


def request_training(session: AsyncSession, principal: Principal) -> None:
    """Queue a training of the organization's model (delivered after commit)."""
    emit(
        session,
        Topic.AI_TRAINING_REQUESTED,
        {"organization_id": str(principal.organization_id), "force": True},
        organization_id=principal.organization_id,
    )
