"""Zero-shot triage: classify tickets for an organization that has no labelled tickets yet.

Category and type come from embedding similarity between the ticket and each label's name
(and description, when the organization wrote one). For categories, words the ticket shares
with a label's description add to that label's score: category descriptions are topical
vocabularies ("invoice, refund"), where a literal match is strong evidence. Type descriptions
describe intent in abstract words ("something stopped working"), where literal matches
mislead, so types use similarity alone. Priority comes from urgency cues in the text mapped
onto the organization's priority scale, because similarity to words like "high" says nothing
about urgency.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from ticketcreator.ai.local.base import Embedder, FloatArray, softmax
from ticketcreator.ai.local.cues import score_cues

# Generic helpdesk vocabulary used when an organization names a label but gives no
# description: "Billing" alone embeds poorly, "invoices, payments, refunds" much better.
# Matched on lower-cased words of the label name; organization descriptions always win.
DEFAULT_HINTS: Final[dict[str, str]] = {
    "billing": "invoice, payment, charge, refund, subscription fee, pricing",
    "payments": "payment failed, credit card, bank transfer, invoice",
    "technical": (
        "software bug, error message, crash, integration, API, configuration, data sync, "
        "technical issue with a platform"
    ),
    "product": (
        "product features, product usage questions, product not working as described, "
        "device or hardware product"
    ),
    "it": (
        "IT infrastructure: computers, network, VPN, laptop, password reset, email account, "
        "server, security update"
    ),
    "customer": (
        "customer account, order status, delivery, complaint, general help for a customer, feedback"
    ),
    "returns": "return an item, exchange, refund for a purchase, damaged delivery",
    "sales": "pricing quote, buying, demo, license purchase, upgrade plan",
    "human": "employee, payroll, vacation, hiring, HR policy",
    "outages": "service down, outage, unavailable, maintenance window, downtime",
    "inquiry": "general question, information request",
    "security": "security incident, phishing, breach, suspicious login",
    "incident": "something stopped working, an error or failure that happened",
    "request": "asking for something: access, information, a new item or service",
    "problem": "recurring issue, root cause of repeated failures",
    "change": "modify, update, upgrade, migrate or reconfigure something",
}

# Words users write about common product areas, added to a category's own name and
# description when these name the area (matched case-insensitively on name and description).
# A one-line description ("Checkout, card payments, invoices") rarely holds the words of the
# report ("charged twice", "coupon"); the area's vocabulary does. On the bug-report
# development set (10 categories with one-line descriptions) category accuracy went from
# 0.717 to 0.743 with them.
AREA_HINTS: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern, re.IGNORECASE), words)
    for pattern, words in (
        (
            r"payment|billing|checkout|invoice",
            "pay paid charge charged card refund coupon discount code price VAT tax receipt "
            "plan subscription renewal payout deposit credit note",
        ),
        (
            r"login|sign.?in|account|password",
            "log in logged out password reset locked 2FA verification code SSO SAML invitation "
            "admin access user seat profile email address",
        ),
        (
            r"outage|performance|availability|\bdown\b|\bslow",
            "down outage 502 503 504 gateway timeout timed out slow loading seconds "
            "unreachable status page",
        ),
        (
            r"\bdata\b|\bsync|import|export",
            "missing duplicated lost deleted import export CSV sync records copy merge archive",
        ),
        (
            r"interface|\bui\b|layout|design",
            "button page form field layout typo translation label text shown display screen zoom",
        ),
        (
            r"notification|e-?mail|\bsms\b|reminder",
            "email sms push notification reminder digest confirmation sent arriving spam inbox",
        ),
        (
            r"integration|\bapi\b|webhook",
            "API key webhook Slack Zapier Salesforce Xero calendar sync endpoint token integration",
        ),
        (
            r"mobile|\bios\b|android|\bapps?\b",
            "iPhone iPad Android iOS app store update crash phone tablet",
        ),
        (
            r"security|permission|privacy|access\s+rights",
            "security privacy exposed visible role permission access rights session GDPR "
            "password rules",
        ),
        (
            r"report|dashboard|analytics|chart",
            "report dashboard chart statistics totals analytics export numbers",
        ),
    )
)

_CODE_NAME = re.compile(r"^[A-Za-z]*[_-]?\d+$")


@dataclass(frozen=True)
class LabelSpec:
    """A label as an organization defines it: its name and an optional description."""

    name: str
    description: str = ""


def _is_code(name: str) -> bool:
    """Opaque codes ("cat_4", "urgency_2") carry no meaning an embedding could use."""
    return bool(_CODE_NAME.match(name.strip()))


def label_prompt(label: LabelSpec) -> str:
    """The text embedded for a label: its readable name plus description or default hints."""
    readable = label.name.replace("_", " ").strip()
    description = label.description.strip()
    if not description:
        words = re.findall(r"[a-z]+", readable.lower())
        description = "; ".join(DEFAULT_HINTS[word] for word in words if word in DEFAULT_HINTS)
    return f"{readable}: {description}" if description else readable


def category_prompt(label: LabelSpec) -> str:
    """A category's text: name and description (or default hints), plus its area's words."""
    prompt = label_prompt(label)
    named = f"{label.name} {label.description}"
    hints = " ".join(words for pattern, words in AREA_HINTS if pattern.search(named))
    return f"{prompt}. {hints}" if hints else prompt


def label_phrases(label: LabelSpec) -> list[str]:
    """The label's name and each phrase of its description ("card payments", "refunds")."""
    parts = re.split(r"[,;:.]|\band\b|\bor\b", label.description)
    return [label.name.replace("_", " "), *(part.strip() for part in parts if part.strip())]


