"""PII and secret redaction for text sent to third-party AI providers.

Ticket text (descriptions, transcripts, OCR of screenshots, console logs) routinely contains
personal data and credentials. Before any of it goes to a cloud provider it passes through
:func:`redact`, which replaces each finding with a typed placeholder such as ``[EMAIL]`` and
reports how many of each kind it removed (the counts go into the AI decision record; the
removed values are never returned or logged).

Precision matters as much as recall: redacting build numbers, versions or order ids would
destroy the information triage needs. So numbers are only treated as cards when they pass the
Luhn check, IBANs only when they pass ISO 13616 mod-97, IPv4 only with four octets <= 255 and
not preceded by a version marker, and long hex/base64 strings only when they look random.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from ticketcreator.core.redact import JWT


class PiiKind(StrEnum):
    """Kinds of sensitive data; the value is the placeholder's name."""

    EMAIL = "EMAIL"
    PHONE = "PHONE"
    CARD = "CARD"
    IBAN = "IBAN"
    SECRET = "SECRET"  # noqa: S105 - a placeholder name, not a credential
    IP = "IP"


@dataclass(frozen=True)
class RedactionConfig:
    """Which kinds to redact. All on by default: an organization opts out per kind."""

    kinds: frozenset[PiiKind] = field(default_factory=lambda: frozenset(PiiKind))
    placeholder: str = "[{kind}]"

    @classmethod
    def from_flags(cls, **flags: bool) -> RedactionConfig:
        """Build from settings such as ``email=True, phone=False`` (unnamed kinds stay on)."""
        unknown = set(flags) - {kind.name.lower() for kind in PiiKind}
        if unknown:
            raise ValueError(f"unknown redaction kinds: {', '.join(sorted(unknown))}")
        kinds = {kind for kind in PiiKind if flags.get(kind.name.lower(), True)}
        return cls(kinds=frozenset(kinds))


@dataclass(frozen=True)
class RedactionResult:
    """Redacted text and the number of findings per kind (kinds with no finding omitted)."""

    text: str
    counts: dict[PiiKind, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return int(numeric) % 97 == 1


def _entropy_bits_per_char(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _looks_random(value: str, *, base64: bool) -> bool:
    """A secret mixes character classes with high entropy; words, paths and ids do not.

    Hex secrets need letters and digits; base64 ones upper case, lower case and digits (a
    random 32-character base64 string almost always has all three, a file path or a
    CamelCase identifier does not).
    """
    has_digit = any(c.isdigit() for c in value)
    has_lower = any(c.islower() for c in value)
    has_upper = any(c.isupper() for c in value)
    if base64:
        mixed = has_digit and has_lower and has_upper
        return mixed and _entropy_bits_per_char(value) >= 3.5
    return has_digit and (has_lower or has_upper) and _entropy_bits_per_char(value) >= 3.0


_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![\w-])"
)
# Known token shapes: provider prefixes are precise, so they need no entropy check.
_SECRET_PATTERNS = (
    re.compile(r"(?i)\b(?:Bearer|Token|Basic)\s+[A-Za-z0-9\-._~+/]{16,}=*"),
    JWT,
    re.compile(r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}"),
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b"),
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b"),
)
# key=value / "key": "value" where the key names a credential.
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b((?:api[_-]?key|apikey|secret|client[_-]?secret|password|passwd|pwd|"
    r"access[_-]?token|auth[_-]?token|token)\b[\"']?\s*[:=]\s*[\"']?)([^\s\"',;]{6,})"
)
_LONG_HEX = re.compile(r"(?<![A-Za-z0-9])[A-Fa-f0-9]{32,}(?![A-Za-z0-9])")
_LONG_B64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/_-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"(?<![\d.-])(?:\d[ -]?){12,18}\d(?![\d.-])")
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?:/\d{1,2})?(?![\w.]|\.\d)"
)
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:/\d{1,3})?(?![\w:])")
# "v1.2.3.4", "version 10.0.19045.2965", "build 1.0.0.1" are versions, not addresses.
_VERSION_CONTEXT = re.compile(r"(?i)\b(?:v|version|ver\.?|build|release|firmware|fw)\s*[:=]?\s*$")
_PHONE = re.compile(
    r"(?<![\w+.:/-])(?:\+|00)?\(?\d{1,4}\)?(?:[ ./-]?\(?\d{2,5}\)?){2,5}(?!\w|[.:/-]\d)"
)
_DATE_LIKE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _card_ok(match: re.Match[str], _text: str) -> bool:
    digits = re.sub(r"\D", "", match.group())
    return 13 <= len(digits) <= 19 and _luhn_ok(digits)


