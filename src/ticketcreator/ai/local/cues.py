"""Priority cues: words and patterns that make a ticket more or less urgent.

Used by zero-shot priority (an organization with no trained model yet only has its priority
scale) and as extra features for learned models. English and German, since German tickets
are common among our customers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

# Each cue family raises urgency; the weight says how strongly (1.0 = alone enough for "high").
_URGENT_CUES: Final[dict[str, tuple[float, str]]] = {
    "outage": (
        1.0,
        r"outage|(?:is|are|went|goes|system|server|site|service|production|prod)\s+down\b|"
        r"down\s+for\s+(?:all|every)|not\s+reachable|unreachable|unavailable|"
        r"ausfall|ausgefallen|nicht\s+erreichbar|störung|steht\s+still|totalausfall",
    ),
    "data_loss": (
        1.0,
        r"data\s+loss|lost\s+(?:all\s+)?(?:data|files|records)|deleted|corrupt\w*|"
        r"datenverlust|daten\s+(?:verloren|gelöscht)|beschädigt",
    ),
    "security": (
        1.0,
        r"security|breach|hack(?:ed|er)?|compromised|phishing|malware|ransomware|virus|"
        r"unauthori[sz]ed|leak\w*|vulnerab\w*|exploit\w*|sicherheit\w*|angriff|gehackt|"
        r"datenleck|schadsoftware",
    ),
    "blocked": (
        0.7,
        r"blocked|blocking|block(?:s|er)|cannot\s+work|can'?t\s+work|unable\s+to\s+work|"
        r"stopped\s+working|all\s+users|everyone|whole\s+team|entire|critical|"
        r"kann\s+nicht\s+arbeiten|blockiert|alle\s+(?:benutzer|nutzer|mitarbeiter)|kritisch",
    ),
    "deadline": (
        0.5,
        r"deadline|by\s+(?:today|tomorrow|monday|tuesday|wednesday|thursday|friday|eod|end\s+of)|"
        r"before\s+(?:the\s+)?(?:launch|release|meeting|tomorrow)|asap|as\s+soon\s+as\s+possible|"
        r"immediately|right\s+away|time[- ]sensitive|frist|bis\s+(?:morgen|heute|montag|freitag)|"
        r"so\s+schnell\s+wie\s+möglich|sofort|umgehend|zeitnah",
    ),
    "urgent": (
        0.8,
        r"urgent\w*|emergency|high\s+priority|priority\s*1|\bp1\b|sev(?:erity)?\s*1|"
        r"dringend\w*|notfall|eilt|hohe\s+priorität",
    ),
    "error_rate": (
        0.6,
        r"\d{1,3}\s*%\s*(?:of\s+)?(?:requests|errors|failures|users|calls|transactions)|"
        r"error\s+rate|(?:5\d\d|timeout)s?\s+(?:errors|responses)|spike|"
        r"fehlerrate|zeitüberschreitung",
    ),
    "money": (
        0.5,
        r"payment\s+failed|charged\s+twice|double\s+charg\w*|revenue|losing\s+(?:money|customers)|"
        r"zahlung\s+fehlgeschlagen|doppelt\s+abgebucht|umsatz",
    ),
}

# Cues that lower urgency: questions, wishes and information requests.
_CALM_CUES: Final[dict[str, tuple[float, str]]] = {
    "inquiry": (
        0.6,
        r"(?:just\s+)?wondering|would\s+like\s+to\s+know|information\s+(?:about|on|regarding)|"
        r"inquir\w*|question\s+about|curious|could\s+you\s+(?:tell|explain|provide\s+information)|"
        r"möchte\s+(?:gerne\s+)?wissen|informationen\s+(?:über|zu)|anfrage|frage\s+zu",
    ),
    "wish": (
        0.5,
        r"feature\s+request|suggestion|would\s+be\s+nice|nice\s+to\s+have|enhancement|"
        r"feedback|wunsch|vorschlag|verbesserung",
    ),
    "no_rush": (
        0.8,
        r"no\s+rush|not\s+urgent|whenever|when\s+(?:you\s+)?(?:have|get)\s+(?:a\s+)?(?:time|chance)|"
        r"low\s+priority|keine\s+eile|nicht\s+dringend|bei\s+gelegenheit",
    ),
}

_COMPILED_URGENT: Final = {k: (w, re.compile(p, re.I)) for k, (w, p) in _URGENT_CUES.items()}
_COMPILED_CALM: Final = {k: (w, re.compile(p, re.I)) for k, (w, p) in _CALM_CUES.items()}
CUE_NAMES: Final = (*_URGENT_CUES, *_CALM_CUES)


@dataclass(frozen=True)
class CueScore:
    """Urgency evidence in a text: ``urgency`` in -1 (calm) .. 1 (urgent) and the cues seen."""

    urgency: float
    cues: tuple[str, ...]


def score_cues(text: str) -> CueScore:
    """Sum the weights of the urgent and calm cue families present (each counted once)."""
    urgent = [(k, w) for k, (w, rx) in _COMPILED_URGENT.items() if rx.search(text)]
    calm = [(k, w) for k, (w, rx) in _COMPILED_CALM.items() if rx.search(text)]
    raw = sum(w for _, w in urgent) - sum(w for _, w in calm)
    urgency = max(-1.0, min(1.0, raw))
    return CueScore(urgency, tuple(k for k, _ in urgent + calm))


def cue_features(texts: list[str]) -> npt.NDArray[np.float32]:
    """One 0/1 column per cue family (in ``CUE_NAMES`` order), as learned-model features."""
    out = np.zeros((len(texts), len(CUE_NAMES)), dtype=np.float32)
    for row, text in enumerate(texts):
        seen = set(score_cues(text).cues)
        for col, name in enumerate(CUE_NAMES):
            out[row, col] = name in seen
    return out