_WORD_TOKEN = re.compile(r"[^\W\d_]{2,}")
_SUFFIXES: Final = ("ing", "ed", "es", "s")


def _stemmed_words(text: str) -> list[str]:
    """Lower-case content words with a plural or verb ending removed ("invoices" -> "invoic")."""
    out = []
    for word in _WORD_TOKEN.findall(text.lower()):
        if word in ENGLISH_STOP_WORDS:
            continue
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        out.append(word)
    return out


# Words any complaint may use whatever is broken ("it doesn't work, please fix"): they name no
# part of a product, so a category cannot be read from them.
_GENERIC_WORDS: Final = frozenset(
    _stemmed_words(
        "bug issue problem error help test ticket question request support urgent asap broken "
        "fix work wrong stop stopped today happen thing does doesn don isn won hello hi thanks"
    )
)


# A text with fewer specific words than this ("Something is wrong", "Problem. It does not
# work, please fix", "Ticket 2") names nothing to read a category or a kind of request from:
# what a model makes of it comes from wording alone. Every report of the bug-report sets has
# at least four.
MIN_SPECIFIC_WORDS: Final = 3


def specific_words(text: str) -> list[str]:
    """The text's content words (stemmed) that are not generic complaint words."""
    return [word for word in _stemmed_words(text) if word not in _GENERIC_WORDS]


def names_something(text: str) -> bool:
    """Whether the text has at least :data:`MIN_SPECIFIC_WORDS` specific words."""
    return len(specific_words(text)) >= MIN_SPECIFIC_WORDS


