"""Pure text analysis for ticket triage: language, sentiment, key terms, summary, title.

Everything here is deterministic, dependency-free and fast (well under a millisecond for a
typical ticket), so it runs for every ticket and capture with or without a model installed
and with or without a cloud provider. Heuristics are deliberately simple and each result
carries a confidence in 0..1 so the triage layer can apply or merely suggest it against the
agent's ``confidence_threshold``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from ticketcreator.ai.entities import extract_entities


def _wordset(words: str) -> frozenset[str]:
    """A word list written as one space-separated string (easier to read and extend)."""
    return frozenset(words.split())


_WORD = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*", re.UNICODE)

# Frequent function words per language: short texts are identified by which profile their
# words hit most (a character n-gram model would need training data we do not ship).
STOPWORDS: Final[dict[str, frozenset[str]]] = {
    "en": _wordset(
        "the and is are was were to of in on for with this that it not be have has can "
        "please i you we my our your when after from at an a or but if does do cannot "
        "there what which would could should will been any all"
    ),
    "de": _wordset(
        "der die das und ist sind war nicht ein eine einen mit für auf bei ich wir sie es "
        "zu von im den dem des auch kann können bitte wenn nach wird haben hat unser "
        "unsere ihr ihre noch oder aber dass sich wie was"
    ),
    "fr": _wordset(
        "le la les et est sont une un des du de pour avec dans sur ne pas je nous vous il "
        "elle ce cette qui que mais ou bonjour merci notre votre au aux plus être"
    ),
    "es": _wordset(
        "el la los las y es son un una de del para con en por no que se mi nuestro su "
        "pero como hola gracias esta este al lo muy está están"
    ),
    "it": _wordset(
        "il lo la gli le e è sono un una di del della per con in su non che si mio nostro "
        "ma come ciao grazie questo questa al"
    ),
    "pt": _wordset(
        "o a os as e é são um uma de do da para com em por não que se meu nosso mas como "
        "olá obrigado este esta ao no na"
    ),
    "nl": _wordset(
        "de het een en is zijn was niet met voor op bij ik wij we zij het te van in ook "
        "kan kunnen alstublieft als na wordt hebben heeft onze maar dat"
    ),
}

# Small polarity lexicon (en + de) tuned to support language: "thanks" is polite, not happy;
# failures and urgency are what makes a ticket negative.
_POSITIVE: Final = _wordset(
    "great good excellent love happy thanks thank appreciate works working resolved fixed "
    "perfect awesome helpful nice glad pleased super danke gut toll prima super "
    "funktioniert gelöst zufrieden hilfreich perfekt"
)
_NEGATIVE: Final = _wordset(
    "bad broken error errors fail fails failed failing failure crash crashes crashed "
    "issue problem problems slow unusable terrible awful horrible angry frustrated "
    "frustrating annoying disappointed unacceptable wrong lost missing stuck cannot can't "
    "unable down outage worst bug bugs urgent complaint refund useless hate fehler kaputt "
    "problem probleme langsam ausfall abgestürzt funktioniert_nicht verloren dringend "
    "ärgerlich enttäuscht inakzeptabel beschwerde schlecht falsch fehlgeschlagen"
)
_NEGATORS: Final = _wordset("not no never don't doesn't isn't wasn't nicht kein keine nie")
_INTENSIFIERS: Final = _wordset("very extremely really totally completely sehr extrem völlig")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters only; numbers and punctuation dropped)."""
    return [match.group().lower() for match in _WORD.finditer(text)]


@dataclass(frozen=True)
class LanguageGuess:
    language: str  # ISO 639-1 code, or "und" when undetermined
    confidence: float


def detect_language(text: str, *, default: str = "und") -> LanguageGuess:
    """Guess the language from stopword profile hits.

    Confidence grows with the margin between the best and the runner-up profile and with the
    number of stopwords seen, so a three-word text never gets a confident answer.
    """
    tokens = words(text)
    hits = {lang: sum(token in profile for token in tokens) for lang, profile in STOPWORDS.items()}
    ranked = sorted(hits.items(), key=lambda item: item[1], reverse=True)
    (best, best_hits), (_, second_hits) = ranked[0], ranked[1]
    if best_hits == 0:
        return LanguageGuess(default, 0.0)
    margin = (best_hits - second_hits) / best_hits
    evidence = 1.0 - math.exp(-best_hits / 3.0)
    return LanguageGuess(best, round(margin * evidence, 3))


