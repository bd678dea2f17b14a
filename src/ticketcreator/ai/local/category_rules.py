"""Readings of a bug report that the labelling rules tie to a kind of category.

The labelling rules of ``docs/ai.md`` file a report by the product area that is broken, with
readings a support lead applies whatever the organization calls its categories: a data
exposure or a security weakness is security; lost records are data; a typo or a wrong colour
is the interface; a named tool's sync or import is an integration; a named phone or tablet
app points to the mobile category; and availability only when the report says the product
is down, unreachable or slow (a checkout failing with 500 is a payment problem). Each rule
finds its *kind* of category by patterns on the category's name and one-line description, so
it works for any organization's taxonomy, and its reading of the report by patterns on the
report (most of them :func:`~.impact.assess`'s signals).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from ticketcreator.ai.local.base import FloatArray
from ticketcreator.ai.local.impact import Impact, assess
from ticketcreator.ai.local.zeroshot import LabelSpec

# Outweighs any similarity and the other readings together: an exposure always goes to
# security, even when it happens in another area ("our API key is in the page source").
EXPOSURE_WEIGHT: Final = 2.0
# The other readings tip close calls. Chosen on the development reports: category accuracy
# 0.756 without them, 0.802 at 0.3, 0.814 at 0.4, 0.831 at 0.5 and 0.6, 0.826 at 0.8.
RULE_WEIGHT: Final = 0.5


def _rx(pattern: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    return re.compile(pattern, flags)


_SECURITY_KIND: Final = _rx(r"secur|privacy|permission|access\s+rights")
_RECORDS_KIND: Final = _rx(r"\blost\b|\bloss\b|\bmissing\b|\bdeleted\b")
_LOOKS_KIND: Final = _rx(r"typo|translation|layout|how\s+\w+\s+looks?|\bdesign|\bui\b|interface")
_INTEGRATION_KIND: Final = _rx(r"\bapi\b|webhook|integration|connection|other\s+tools")
_MOBILE_KIND: Final = _rx(r"mobile|\bios\b|android|tablet")
_AVAILABILITY_KIND: Final = _rx(
    r"\bdown\b|outage|unreachable|\bslow|timing\s+out|availability|performance|uptime"
)

# The report says the product (or a page) is unavailable or slow.
_UNAVAILABLE_OR_SLOW: Final = _rx(
    r"\b(?:down|offline|unreachable|outage|sluggish|lag(?:gy|s)?|slow(?:ly|er|ness)?|"
    r"unavailable|timeouts?|time[sd]?[- ]out|timing\s+out|50[234]|bad\s+gateway|"
    r"not\s+(?:reachable|loading|load)|(?:unable\s+to|can'?t|cannot)\s+(?:reach|connect|load)|"
    r"blank\s+(?:white\s+)?page|status\s+page|ERR_CONNECTION\w*|"
    r"takes?\s+(?:about\s+|around\s+|over\s+|~)?\d+\+?\s*(?:s|sec|seconds|minutes?|min)\b|"
    r"\d+\+?\s*(?:s|seconds|minutes)\s+to\s+load)"
)
# The app on a phone or tablet is named ("the Android app", "iPad app", "app ... on iOS").
_MOBILE_APP: Final = _rx(
    r"\b(?:ios|android|iphone|ipad|tablet)\b[^.]*\bapp\b|\bapp\b[^.]*\b(?:ios|android|iphone|"
    r"ipad|tablet)\b|\b(?:mobile|phone|ipad|iphone|android|ios|tablet)\s+app\b"
)
# Another tool by name, next to the way data reaches it ("Salesforce sync", "pushed to Xero"),
# or the words of connections themselves. Names are capitalised words that do not start a
# sentence and are not file formats, browsers or platforms.
_NOT_A_TOOL = (
    r"(?:The|This|That|Our|We|It|I|CSV|PDF|XML|JSON|Excel|Android|iOS|iPhone|iPad|Safari|"
    r"Chrome|Firefox|Edge)\b"
)
_OTHER_TOOL: Final = _rx(
    rf"(?<!^)(?<![.!?]\s)(?<!\n)\b(?!{_NOT_A_TOOL})[A-Z][\w.]*(?:\s[A-Z][\w.]*)?\s+"
    r"(?:sync(?:ed|ing|s)?|integration|connection|connector|add-?on|plug-?in|import(?:er)?|"
    r"export|feeds?|trigger|links?|calendar)\b"
    r"|\b(?:sync(?:ed|s)?|push(?:ed)?|copied|connect(?:ed)?|post(?:ed)?|sent|export(?:ed)?|"
    rf"import(?:ed)?)\s+(?:to|with|from|into)\s+(?!{_NOT_A_TOOL}|(?i:the|our|a|an|my|your|their|"
    r"all)\b)[A-Z]\w+"
    r"|(?i:\b(?:webhooks?|api\s+keys?|oauth|add-?ons?|plug-?ins?)\b)",
    flags=0,
)


@dataclass(frozen=True)
class CategoryRule:
    """Categories of ``kind`` get ``weight`` on reports that ``applies`` to (may be negative)."""

    kind: re.Pattern[str]
    applies: Callable[[Impact, str], bool]
    weight: float


RULES: Final = (
    CategoryRule(_SECURITY_KIND, lambda impact, _: impact.exposure, EXPOSURE_WEIGHT),
    CategoryRule(_SECURITY_KIND, lambda impact, _: impact.weakness, RULE_WEIGHT),
    CategoryRule(_RECORDS_KIND, lambda impact, _: impact.data_loss, RULE_WEIGHT),
    CategoryRule(_LOOKS_KIND, lambda impact, _: impact.cosmetic, RULE_WEIGHT),
    CategoryRule(_MOBILE_KIND, lambda _, text: bool(_MOBILE_APP.search(text)), RULE_WEIGHT),
    CategoryRule(_INTEGRATION_KIND, lambda _, text: bool(_OTHER_TOOL.search(text)), RULE_WEIGHT),
    CategoryRule(
        _AVAILABILITY_KIND,
        lambda _, text: not _UNAVAILABLE_OR_SLOW.search(text),
        -RULE_WEIGHT,
    ),
)


class CategoryRules:
    """The rules' score for each report and each of one organization's categories."""

    def __init__(self, categories: Sequence[LabelSpec]) -> None:
        named = [f"{category.name} {category.description}" for category in categories]
        kinds = [
            (rule, np.array([bool(rule.kind.search(text)) for text in named], dtype=np.float32))
            for rule in RULES
        ]
        self._rules = [(rule, kind) for rule, kind in kinds if kind.any()]
        self._size = len(categories)

    def scores(self, texts: Sequence[str]) -> FloatArray:
        """One row per text, one column per category."""
        out = np.zeros((len(texts), self._size), dtype=np.float32)
        if not self._rules:
            return out
        for row, text in enumerate(texts):
            impact = assess(text)
            for rule, kind in self._rules:
                if rule.applies(impact, text):
                    out[row] += np.float32(rule.weight) * kind
        return out