class _WordMatcher:
    """Cosine between a text's and each label prompt's TF-IDF vectors over the prompts' words.

    IDF comes from the label prompts alone, so a word every label mentions weighs little and
    nothing depends on ticket data. English stop words are ignored and plural and verb
    endings removed, so "invoice" in a ticket matches "invoices" in a description.
    """

    def __init__(self, prompts: Sequence[str]) -> None:
        self._vectorizer = TfidfVectorizer(sublinear_tf=True, analyzer=_stemmed_words)
        self._prompts = self._vectorizer.fit_transform(prompts)

    @classmethod
    def of(cls, prompts: Sequence[str]) -> _WordMatcher | None:
        """A matcher, or None when the prompts hold no word to match (codes, stop words)."""
        try:
            return cls(prompts)
        except ValueError:  # empty vocabulary
            return None

    def similarities(self, texts: Sequence[str]) -> FloatArray:
        matrix = self._vectorizer.transform(list(texts)) @ self._prompts.T
        return np.asarray(matrix.toarray(), dtype=np.float32)


# Fitted (minimum negative log-likelihood) to the development tickets' types, label names
# with the default hints: 0.079 on English and 0.095 on German rows, the same within 0.004 on
# either half. The former 0.03 stated a mean confidence of 0.81 for 56 % accuracy on English
# rows; at 0.085 it states 0.61.
SIMILARITY_TEMPERATURE: Final = 0.085


class ZeroShotClassifier:
    """Nearest label by cosine similarity; probabilities via a temperature softmax.

    ``temperature`` turns cosine gaps (typically 0.02-0.15 between labels) into confidences.
    The default is the temperature at which similarity alone states its own accuracy (see
    :data:`SIMILARITY_TEMPERATURE`). ``lexical_weight`` adds that share of the word-match
    score (0-1, see :class:`_WordMatcher`) to the similarity; 0 leaves the similarity alone.
    Word matches widen the gaps between labels, so a classifier using them needs its own
    temperature.
    """

    def __init__(
        self,
        embedder: Embedder,
        labels: Sequence[LabelSpec | str],
        *,
        temperature: float = SIMILARITY_TEMPERATURE,
        lexical_weight: float = 0.0,
        phrase_weight: float = 0.0,
        area_hints: bool = False,
    ) -> None:
        specs = [label if isinstance(label, LabelSpec) else LabelSpec(label) for label in labels]
        if not specs:
            raise ValueError("zero-shot classification needs at least one label")
        self._classes = tuple(spec.name for spec in specs)
        self._temperature = temperature
        prompts = [category_prompt(spec) if area_hints else label_prompt(spec) for spec in specs]
        self.prompts = tuple(prompts)
        self._prototypes = embedder.encode(prompts)
        self._lexical_weight = lexical_weight
        self._words = _WordMatcher.of(prompts) if lexical_weight else None
        self._phrase_weight = phrase_weight
        if phrase_weight:
            phrases = [(index, p) for index, spec in enumerate(specs) for p in label_phrases(spec)]
            self._phrase_owner = np.array([index for index, _ in phrases])
            self._phrases = embedder.encode([phrase for _, phrase in phrases])

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    def predict_proba(self, texts: Sequence[str], embeddings: FloatArray) -> FloatArray:
        return softmax(self.scores(texts, embeddings) / self._temperature)

    def scores(self, texts: Sequence[str], embeddings: FloatArray) -> FloatArray:
        """Similarity (plus phrase and word matches) of each text to each label."""
        scores = embeddings @ self._prototypes.T
        if self._phrase_weight:
            # A label's best phrase: "refunds" can match a ticket its whole description misses.
            sims = embeddings @ self._phrases.T
            best = np.stack(
                [sims[:, self._phrase_owner == i].max(axis=1) for i in range(len(self._classes))],
                axis=1,
            )
            scores = scores + np.float32(self._phrase_weight) * best
        if self._words is not None:
            scores = scores + np.float32(self._lexical_weight) * self._words.similarities(texts)
        return np.asarray(scores, dtype=np.float32)


_URGENT_NAMES: Final = ("critical", "urgent", "highest", "blocker", "high", "hoch", "dringend")
_CALM_NAMES: Final = ("lowest", "trivial", "low", "niedrig", "minor")
_NORMAL_NAMES: Final = ("normal", "medium", "moderate", "mittel", "standard")