@dataclass(frozen=True)
class Sentiment:
    score: float  # -1 (very negative) .. 1 (very positive)
    confidence: float


def analyze_sentiment(text: str) -> Sentiment:
    """Lexicon sentiment with negation ("not working") and intensifiers ("very slow")."""
    tokens = words(text)
    total = 0.0
    hits = 0
    for index, token in enumerate(tokens):
        polarity = 1.0 if token in _POSITIVE else -1.0 if token in _NEGATIVE else 0.0
        if not polarity:
            continue
        window = tokens[max(0, index - 3) : index]
        if any(prior in _NEGATORS for prior in window):
            polarity = -polarity
        if window and window[-1] in _INTENSIFIERS:
            polarity *= 1.5
        total += polarity
        hits += 1
    if hits == 0:
        return Sentiment(0.0, 0.3 if tokens else 0.0)
    score = math.tanh(total / 3.0)
    confidence = min(1.0, 0.4 + 0.15 * hits) * (1.0 if tokens else 0.0)
    return Sentiment(round(score, 3), round(confidence, 3))


@dataclass(frozen=True)
class KeyTerm:
    term: str
    score: float  # relative weight, the best term has 1.0


_ALL_STOPWORDS: Final = frozenset().union(*STOPWORDS.values()) | _wordset(
    "hi hello dear thanks thank regards best kind hallo danke grüße gruß freundlichen get "
    "got also just like need needs one two new use using used see sent know let"
)


def extract_key_terms(
    text: str, *, limit: int = 8, known_tags: list[str] | None = None
) -> list[KeyTerm]:
    """Key terms for tags: frequent content words and bigrams, known organization tags first.

    A tag the organization already uses that occurs in the text scores 1.0 so tagging stays
    consistent with the existing vocabulary; new terms are ranked by frequency, with a bonus
    for longer and capitalised/technical words.
    """
    tokens = words(text)
    content = [t for t in tokens if t not in _ALL_STOPWORDS and len(t) > 2]
    counts: Counter[str] = Counter(content)
    bigrams = Counter(
        f"{a} {b}"
        for a, b in pairwise(tokens)
        if a not in _ALL_STOPWORDS and b not in _ALL_STOPWORDS and len(a) > 2 and len(b) > 2
    )
    scores: dict[str, float] = {}
    for term, n in counts.items():
        scores[term] = n * (1.0 + min(len(term), 12) / 12.0)
    for term, n in bigrams.items():
        if n > 1:
            scores[term] = n * 2.2
    lowered = text.lower()
    top = max(scores.values(), default=1.0)
    ranked = [KeyTerm(term, round(score / top, 3)) for term, score in scores.items()]
    ranked.sort(key=lambda k: (-k.score, k.term))
    known = [
        KeyTerm(tag, 1.0)
        for tag in (known_tags or [])
        if re.search(r"(?<!\w)" + re.escape(tag.lower()) + r"(?!\w)", lowered)
    ]
    seen = {k.term.lower() for k in known}
    return (known + [k for k in ranked if k.term not in seen])[:limit]


@dataclass(frozen=True)
class Summary:
    sentences: list[str]
    error_messages: list[str]
    urls: list[str]
    confidence: float

    def as_text(self) -> str:
        """The summary as plain text for the ticket view."""
        parts = list(self.sentences)
        if self.error_messages:
            parts.append("Errors: " + "; ".join(self.error_messages))
        if self.urls:
            parts.append("URLs: " + " ".join(self.urls))
        return "\n".join(parts)


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_ERROR_LINE = re.compile(
    r"(?i)(?:\b(?:error|exception|failed|failure|fatal|traceback|uncaught|refused|denied|"
    r"timeout|timed out|fehler|ERR_\w+)\b|\b[45]\d\d\b)"
)
_NOISE_LINE = re.compile(r"\s*Traceback \(most recent call last\):\s*$")
_CUE_WORDS: Final = _wordset(
    "error fail failed cannot unable broken crash not issue problem expected actual "
    "instead when after since blocked down slow fehler nicht"
)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if len(s.strip()) > 3]


