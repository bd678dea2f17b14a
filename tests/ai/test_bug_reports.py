"""Zero-shot priority, type and category of product bug reports, and their evaluation.

The rules are those of docs/ai.md; the numbers are measured on the held-back bug reports
(data/bug_reports/holdout.csv), written in other words and about other products than the
development reports the rules were built on.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ticketcreator.ai.cli import app
from ticketcreator.ai.local.category_rules import RULE_WEIGHT, CategoryRules
from ticketcreator.ai.local.encoder import MiniLMEncoder
from ticketcreator.ai.local.impact import PRIORITY_SCALE, TYPES, assess, priority_level, ticket_type
from ticketcreator.ai.local.triage import category_classifier
from ticketcreator.ai.local.zeroshot import LabelSpec
from ticketcreator.tickets.models import Priority, TicketType

REPO = Path(__file__).resolve().parents[2]
BUG_REPORTS = REPO / "data" / "bug_reports"
HOLDOUT = BUG_REPORTS / "holdout.csv"
QUICKSTART = (
    "Checkout button does nothing. Clicking Pay shows a spinner forever. Console: Uncaught "
    "TypeError: Cannot read properties of undefined (reading 'total') at checkout.js:212. "
    "POST /api/payments returned 500. All customers are affected since the deploy, nobody "
    "can buy anything."
)


def test_the_rules_use_the_product_s_levels_and_types() -> None:
    assert set(PRIORITY_SCALE) == {p.value for p in Priority}
    assert set(TYPES) == {t.value for t in TicketType}


def _triage(text: str) -> tuple[str, str]:
    impact = assess(text)
    kind = ticket_type(impact)
    return priority_level(impact, kind), kind


@pytest.mark.parametrize(
    ("text", "priority", "kind"),
    [
        (QUICKSTART, "urgent", "incident"),
        (
            "Webshop offline. Every visitor gets 503 Service Unavailable since noon.",
            "urgent",
            "incident",
        ),
        (
            "Wrong tenant. A shared link showed me another customer's order details.",
            "urgent",
            "bug",
        ),
        (
            "Lost entries. After the sync all our contacts were deleted, months of work.",
            "urgent",
            "bug",
        ),
        (
            "Can't export. Export does nothing for me, I need the file for the audit tomorrow.",
            "high",
            "bug",
        ),
        (
            "Totals wrong. The counter shows 3 open items, the list has 4. Refreshing fixes it.",
            "normal",
            "bug",
        ),
        ("Typo in menu. The menu says 'Setings'.", "low", "bug"),
        ("How do I invite a colleague? I can't find the option.", "low", "question"),
        (
            "Calendar view. It would be great to see tasks in a calendar view.",
            "low",
            "feature_request",
        ),
        ("Please rename our workspace to Nordlicht GmbH, no hurry.", "low", "task"),
        # Serious impact in any phrasing, and serious words around a calm problem.
        (
            "Vouchers. Customers are shown the gift card balances of other households, names "
            "included.",
            "urgent",
            "bug",
        ),
        (
            "Old volunteer. We deactivated a volunteer in June; yesterday he still opened the "
            "donor list.",
            "urgent",
            "bug",
        ),
        (
            "Prices. The supplier import overwrote our sale prices with zeros.",
            "urgent",
            "bug",
        ),
        (
            "Kiosk. The kiosk declines every card since noon, we are losing bookings.",
            "urgent",
            "incident",
        ),
        (
            "Newsletter. No member receives the newsletter since the update, there is no "
            "workaround.",
            "urgent",
            "bug",
        ),
        (
            "Shift plan. Several volunteers don't see the shift plan on Android since Friday. "
            "Desktop works.",
            "high",
            "bug",
        ),
        (
            "Sync doubles entries. The Outlook sync doubles every meeting of Mr. Okafor.",
            "normal",
            "bug",
        ),
        (
            "Wrong wording. On the 'Cancel all bookings' page the confirm button is translated "
            "as 'Abort'.",
            "low",
            "bug",
        ),
        (
            "Top-ups. Since Monday customers are charged twice for their top-ups.",
            "urgent",
            "incident",
        ),
        ("Contracts. The nightly cleanup deleted all our archived contracts.", "urgent", "bug"),
        (
            "Depot. The whole depot is idle since 6:00, the scanners reject our logins.",
            "urgent",
            "incident",
        ),
        ("Team name. Could you rename our team to Night Shift? no rush.", "low", "task"),
        # step 6: breadth as a quantity, blocked, money and exposure in the wording of dev3
        (
            "Gate app. The gate app rejects each boarding pass since 6:00, we had to stop "
            "boarding.",
            "urgent",
            "incident",
        ),
        (
            "Roster. Saving the roster overwrite the shifts another manager had entered.",
            "urgent",
            "bug",
        ),
        ("Payslips. In the app I can see the payslips of the other drivers.", "urgent", "bug"),
        (
            "Old account. We deactivated her account on Monday; the log shows her downloading "
            "invoices today.",
            "urgent",
            "bug",
        ),
        (
            "Vouchers. The voucher codes just count up, anyone who tries a few numbers can "
            "redeem them.",
            "urgent",
            "bug",
        ),
        (
            "Tips. Maybe nothing, but the tips of every waiter were paid out to the bar only.",
            "urgent",
            "incident",
        ),
        (
            "Pay screen. At all three of our shops the pay screen spins forever.",
            "urgent",
            "incident",
        ),
        (
            "Online shop. Since the deploy POST /api/orders returns 500, people fill their cart "
            "and leave.",
            "urgent",
            "incident",
        ),
        (
            "Kiosk app. The kiosk app crashes on some tablets, the website still works.",
            "high",
            "bug",
        ),
        ("Reminders. About a fifth of our clients get no reminder SMS.", "high", "bug"),
        (
            "Menu text. In Spanish the order button reads 'ORDENAR', the staff laugh about it.",
            "low",
            "bug",
        ),
        ("Import. Rows with more than 50 items import one line short.", "normal", "bug"),
    ],
)
def test_a_support_lead_s_reading(text: str, priority: str, kind: str) -> None:
    assert _triage(text) == (priority, kind)


def test_a_data_exposure_goes_to_the_security_category(quantized_encoder: MiniLMEncoder) -> None:
    categories = [
        LabelSpec("Billing", "invoices, payments, refunds"),
        LabelSpec("Security", "data exposed to the wrong people, permissions, privacy"),
        LabelSpec("Interface", "layout, buttons, text"),
    ]
    text = (
        "Invoices. Changing the id in the URL shows another company's invoice with their address."
    )
    classifier = category_classifier(quantized_encoder, categories)
    [proba] = classifier.predict_proba([text], quantized_encoder.encode([text]))
    assert classifier.classes[int(proba.argmax())] == "Security"


# Another organization's taxonomy, in its own names and one-line descriptions: the readings
# the labelling rules imply (a failing feature is not an outage, looks are the interface,
# a named tool's connection is an integration, lost records are data, a weakness is
# security) must not depend on our category names.
OTHER_CATEGORIES = [
    LabelSpec("Money", "Invoices, refunds, card payments and plan changes"),
    LabelSpec("Access and privacy", "Login, passwords, user permissions and privacy"),
    LabelSpec("Availability", "The service is down, unreachable or slow"),
    LabelSpec("Look and feel", "Layout, typos, translations and how screens look"),
    LabelSpec("Connectors", "Integrations with other tools, webhooks and the API"),
    LabelSpec("Records", "Missing, duplicated or lost records; imports and exports"),
    LabelSpec("Phone app", "The iPhone and Android apps"),
]


@pytest.mark.parametrize(
    ("text", "category"),
    [
        (
            "Typo on the invoice page. The heading says 'Invocie' instead of 'Invoice'.",
            "Look and feel",
        ),
        (
            "Checkout broken. Clicking Pay shows 'Something went wrong'. "
            "Console: POST /api/checkout 500 (Internal Server Error)",
            "Money",
        ),
        (
            "Everything is down. The whole app shows 503 Service Unavailable for all of us.",
            "Availability",
        ),
        (
            "HubSpot sync stopped. Contacts are no longer pushed to HubSpot since Monday.",
            "Connectors",
        ),
        (
            "Projects gone. All projects of our team were deleted overnight, months of work.",
            "Records",
        ),
        (
            "Weak passwords. The sign-up form accepts 123456, please add password rules.",
            "Access and privacy",
        ),
        (
            "Key in page source. Our secret API key is printed in plain text in the page "
            "source of the settings page.",
            "Access and privacy",
        ),
        (
            "Keyboard covers the field. On the iPhone app the keyboard hides the comment box.",
            "Phone app",
        ),
    ],
)
def test_the_labelling_rules_hold_for_another_organization_s_categories(
    quantized_encoder: MiniLMEncoder, text: str, category: str
) -> None:
    classifier = category_classifier(quantized_encoder, OTHER_CATEGORIES)
    [proba] = classifier.predict_proba([text], quantized_encoder.encode([text]))
    assert classifier.classes[int(proba.argmax())] == category


def _rule_scores(text: str) -> dict[str, float]:
    [row] = CategoryRules(OTHER_CATEGORIES).scores([text])
    return {
        category.name: float(score) for category, score in zip(OTHER_CATEGORIES, row, strict=True)
    }


def test_an_exposure_outweighs_every_other_reading() -> None:
    scores = _rule_scores(
        "Webhook secret. The Stripe webhook signing secret is shown in plain text to anyone "
        "who opens the settings page."
    )
    assert scores["Connectors"] == RULE_WEIGHT  # a named tool's webhook
    # Similarities of one report to two categories differ by less than 1.
    assert scores["Access and privacy"] - scores["Connectors"] >= 1.0


def test_the_named_phone_app_points_to_the_app_category() -> None:
    assert _rule_scores("Crash. The Android app closes on start. Web works.")["Phone app"] > 0
    assert _rule_scores("Crash. The page closes on start.")["Phone app"] == 0


def test_availability_needs_the_report_to_say_down_or_slow() -> None:
    assert _rule_scores("Checkout broken. POST /api/checkout 500")["Availability"] < 0
    assert _rule_scores("Site down. Every page gives 502 Bad Gateway.")["Availability"] == 0


def _eval(minilm_dir: Path, *extra: str, test: Path = HOLDOUT) -> Result:
    args = ["eval", "--test", str(test), "--models-dir", str(minilm_dir.parent), *extra]
    return CliRunner().invoke(app, args)


def test_eval_scores_a_bug_report_file_zero_shot(minilm_dir: Path) -> None:
    result = _eval(minilm_dir, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    priority, kind, category = report["priority"], report["type"], report["category"]
    assert priority["n"] == kind["n"] == category["n"] == 95
    assert priority["confusion"]["labels"] == list(PRIORITY_SCALE)
    assert sum(map(sum, priority["confusion"]["matrix"])) == 95
    assert len(category["confusion"]["labels"]) == 10
    assert 0 < report["latency_ms_p50"] < 200  # bench/ai_triage.py measures the 30 ms target


# The numbers measured on each set (docs/ai.md), less one or two reports: a change that
# loses more fails. Priority and type include the urgency and type models (ai/local/urgency.py,
# ai/local/kinds.py), which were trained on all fifteen sets, so those numbers are measured on
# their own training reports; tests/ai/test_urgency.py asserts each set's numbers with the set
# left out of their training, and docs/ai.md gives the numbers of the sets written later
# (blind to blind9) as they first came. Category is the encoder's and the rules' alone.
MEASURED = {
    "dev.csv": {
        "priority": 0.83,
        "within_one": 0.98,
        "urgent": 0.97,
        "type": 0.96,
        "category": 0.81,
    },
    "dev2.csv": {
        "priority": 0.94,
        "within_one": 0.98,
        "urgent": 0.96,
        "type": 0.98,
        "category": 0.72,
    },
    "dev3.csv": {
        "priority": 0.98,
        "within_one": 0.98,
        "urgent": 0.96,
        "type": 0.93,
        "category": 0.65,
    },
    "holdout.csv": {
        "priority": 0.75,
        "within_one": 0.97,
        "urgent": 0.9,
        "type": 0.84,
        "category": 0.77,
    },
    "holdout2.csv": {
        "priority": 0.9,
        "within_one": 0.96,
        "urgent": 0.91,
        "type": 0.81,
        "category": 0.65,
    },
    "holdout3.csv": {
        "priority": 0.8,
        "within_one": 0.95,
        "urgent": 0.8,
        "type": 0.65,
        "category": 0.5,
    },
    "blind.csv": {
        "priority": 0.75,
        "within_one": 0.96,
        "urgent": 0.87,
        "type": 0.89,
        "category": 0.83,
    },
    "blind2.csv": {
        # 0.87 before the encoder's products were exact on every CPU and the models retrained
        # on its vectors: 85 of 98 since, one report fewer.
        "priority": 0.86,
        "within_one": 0.98,
        "urgent": 0.95,
        "type": 0.91,
        "category": 0.79,
    },
    "blind3.csv": {
        "priority": 0.82,
        "within_one": 0.97,
        "urgent": 0.92,
        "type": 0.88,
        "category": 0.86,
    },
    "blind4.csv": {
        "priority": 0.71,
        "within_one": 0.94,
        "urgent": 0.88,
        "type": 0.81,
        "category": 0.89,
    },
    "blind5.csv": {
        "priority": 0.74,
        "within_one": 0.97,
        "urgent": 0.92,
        "type": 0.88,
        "category": 0.72,
    },
    # Written from the rulebook alone after step 14 and measured once on it, before they were
    # added to the training sets (0.78, 0.98, 0.96, 0.88, 0.88; blind7 in its author's own
    # eight categories: 0.69,
    # 0.96, 0.92, 0.87, 0.80; blind8 in ten: 0.81, 0.97, 1.00, 0.84, 0.87; blind9 in eight:
    # 0.79, 0.97, 0.96, 0.86, 0.82).
    "blind6.csv": {
        "priority": 0.76,
        "within_one": 0.96,
        "urgent": 0.92,
        "type": 0.86,
        "category": 0.86,
    },
    "blind7.csv": {
        "priority": 0.67,
        "within_one": 0.94,
        "urgent": 0.88,
        "type": 0.85,
        "category": 0.78,
    },
    "blind8.csv": {
        "priority": 0.79,
        "within_one": 0.95,
        "urgent": 0.96,
        "type": 0.82,
        "category": 0.85,
    },
    "blind9.csv": {
        "priority": 0.77,
        "within_one": 0.95,
        "urgent": 0.92,
        "type": 0.84,
        "category": 0.8,
    },
    # Written from the rulebook alone in their authors' own taxonomies after step 16, never
    # trained on, measured once (blind10: 0.76, 0.97, 1.00, 0.86, 0.82; blind11: 0.73, 0.96,
    # 0.88, 0.90, 0.82).
    "blind10.csv": {
        "priority": 0.74,
        "within_one": 0.95,
        "urgent": 0.96,
        "type": 0.84,
        "category": 0.8,
    },
    "blind11.csv": {
        "priority": 0.71,
        "within_one": 0.94,
        "urgent": 0.84,
        "type": 0.88,
        "category": 0.8,
    },
}


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_zero_shot_triage_keeps_its_measured_numbers(minilm_dir: Path, name: str) -> None:
    result = _eval(minilm_dir, "--json", test=BUG_REPORTS / name)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    least = MEASURED[name]
    assert report["priority"]["accuracy"] >= least["priority"]
    assert report["priority"]["within_one"] >= least["within_one"]
    assert report["priority"]["urgent_recall"] >= least["urgent"]
    assert report["type"]["accuracy"] >= least["type"]
    assert report["category"]["accuracy"] >= least["category"]


def test_eval_prints_accuracies_and_confusion_matrices(minilm_dir: Path) -> None:
    result = _eval(minilm_dir)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "95 bug reports, zero-shot" in out
    assert "within one level" in out
    assert "urgent recall" in out
    assert "priority confusion (rows: true label, columns: predicted)" in out
    assert "category confusion" in out
    assert "Security & permissions" in out


def test_eval_refuses_to_train_on_a_bug_report_file(minilm_dir: Path) -> None:
    result = _eval(minilm_dir, "--mode", "learned")
    assert result.exit_code == 2
    assert "scored zero-shot" in result.output


def test_eval_of_a_ticket_file_needs_training_rows(tmp_path: Path) -> None:
    test = tmp_path / "tickets.csv"
    test.write_text("source,subject,body,category,priority,type\nendava,a,b,c,d,e\n")
    result = CliRunner().invoke(app, ["eval", "--test", str(test)])
    assert result.exit_code == 2
    assert "--train is needed" in result.output
