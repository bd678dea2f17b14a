"""Privacy safeguards applied before ticket text leaves the service (e.g. for cloud AI)."""

from ticketcreator.privacy.redaction import (
    PiiKind,
    RedactionConfig,
    RedactionResult,
    redact,
)

__all__ = ["PiiKind", "RedactionConfig", "RedactionResult", "redact"]
