"""Tags of a bug report, from its text and the organization's own tags.

The organization's existing tags come first, then only meaningful terms: product areas, the
components named by failing request paths, and error names; never ordinary words.
Deterministic; needs no model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from ticketcreator.ai.entities import extract_entities

MAX_TAGS: Final = 5


# Product areas and components a support team tags by: tag name -> how reports say it.
AREA_TAGS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("checkout", r"\bcheck-?\s?out\b|\bplace\s+order\b|\bcart\b"),
        ("payments", r"\bpay(?:ment)?s?\b|\bcard\s+payments?\b|\bcharged?\b|\bdebit"),
        ("refunds", r"\brefund"),
        ("invoices", r"\binvoic"),
        ("subscription", r"\bsubscription|\brenewal\b|\bplan\b"),
        ("login", r"\blog\s?-?in\b|\bsign\s?-?in\b|\blogged\s+out\b|\blocked\s+out\b"),
        ("password-reset", r"\bpassword\s+reset\b|\breset\s+(?:my\s+)?password"),
        ("2fa", r"\b2fa\b|\btwo-factor\b|\bverification\s+code\b|\bauthenticator\b"),
        ("sso", r"\bsso\b|\bsaml\b|\bokta\b|\bazure\s+ad\b|\bshibboleth\b"),
        ("permissions", r"\bpermission|\broles?\b|\baccess\s+rights\b"),
        ("security", r"\bsecurity\b|\bprivacy\b|\bexposed\b|\bleak"),
        ("outage", r"\boutage\b|\bis\s+down\b|\bunreachable\b|\b50[234]\b|\bbad\s+gateway\b"),
        ("performance", r"\bslow\b|\btimes?\s+out\b|\btimeout\b|\bseconds\s+to\s+load\b"),
        ("import", r"\bimport"),
        ("export", r"\bexport"),
        ("sync", r"\bsync"),
        ("data-loss", r"\bdata\s+loss\b|\bdisappeared\b|\bvanished\b|\bdeleted\b|\bwiped\b"),
        ("email", r"\be-?mails?\b"),
        ("sms", r"\bsms\b"),
        ("push-notifications", r"\bpush\s+notification"),
        ("notifications", r"\bnotification|\breminder"),
        ("api", r"(?<![/\w])api\b(?!/)"),
        ("webhooks", r"\bwebhook"),
        ("integrations", r"\bintegration|\bzapier\b|\bslack\b|\bsalesforce\b|\bxero\b"),
        ("mobile-app", r"\bmobile\s+app\b|\bthe\s+app\b|\bapp\s+(?:crash|store)"),
        ("ios", r"\bios\b|\biphone\b|\bipad\b"),
        ("android", r"\bandroid\b"),
        ("safari", r"\bsafari\b"),
        ("dashboard", r"\bdashboard"),
        ("reports", r"\breports?\b"),
        ("search", r"\bsearch"),
        ("upload", r"\bupload"),
        ("calendar", r"\bcalendar\b|\bical\b"),
        ("translations", r"\btranslation|\blanguage\b"),
        ("typo", r"\btypo\b|\bmisspell"),
    )
)
# Request path segments that name no component.
_PLAIN_SEGMENTS: Final = frozenset(
    [
        "api",
        "apis",
        "rest",
        "rpc",
        "graphql",
        "v1",
        "v2",
        "v3",
        "v4",
        "internal",
        "public",
        "admin",
        "app",
        "www",
        "static",
        "assets",
        "js",
        "css",
        "index",
        "html",
        "php",
        "json",
        "new",
        "edit",
        "update",
        "create",
        "delete",
        "list",
        "get",
        "set",
        "item",
        "items",
        "data",
        "id",
        "ids",
        "query",
        "search",
        "me",
        "self",
    ]
)
_PEERS: Final = {"payment": "payments", "order": "orders", "invoice": "invoices"}


def _path_components(paths: Sequence[str]) -> list[str]:
    names = []
    for path in paths:
        segment_path = path.split(" ", 1)[-1]
        for segment in segment_path.strip("/").split("/"):
            segment = segment.lower()
            if (
                len(segment) < 3
                or segment in _PLAIN_SEGMENTS
                or re.fullmatch(r"[\d\W_]+|[0-9a-f-]{8,}|\{.*\}|:\w+", segment)
            ):
                continue
            names.append(_PEERS.get(segment, segment))
            break  # the first meaningful segment names the component
    return names


def tag_name(term: str) -> str:
    """A term as a tag name: lower-case, no spaces or commas, at most 50 characters."""
    return re.sub(r"[^\w.+#-]+", "-", term.strip().lower()).strip("-")[:50]


def choose_tags(
    title: str, description: str, known_tags: Sequence[str], context: Sequence[str] = ()
) -> list[tuple[str, bool]]:
    """At most :data:`MAX_TAGS` tags, each with whether the organization already uses it.

    The organization's tags named in the report come first (whole words, or its area's
    words for an area tag it uses); new tags only name a product area, the component of a
    failing request path, an exception or error code, or a 5xx status.
    """
    text = "\n".join([title, description, *context])
    lowered = text.lower()
    known = {tag_name(tag): tag for tag in known_tags}
    areas = [name for name, pattern in AREA_TAGS if pattern.search(text)]
    entities = extract_entities(text)
    candidates: list[str] = []
    candidates += _path_components(entities.api_paths)
    candidates += areas
    candidates += [name.rsplit(".", 1)[-1] for name in entities.exceptions]
    candidates += [code for code in entities.error_codes if code.startswith("ERR_")]
    candidates += [f"http-{status}" for status in entities.http_statuses if status >= 500]
    out: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for name, tag in known.items():
        # A word of the report, not a piece of a path ("/api/payments" is no "api" report).
        mentioned = re.search(r"(?<![\w/.-])" + re.escape(tag.lower()) + r"(?![\w/-])", lowered)
        if (mentioned or name in candidates) and name not in seen:
            out.append((name, True))
            seen.add(name)
    for candidate in candidates:
        name = tag_name(candidate)
        if name and name not in seen:
            out.append((name, name in known))
            seen.add(name)
    return out[:MAX_TAGS]