def _iban_match_ok(match: re.Match[str], _text: str) -> bool:
    return _iban_ok(match.group())


def _ipv4_ok(match: re.Match[str], text: str) -> bool:
    return not _VERSION_CONTEXT.search(text[max(0, match.start() - 12) : match.start()])


def _ipv6_ok(match: re.Match[str], _text: str) -> bool:
    value = match.group().split("/")[0]
    if value.count(":") < 2 or ("::" not in value and value.count(":") != 7):
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _phone_ok(match: re.Match[str], _text: str) -> bool:
    value = match.group().strip()
    digits = re.sub(r"\D", "", value)
    if not 7 <= len(digits) <= 15 or _DATE_LIKE.match(value):
        return False
    # Plain digit runs are ids or amounts; a phone number is written with a prefix or groups.
    return value.startswith(("+", "00", "(")) or bool(re.search(r"[ ./-]", value))


def _hex_secret(match: re.Match[str], _text: str) -> bool:
    return _looks_random(match.group(), base64=False)


def _base64_secret(match: re.Match[str], _text: str) -> bool:
    # UUIDs are request/trace ids that agents need to find logs; they grant no access.
    return not _UUID.match(match.group()) and _looks_random(match.group(), base64=True)


def _always(_match: re.Match[str], _text: str) -> bool:
    return True


_Check = Callable[[re.Match[str], str], bool]

# Order matters: earlier rules claim their spans first (an email's digits are not a phone,
# a JWT is not a base64 blob, an IBAN's digits are not a card).
_RULES: tuple[tuple[PiiKind, re.Pattern[str], _Check], ...] = (
    *((PiiKind.SECRET, pattern, _always) for pattern in _SECRET_PATTERNS),
    (PiiKind.EMAIL, _EMAIL, _always),
    (PiiKind.IBAN, _IBAN, _iban_match_ok),
    (PiiKind.CARD, _CARD, _card_ok),
    (PiiKind.IP, _IPV6, _ipv6_ok),
    (PiiKind.IP, _IPV4, _ipv4_ok),
    (PiiKind.SECRET, _LONG_HEX, _hex_secret),
    (PiiKind.SECRET, _LONG_B64, _base64_secret),
    (PiiKind.PHONE, _PHONE, _phone_ok),
)


def _find_spans(text: str, kinds: frozenset[PiiKind]) -> list[tuple[int, int, PiiKind]]:
    taken: list[tuple[int, int, PiiKind]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e, _ in taken)

    for kind, pattern, check in _RULES:
        if kind not in kinds:
            continue
        for match in pattern.finditer(text):
            if free(match.start(), match.end()) and check(match, text):
                taken.append((match.start(), match.end(), kind))
    if PiiKind.SECRET in kinds:
        for match in _SECRET_ASSIGNMENT.finditer(text):
            if free(match.start(2), match.end(2)):
                taken.append((match.start(2), match.end(2), PiiKind.SECRET))
    return sorted(taken)


def redact(text: str, config: RedactionConfig | None = None) -> RedactionResult:
    """Replace every enabled kind of PII/secret in ``text`` with a placeholder.

    Returns the redacted text and per-kind counts. Idempotent: placeholders never match.
    """
    config = config or RedactionConfig()
    spans = _find_spans(text, config.kinds)
    counts: Counter[PiiKind] = Counter()
    pieces: list[str] = []
    cursor = 0
    for start, end, kind in spans:
        pieces.append(text[cursor:start])
        pieces.append(config.placeholder.format(kind=kind.value))
        counts[kind] += 1
        cursor = end
    pieces.append(text[cursor:])
    return RedactionResult(text="".join(pieces), counts=dict(counts))
