"""The triage run: read the ticket, ask the agents, store and apply the results.

Triage reads the ticket (title, description, public comments, capture texts), embeds it, asks
the three agents (categorization, priority, summary) through the provider router, which tries
the configured providers and ends with the embedded ``local`` one, and analyses the text
locally (language, sentiment, entities, key terms, similar tickets). A field whose confidence
reaches its agent's ``confidence_threshold`` is applied with the AI as actor (ticket events
and one ``ticket.updated`` with actor kind ``ai``, no user and no key), unless a person has
set that field; everything else becomes a suggestion. Each answer is stored as a decision,
and ``ticket.triaged`` announces the result.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Final

import httpx
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import ROLE_PERMISSIONS, Role
from ticketcreator.ai import text as analysis
from ticketcreator.ai.local.base import FloatArray
from ticketcreator.ai.local.triage import LearnedTriage
from ticketcreator.ai.providers import Prompt, Router, RoutingFailed, build_http_providers
from ticketcreator.ai.triage import repository as repo
from ticketcreator.ai.triage import similar_repository as similar_repo
from ticketcreator.ai.triage import training_repository as training_repo
from ticketcreator.ai.triage.config import runtime_config, threshold
from ticketcreator.ai.triage.ledger import DatabaseSpendLedger
from ticketcreator.ai.triage.local_provider import (
    ENCODER_NAME,
    ZERO_SHOT_VERSION,
    CategoryLabel,
    LocalProvider,
    LocalTriage,
    TicketContent,
    embed,
    learned_model,
)
from ticketcreator.ai.triage.models import AISuggestion, SuggestionStatus
from ticketcreator.ai.triage.proposals import (
    ANALYSIS,
    Answer,
    Proposal,
    already_set,
    analysis_row,
    build_prompts,
    decision_row,
    propose,
)
from ticketcreator.ai.triage.schemas import (
    PriorityOutput,
    SummaryOutput,
    TriageSettings,
    categorization_output,
)
from ticketcreator.core.ai_config import AIConfig
from ticketcreator.core.db import read_session_factory, utcnow
from ticketcreator.core.events import Topic, emit
from ticketcreator.privacy.redaction import redact
from ticketcreator.taxonomy import lookups as taxonomy_lookups
from ticketcreator.tickets import changes as ticket_changes
from ticketcreator.tickets import service as tickets_service
from ticketcreator.tickets.actors import AutomatedPrincipal
from ticketcreator.tickets.models import ActorKind, Ticket
from ticketcreator.tickets.schemas import TicketUpdate
from ticketcreator.tickets.visibility import Visibility

log = logging.getLogger(__name__)

_KNOWN_TAGS_LIMIT: Final = 500


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


async def _ask(
    router: Router,
    prompt: Prompt,
    output: type[BaseModel],
    agent: str,
    config: AIConfig,
    ticket_id: uuid.UUID,
) -> Answer:
    try:
        routed = await router.complete(
            prompt, output, agent=agent if agent in config.agents else None, ticket_id=ticket_id
        )
    except RoutingFailed as exc:
        return Answer(agent, None, exc.decision)
    return Answer(agent, routed.value, routed.decision)


@dataclass(frozen=True)
class _Gathered:
    """What a triage run reads before asking anyone: the ticket as it was, and its settings."""

    ticket_id: uuid.UUID
    organization_id: uuid.UUID
    organization: str
    config: AIConfig
    settings: TriageSettings
    content: TicketContent
    learned: LearnedTriage | None
    model_version: str


async def triage(session: AsyncSession, ticket_id: uuid.UUID) -> uuid.UUID | None:
    """Triage one ticket; returns the run id (None when the ticket is gone).

    Three steps, so that no transaction waits on a model or a vendor: the ticket, its texts
    and the organization's settings are read in a connection of their own that keeps no
    transaction; the encoder and the providers (local models, cloud HTTP) answer with no
    database work pending; then, in ``session``, the ticket is locked and read again and the
    results are written: decisions, suggestions, and the applied fields as one change (one
    version, one ``ticket.updated``). A ticket deleted meanwhile gets nothing; a field a person
    set, before the run or while it ran, is only suggested. The writes stay in the caller's
    session, uncommitted, so that the worker commits them with the delivery of the event that
    asked for the run: a run is recorded once or not at all.
    """
    gathered = await _gather(ticket_id)
    if gathered is None:
        return None
    text = gathered.content.text
    inputs_hash = hashlib.sha256(redact(text).text.encode()).hexdigest()
    vector = embed(text)
    local = LocalTriage(gathered.content, vector, gathered.learned, gathered.model_version)
    answers = await _ask_agents(gathered, local)
    return await _record(session, gathered, answers, inputs_hash, vector)


async def _gather(ticket_id: uuid.UUID) -> _Gathered | None:
    async with read_session_factory()() as session:
        ticket = await repo.ticket(session, ticket_id)
        if ticket is None:
            return None
        organization_id = ticket.organization_id
        config, settings = await runtime_config(session, organization_id)
        categories = await repo.categories(session, organization_id)
        known_tags = await taxonomy_lookups.list_tags(
            session, organization_id, None, _KNOWN_TAGS_LIMIT
        )
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
        learned: LearnedTriage | None = None
        model_version = ZERO_SHOT_VERSION
        active = await training_repo.active_model(session, organization_id)
        if active is not None:
            model_id, version = active
            learned = learned_model(model_id, None) or learned_model(
                model_id, await training_repo.model_blob(session, model_id)
            )
            model_version = f"learned-v{version}"
        return _Gathered(
            ticket_id=ticket.id,
            organization_id=organization_id,
            organization=await repo.organization_name(session, organization_id),
            config=config,
            settings=settings,
            content=content,
            learned=learned,
            model_version=model_version,
        )


async def _ask_agents(gathered: _Gathered, local: LocalTriage) -> dict[str, Answer]:
    config, content = gathered.config, gathered.content
    prompts = build_prompts(config, gathered.organization, content)
    outputs: dict[str, type[BaseModel]] = {
        "categorization": categorization_output(tuple(c.name for c in content.categories)),
        "priority": PriorityOutput,
        "summary": SummaryOutput,
    }
    async with httpx.AsyncClient() as client:
        providers = [*build_http_providers(config, client), LocalProvider(local)]
        router = Router(config, providers, DatabaseSpendLedger(gathered.organization_id))
        return {
            agent: await _ask(router, prompts[agent], output, agent, config, gathered.ticket_id)
            for agent, output in outputs.items()
        }


async def _record(
    session: AsyncSession,
    gathered: _Gathered,
    answers: dict[str, Answer],
    inputs_hash: str,
    vector: FloatArray,
) -> uuid.UUID | None:
    """Store the run's results on the ticket as it is now (locked until the caller commits)."""
    ticket = await repo.ticket(session, gathered.ticket_id, lock=True)
    if ticket is None:
        return None
    tickets_service.hold(session, ticket)  # the rules reacting to the run use this row
    organization_id, config, settings = ticket.organization_id, gathered.config, gathered.settings
    content = gathered.content
    title_problem = analysis.title_problem(content.title) or (
        "generated" if content.title_generated else None
    )
    human = await repo.human_set_fields(session, ticket.id)
    await similar_repo.save_embedding(session, organization_id, ticket.id, vector[0], ENCODER_NAME)
    await repo.drop_pending_suggestions(session, ticket.id)
    applied: dict[str, dict[str, Any]] = {agent: {} for agent in answers}
    suggested: list[Proposal] = []
    for proposal in propose(answers, content, title_problem):
        if already_set(ticket, proposal.field, proposal.value):
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
        agent: decision_row(
            ticket, run_id, answer, inputs_hash, gathered.model_version, applied[agent]
        )
        for agent, answer in answers.items()
    }
    # Stored organization-wide; each reader sees the part their visibility allows.
    neighbours = await similar_repo.similar_tickets(
        session, Visibility.whole(organization_id), ticket.id, settings.similar_limit
    )
    rows[ANALYSIS] = analysis_row(
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
    if changes or tags:
        update = TicketUpdate.model_validate(changes).model_dump(exclude_unset=True)
        await ticket_changes.apply(session, ai_principal(organization_id), ticket, update, tags)
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


def request_triage(session: AsyncSession, ticket: Ticket) -> None:
    """Queue a new triage run of the ticket (delivered to the ``ai`` queue after commit)."""
    emit(
        session,
        Topic.AI_TRIAGE_REQUESTED,
        {"ticket_id": str(ticket.id)},
        organization_id=ticket.organization_id,
    )
