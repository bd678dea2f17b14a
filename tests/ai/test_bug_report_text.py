"""Summary, title and tags of bug reports (pure functions; the service test covers the API)."""

from ticketcreator.ai.bugreport import CaptureFacts, clip, suggested_title, summarize_report
from ticketcreator.ai.tags import choose_tags

CAPTURE = CaptureFacts(
    page_url="https://shop.example.com/checkout?step=2",
    page_title="Checkout",
    steps=[
        {"type": "navigation", "url": "https://shop.example.com/cart"},
        {"type": "click", "text": "Checkout"},
        {"type": "input", "selector": "#coupon", "text": "SPRING24"},
        {"type": "click", "text": "Pay"},
        {"type": "click", "text": "Pay"},
    ],
    console=[
        {"level": "warn", "message": "Deprecated API"},
        {"level": "error", "message": "TypeError: cart.total is undefined\n    at pay.js:10:3"},
        {"level": "error", "message": "TypeError: cart.total is undefined"},
    ],
    requests=[
        {
            "request": {"method": "POST", "url": "https://shop.example.com/api/payments"},
            "response": {"status": 502, "statusText": "Bad Gateway"},
        },
        {
            "request": {"method": "GET", "url": "https://shop.example.com/api/cart"},
            "response": {"status": 200},
        },
    ],
)


def test_summary_from_a_capture_lists_steps_expected_actual_and_each_error_once() -> None:
    summary = summarize_report(
        "Pay broken",
        "The Pay button spins and nothing happens. I expected the order confirmation page. "
        "We lose every order since this morning.",
        [CAPTURE],
    )
    text = summary.as_text()
    assert summary.overview == [
        "The Pay button spins and nothing happens on the page “Checkout” (/checkout).",
        "We lose every order since this morning.",
    ]
    assert summary.steps == [
        "Open https://shop.example.com/cart",
        'Click "Checkout"',
        "Fill in #coupon",
        'Click "Pay"',
    ]
    assert "SPRING24" not in text  # typed values stay in the capture
    assert summary.expected == "I expected the order confirmation page."
    assert summary.actual == "The Pay button spins and nothing happens."
    assert summary.errors == [
        "TypeError: cart.total is undefined",
        "POST /api/payments → 502 Bad Gateway",
    ]
    assert "Deprecated" not in text
    assert text.count("The Pay button spins") == 2  # overview and "Actual", nothing else


def test_clip_never_cuts_a_word() -> None:
    assert clip("short text", 80) == "short text"
    assert clip("the payment provider answered", 15) == "the payment…"
    assert clip("supercalifragilistic words", 10) == "supercali…"  # one word longer than the limit


def test_a_title_is_suggested_only_when_the_reporter_s_is_vague() -> None:
    body = "Saving the invoice fails with a 500. Nobody in accounting can send invoices."
    assert suggested_title("Invoice save fails with 500", body) is None
    assert suggested_title("help", body) == "Saving the invoice fails with a 500"
    assert suggested_title("", "POST /api/invoices returned 500.") == "POST /api/invoices → 500"
    assert suggested_title("Pay", "The button spins.", [CAPTURE]) == "Checkout: The button spins"
    assert suggested_title("Made from the page", "It spins.", generated=True) == "It spins"


def test_tags_prefer_the_organization_s_and_never_use_ordinary_words() -> None:
    text = (
        "Clicking Pay shows a spinner forever. TypeError: Cannot read properties of undefined. "
        "POST /api/payments returned 500. All customers are affected, nobody can buy anything."
    )
    tags = choose_tags("Checkout button does nothing", text, ["Checkout", "billing", "api"])
    assert tags[0] == ("checkout", True)
    names = [name for name, _ in tags]
    assert {"payments", "typeerror", "http-500"} <= set(names)
    assert not set(names) & {"undefined", "properties", "customers", "clicking", "spinner"}
    assert "api" not in names  # only part of the path /api/payments
    assert len(tags) <= 5


def test_at_most_five_tags() -> None:
    text = "Login, SSO, 2FA, invoices, refunds, webhooks, Android, iOS and Safari all fail."
    assert len(choose_tags("Everything", text, [])) == 5
