"""Priority and type of product bug reports, set the way an experienced support lead sets them.

A support lead reads a report for its *impact*: who is affected (everyone, many, one person),
whether they are blocked or have a workaround, and whether money, data, security or the
availability of the product is at stake; then for time pressure (a deadline today). Calm
reports are cosmetic problems, typos, questions and wishes. :func:`assess` finds these
signals with patterns (English), and :func:`priority_level` maps them onto the product's
four levels by the rules documented in ``docs/ai.md``. The type follows from the same
reading: a wish, a question, a request to do something, an outage, or else a bug.

Neither needs labelled tickets, so they serve every organization from its first ticket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ticketcreator.ai.local import impact_readings as read

PRIORITY_SCALE: Final = ("urgent", "high", "normal", "low")
TYPES: Final = ("bug", "incident", "question", "feature_request", "task")


@dataclass(frozen=True)
class Impact:
    """The signals a support lead weighs, found in one report."""

    everyone: bool
    many: bool
    blocked: bool
    workaround: bool
    money: bool
    data_loss: bool
    exposure: bool
    sensitive: bool
    outage: bool
    deadline: bool
    calm: bool
    cosmetic: bool
    wish: bool
    question: bool
    task: bool
    defect: bool
    weakness: bool
    core: bool
    onset: bool

    @property
    def signals(self) -> tuple[str, ...]:
        return tuple(name for name, value in vars(self).items() if value)


def _question(title: str, body: str) -> bool:
    first = re.split(r"(?<=[.!?])\s+", body.strip(), maxsplit=1)[0] if body.strip() else ""
    asks = title.strip().endswith("?") or first.endswith("?")
    return (
        asks or bool(read.QUESTION_START.search(title)) or bool(read.QUESTION_START.search(first))
    )


def assess(title: str, body: str = "") -> Impact:
    """The impact signals of a report: its title and description, or the two as one text
    joined by :func:`~.triage.ticket_text` ("<title>. <description>")."""
    if not body:
        title, _, body = title.partition(". ")
    text = f"{title}. {body}" if body else title
    return Impact(
        everyone=bool(read.EVERYONE.search(read.ONE_PERSONS.sub(" ", text))),
        many=bool(read.MANY.search(text)),
        blocked=bool(read.BLOCKED.search(text)),
        workaround=bool(read.WORKAROUND.search(text)),
        money=bool(read.MONEY.search(text)),
        data_loss=bool(read.DATA_LOSS.search(text)),
        exposure=bool(read.EXPOSURE.search(text)),
        sensitive=bool(read.SENSITIVE.search(text)),
        outage=bool(read.OUTAGE.search(text)),
        deadline=bool(read.DEADLINE.search(text)),
        calm=bool(read.CALM.search(text)),
        cosmetic=bool(read.COSMETIC.search(text)),
        wish=bool(read.WISH.search(text)),
        question=_question(title, body),
        task=bool(read.TASK.search(text)),
        defect=bool(read.DEFECT.search(text)),
        weakness=bool(read.SECURITY_WEAKNESS.search(text)),
        core=bool(read.CORE.search(text)),
        onset=bool(read.ONSET.search(text)),
    )


def ticket_type(impact: Impact) -> str:
    """The type a support lead files the report under (see ``docs/ai.md``)."""
    if (
        impact.everyone
        and not impact.workaround
        and (impact.outage or (impact.blocked and impact.core))
    ):
        return "incident"
    if impact.many and impact.outage and not impact.workaround:
        return "incident"
    if impact.outage and impact.core and impact.money and impact.onset and not impact.workaround:
        return "incident"  # a core path failing since a point in time, and business lost
    if impact.everyone and (impact.money or impact.data_loss) and impact.defect:
        return "incident"
    if impact.wish and not impact.defect:
        return "feature_request"
    if impact.task and not impact.defect:
        return "task"  # a request, even when phrased as a question ("could you ...?")
    if impact.question and not impact.defect:
        return "question"
    if impact.task and not (impact.defect and (impact.everyone or impact.many)):
        return "task"
    if impact.question and not (impact.blocked or impact.data_loss or impact.exposure):
        return "question"
    return "bug"


def priority_level(impact: Impact, type_: str) -> str:
    """The level on :data:`PRIORITY_SCALE` by the rules in ``docs/ai.md``."""
    return priority_decision(impact, type_)[0]


def priority_decision(impact: Impact, type_: str) -> tuple[str, str]:
    """The level and the rule that decided it (see ``docs/ai.md``)."""
    broad = impact.everyone or impact.many
    asking = type_ in ("question", "feature_request", "task")
    if impact.exposure:
        return "urgent", "security exposure"
    if impact.data_loss and not asking:
        return "urgent", "data loss"
    if (
        impact.everyone
        and not impact.workaround
        and (impact.outage or impact.money or (impact.blocked and impact.core))
    ):
        return "urgent", "everyone blocked"
    if type_ == "incident" and (impact.core or impact.money) and not impact.workaround:
        return "urgent", "outage of a core path"
    if (
        impact.everyone
        and impact.defect
        and not (impact.workaround or impact.calm or impact.cosmetic or impact.weakness)
        and not asking
    ):
        return "urgent", "wrong for everyone"
    if type_ == "feature_request":
        return ("normal", "wish costing work") if impact.workaround else ("low", "wish")
    if type_ == "question":
        if impact.sensitive or impact.core:
            return "normal", "question about a core path"
        return "low", "question"
    if type_ == "task":
        if impact.calm or impact.cosmetic:
            return "low", "task without time pressure"
        if impact.deadline or impact.money or impact.blocked:
            return "high", "task blocking work"
        return "normal", "task"
    if impact.cosmetic and not (impact.blocked or impact.money):
        return "low", "cosmetic"
    if impact.calm:
        return "normal", "reporter says it can wait"
    if broad:
        return "high", "many affected"
    if impact.blocked and not impact.workaround:
        return "high", "blocked without workaround"
    pressing = impact.money or impact.deadline or impact.sensitive or impact.outage
    if pressing and not impact.workaround and not impact.weakness:
        return "high", "money, deadline or sensitive data"
    return "normal", "default"