def order_priority_scale(labels: Sequence[str]) -> tuple[list[str], str]:
    """Order priority labels from most to least urgent and pick the no-cue default level.

    Named scales (critical/high/medium/low...) are ordered by meaning and default to their
    normal level. Numbered codes ("urgency_0".."urgency_3", "P1".."P4") are ordered by number,
    lowest first as in P1 = most urgent, and default to the least urgent level: most tickets
    on such scales are routine requests. An organization can always pass an explicit scale.
    """

    def rank(label: str) -> float:
        low = label.lower()
        for position, names in enumerate((_URGENT_NAMES, _NORMAL_NAMES, _CALM_NAMES)):
            for offset, name in enumerate(names):
                if name in low:
                    return position * 10 + (offset if position != 1 else 0)
        digits = re.findall(r"\d+", low)
        return 100 + int(digits[-1]) if digits else 50

    ordered = sorted(labels, key=rank)
    named_normal = [label for label in ordered if 10 <= rank(label) < 20]
    if named_normal:
        return ordered, named_normal[0]
    if all(_is_code(label) for label in ordered):
        return ordered, ordered[-1]
    return ordered, ordered[len(ordered) // 2]


# Zero-shot priority confidences, measured on the development customer-support tickets (high /
# medium / low). No cue: the default level was right 42 % of the time. Urgent cues of strength
# 0.75 or more: 52 % (outage, urgent, blocked, data loss alone: 63-68 %); weaker ones 42 %.
# Calm cues (a question, a wish, no rush) moving the level down: 24-32 %. The former
# 0.45 + 0.4 x strength stated up to 0.85 for either direction. Now urgent cues state
# 0.45 + 0.2 x strength (0.6-0.65 from strength 0.75, so an agent's 0.6 threshold applies
# them) and calm cues 0.4, which leaves them as suggestions.
_NO_CUE_CONFIDENCE: Final = 0.45
_URGENT_CUE_CONFIDENCE: Final = 0.2  # per unit of cue strength, on top of the no-cue value
_CALM_CUE_CONFIDENCE: Final = 0.4
_LEAD: Final = 0.05  # least margin of the chosen level over an even split (2-level scales)


class CuePriorityClassifier:
    """Priority from urgency cues: no cue -> the default level; strong cues -> more urgent.

    ``scale`` lists the organization's levels from most to least urgent. The cue score
    (-1..1) moves the prediction up or down the scale from the default level.
    """

    def __init__(self, scale: Sequence[str], default: str | None = None) -> None:
        if not scale:
            raise ValueError("a priority scale needs at least one level")
        self._classes = tuple(scale)
        self._default = self._classes.index(default) if default else len(scale) // 2

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    def level_for(self, urgency: float) -> int:
        """Scale index for a cue score; at least one step per 0.5 of urgency."""
        steps = int(np.sign(urgency) * np.ceil(abs(urgency) / 0.5 - 1e-9))
        top = len(self._classes) - 1
        return int(min(top, max(0, self._default - steps)))

    def predict_proba(self, texts: Sequence[str], embeddings: FloatArray) -> FloatArray:
        out = np.zeros((len(texts), len(self._classes)), dtype=np.float32)
        for row, text in enumerate(texts):
            cue = score_cues(text)
            level = self.level_for(cue.urgency)
            # Confidence: weak when no cue fired (we only know the default), firmer with
            # urgent cues; always above the other levels' share so the level stays the pick.
            sure = _NO_CUE_CONFIDENCE
            if cue.urgency > 0:
                sure += _URGENT_CUE_CONFIDENCE * min(1.0, cue.urgency)
            elif cue.urgency < 0:
                sure = _CALM_CUE_CONFIDENCE
            sure = max(sure, 1.0 / len(self._classes) + _LEAD)
            out[row, :] = (1.0 - sure) / max(1, len(self._classes) - 1)
            out[row, level] = min(sure, 1.0)
        return out
