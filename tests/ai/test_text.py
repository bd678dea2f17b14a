"""Pure text analysis used by triage: language, sentiment, entities, terms, summary, title."""

import pytest

from ticketcreator.ai.entities import extract_entities
from ticketcreator.ai.text import (
    analyze_sentiment,
    detect_language,
    extract_key_terms,
    suggest_title,
    summarize,
    title_problem,
)

CONSOLE = """Traceback (most recent call last):
  File "/app/main.py", line 12, in handler
    raise ValueError("bad id")
ValueError: bad id
Uncaught TypeError: Cannot read properties of undefined (reading 'id')
    at render (https://app.example.com/static/js/main.js:120:15)
Exception in thread "main" java.lang.NullPointerException
    at com.example.Foo.bar(Foo.java:42)
GET https://api.example.com/v1/items?id=3 500 (Internal Server Error)
net::ERR_CONNECTION_REFUSED
"""


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hello, the checkout page is not loading when I click pay and it shows an error.", "en"),
        ("Guten Tag, ich kann mich nicht bei unserem Portal anmelden, bitte helfen Sie mir.", "de"),
        ("Bonjour, je ne peux pas me connecter à mon compte, merci pour votre aide.", "fr"),
        ("Hola, no puedo acceder a mi cuenta desde ayer, gracias por la ayuda.", "es"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    guess = detect_language(text)
    assert guess.language == language
    assert guess.confidence > 0.3


def test_detect_language_without_evidence() -> None:
    assert detect_language("asdf 1234").language == "und"
    assert detect_language("asdf 1234").confidence == 0.0
    assert detect_language("the").confidence < 0.5


def test_sentiment_polarity_negation_and_range() -> None:
    angry = analyze_sentiment("This is terrible, the app keeps crashing and I am very frustrated")
    happy = analyze_sentiment("Thanks, everything works great now!")
    negated = analyze_sentiment("The export is not good")
    neutral = analyze_sentiment("Please change the invoice address")
    assert -1.0 <= angry.score < -0.3
    assert 0.3 < happy.score <= 1.0
    assert negated.score < 0
    assert neutral.score == 0.0
    assert angry.confidence > neutral.confidence


def test_entities_from_console_logs() -> None:
    extra = " ORA-00942 E1234 ECONNREFUSED; HTTP 404, status code: 503"
    entities = extract_entities(CONSOLE + extra)
    assert entities.urls == [
        "https://app.example.com/static/js/main.js",
        "https://api.example.com/v1/items?id=3",
    ]
    assert entities.error_codes == ["ERR_CONNECTION_REFUSED", "ORA-00942", "E1234", "ECONNREFUSED"]
    assert entities.http_statuses == [500, 404, 503]
    assert entities.exceptions == ["ValueError", "TypeError", "java.lang.NullPointerException"]
    frames = {(frame.language, frame.line, frame.function) for frame in entities.stack_frames}
    assert frames == {
        ("python", 12, "handler"),
        ("javascript", 120, "render"),
        ("java", 42, "com.example.Foo.bar"),
    }


def test_entities_from_prose_statuses_and_request_paths() -> None:
    entities = extract_entities(
        "Checkout fails with a 500 from /api/payments. The API returns a 404 for "
        "GET /v1/orders/{id}, and POST /v1/orders gives 502s; /api/health is fine."
    )
    assert entities.http_statuses == [500, 404, 502]
    assert entities.api_paths == ["/api/payments", "GET /v1/orders/{id}", "POST /v1/orders",
                                  "/api/health"]  # fmt: skip


def test_prose_numbers_and_file_paths_are_not_statuses_or_requests() -> None:
    entities = extract_entities(
        'I spent 500 on shoes, 400 users and/or 1/2 of them. File "/app/api/x.py", line 3. '
        "See https://example.com/api/payments"
    )
    assert entities.http_statuses == []
    assert entities.api_paths == []


def test_entities_ignore_plain_words_and_versions() -> None:
    entities = extract_entities("ERROR in EXCEL version 10.0.2, see http://example.com:8080.")
    assert entities.error_codes == []
    assert entities.urls == ["http://example.com:8080"]
    assert entities.http_statuses == []


def test_key_terms_prefer_known_tags_and_repeated_words() -> None:
    text = "VPN drops every hour. The VPN client shows error 809. Remote desktop via VPN."
    terms = extract_key_terms(text, known_tags=["Remote Desktop", "billing"], limit=4)
    assert [t.term for t in terms][:2] == ["Remote Desktop", "vpn"]
    assert all(0 < t.score <= 1 for t in terms)
    assert "billing" not in [t.term for t in terms]
    assert len(terms) == 4


def test_summary_collects_sentences_errors_and_urls() -> None:
    summary = summarize(
        "Hi team. When I click the Pay button on the checkout page nothing happens. "
        "I expected to see the confirmation. This started after the last release. Thanks.",
        transcript="So here I click pay and nothing happens, see the error in the console.",
        console_logs=CONSOLE,
        max_sentences=2,
    )
    assert summary.sentences[0].startswith("When I click the Pay button")
    assert len(summary.sentences) == 2
    assert "Uncaught TypeError: Cannot read properties of undefined (reading 'id')" in (
        summary.error_messages
    )
    assert not any(m.startswith("Traceback") for m in summary.error_messages)
    assert "https://api.example.com/v1/items?id=3" in summary.urls
    assert "Errors:" in summary.as_text()
    assert 0 < summary.confidence <= 1


def test_summary_of_empty_ticket() -> None:
    summary = summarize("")
    assert summary.sentences == []
    assert summary.confidence == 0.0


@pytest.mark.parametrize(
    ("title", "problem"),
    [
        ("", "empty"),
        ("bug", "generic"),
        ("Help!!", "generic"),
        ("asdf", "generic"),
        ("sdfghjk", "gibberish"),
        ("printer", "too short"),
        ("Checkout fails with 500 error", None),
    ],
)
def test_title_problem(title: str, problem: str | None) -> None:
    assert title_problem(title) == problem


def test_suggest_title_uses_error_and_key_sentence() -> None:
    suggestion = suggest_title(
        "bug",
        "When I click the Pay button on the checkout page nothing happens. I expected more.",
        console_logs="Uncaught TypeError: x is undefined",
    )
    assert suggestion is not None
    assert suggestion.title.startswith("TypeError: When I click the Pay button")
    assert len(suggestion.title) <= 81
    assert suggestion.reason == "generic"
    assert suggestion.confidence >= 0.7


def test_good_titles_are_kept() -> None:
    assert suggest_title("Checkout fails with 500 error", "whatever") is None
    assert suggest_title("", "") is None