def summarize(
    description: str,
    *,
    transcript: str = "",
    ocr_text: str = "",
    console_logs: str = "",
    max_sentences: int = 3,
) -> Summary:
    """Extractive summary: the key sentences, distinct error messages and URLs of a ticket.

    Sentences come from the description and the transcript; they are ranked by content-word
    frequency across all sources plus problem cue words, with a bonus for coming first
    (reporters state the problem early), and returned in their original order. Error messages
    come from console logs and OCR text (what the screen showed) as well.
    """
    prose = [s for source in (description, transcript) for s in _sentences(source)]
    everything = "\n".join((description, transcript, ocr_text, console_logs))
    frequency = Counter(t for t in words(everything) if t not in _ALL_STOPWORDS)

    def score(position: int, sentence: str) -> float:
        tokens = [t for t in words(sentence) if t not in _ALL_STOPWORDS]
        if not tokens:
            return 0.0
        weight = sum(frequency[t] for t in tokens) / math.sqrt(len(tokens))
        cues = sum(t in _CUE_WORDS for t in words(sentence))
        return weight * (1.0 + 0.3 * cues) * (1.5 if position == 0 else 1.0)

    ranked = sorted(range(len(prose)), key=lambda i: score(i, prose[i]), reverse=True)
    chosen = sorted(ranked[:max_sentences])
    errors = list(
        dict.fromkeys(
            line.strip()[:200]
            for source in (console_logs, ocr_text, description, transcript)
            for line in source.splitlines()
            if _ERROR_LINE.search(line) and not _NOISE_LINE.match(line) and len(line.strip()) > 5
        )
    )[:5]
    urls = extract_entities(everything).urls[:5]
    confidence = (
        0.0
        if not prose
        else min(1.0, 0.3 + 0.1 * len(prose)) * (1.0 if len(prose) > max_sentences else 0.8)
    )
    return Summary([prose[i] for i in chosen], errors, urls, round(confidence, 3))


@dataclass(frozen=True)
class TitleSuggestion:
    title: str
    confidence: float
    reason: str  # why the reporter's title was considered poor


_GENERIC_TITLES: Final = _wordset(
    "bug issue problem error help test asdf qwerty todo ticket question request support "
    "fehler hilfe frage anfrage problema ayuda erreur aide urgent broken fix"
)
_MAX_TITLE_CHARS: Final = 80


def title_problem(title: str) -> str | None:
    """Why a reporter's title is poor (empty, generic, keyboard mash, < 3 words), else None."""
    tokens = words(title)
    if not title.strip():
        return "empty"
    if tokens and all(t in _GENERIC_TITLES for t in tokens):
        return "generic"
    if any(len(t) >= 4 and not re.search(r"[aeiouyäöü]", t) for t in tokens) or re.fullmatch(
        r"(?i)\W*(asdf\w*|qwer\w*|xxx+|aaa+|test\d*)\W*", title
    ):
        return "gibberish"
    if len(tokens) < 3:
        return "too short"
    return None


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:-") + "…"


def suggest_title(
    title: str,
    description: str,
    *,
    transcript: str = "",
    ocr_text: str = "",
    console_logs: str = "",
) -> TitleSuggestion | None:
    """A title built from the ticket's content when the reporter's title is poor, else None.

    Prefers "<first error message>: <key sentence>" when an error was captured, because the
    error is what agents search for; otherwise the top-ranked key sentence.
    """
    reason = title_problem(title)
    if reason is None:
        return None
    summary = summarize(
        description,
        transcript=transcript,
        ocr_text=ocr_text,
        console_logs=console_logs,
        max_sentences=1,
    )
    sentence = summary.sentences[0].rstrip(".!?") if summary.sentences else ""
    entities = extract_entities("\n".join((console_logs, ocr_text, description)))
    error = (entities.exceptions or entities.error_codes or [""])[0]
    if error and sentence and error not in sentence:
        candidate = f"{error}: {sentence}"
    else:
        candidate = sentence or error
    if not candidate:
        return None
    confidence = 0.5 + (0.2 if error else 0.0) + (0.2 if len(words(sentence)) >= 4 else 0.0)
    return TitleSuggestion(_clip(candidate, _MAX_TITLE_CHARS), round(confidence, 3), reason)
