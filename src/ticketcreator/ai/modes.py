"""How the local provider is built for an evaluation: trained on labelled tickets, or from
label names only. Kept apart from :mod:`ticketcreator.ai.evaluation` so the CLI can offer
the choice without importing the evaluation stack."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    LEARNED = "learned"
    ZERO_SHOT = "zero-shot"
