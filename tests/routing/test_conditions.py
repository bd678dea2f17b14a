"""Rule conditions: every field, its operators, nesting, and the path named on a mistake."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from ticketcreator.routing.calendar import hours_of
from ticketcreator.routing.conditions import evaluate, parse
from ticketcreator.routing.errors import InvalidRule
from ticketcreator.routing.facts import Facts

CATEGORY = str(uuid.uuid4())
CALENDAR = str(uuid.uuid4())
WEEKDAYS = hours_of("Europe/Berlin", {str(d): [["09:00", "17:00"]] for d in range(5)}, [])


def facts(**overrides: Any) -> Facts:
    base = Facts(
        category_id=CATEGORY,
        priority="high",
        type="bug",
        source="extension",
        tags={"checkout", "payments"},
        language="de",
        reporter_email="Jane@Shop.Example.com",
        text="Checkout fails with error 500\nThe pay button spins forever.",
        page_urls=["https://app.example.com/checkout/step-2"],
        custom_fields={"plan": "enterprise", "seats": 40},
        confidence={"category": 0.91, "priority": 0.55, "language": 0.99},
        now=datetime(2026, 10, 26, 10, 0, tzinfo=UTC),  # Monday 11:00 in Berlin
        calendars={CALENDAR: WEEKDAYS},
    )
    for key, value in overrides.items():
        setattr(base, key, value)
    return base


def holds(condition: dict[str, Any], **overrides: Any) -> bool:
    return evaluate(parse({"all": [condition]}), facts(**overrides))[0]


CASES: list[tuple[dict[str, Any], bool]] = [
    ({"field": "category", "op": "eq", "value": CATEGORY}, True),
    ({"field": "category", "op": "not_in", "value": [CATEGORY]}, False),
    ({"field": "category", "op": "is_set"}, True),
    ({"field": "category", "op": "is_not_set"}, False),
    ({"field": "priority", "op": "eq", "value": "high"}, True),
    ({"field": "priority", "op": "gte", "value": "normal"}, True),
    ({"field": "priority", "op": "gte", "value": "urgent"}, False),
    ({"field": "priority", "op": "lte", "value": "high"}, True),
    ({"field": "priority", "op": "in", "value": ["low", "normal"]}, False),
    ({"field": "type", "op": "eq", "value": "bug"}, True),
    ({"field": "type", "op": "neq", "value": "bug"}, False),
    ({"field": "source", "op": "in", "value": ["extension", "email"]}, True),
    ({"field": "tags", "op": "contains", "value": "checkout"}, True),
    ({"field": "tags", "op": "not_contains", "value": "checkout"}, False),
    ({"field": "tags", "op": "contains_any", "value": ["vip", "payments"]}, True),
    ({"field": "tags", "op": "contains_all", "value": ["vip", "payments"]}, False),
    ({"field": "language", "op": "eq", "value": "de"}, True),
    ({"field": "language", "op": "in", "value": ["en", "fr"]}, False),
    ({"field": "reporter_domain", "op": "eq", "value": "shop.example.com"}, True),
    ({"field": "reporter_domain", "op": "ends_with", "value": "example.com"}, True),
    ({"field": "reporter_domain", "op": "ends_with", "value": "ample.com"}, False),
    ({"field": "text", "op": "contains", "value": "ERROR 500"}, True),
    ({"field": "text", "op": "not_contains", "value": "refund"}, True),
    ({"field": "text", "op": "matches", "value": r"error \d{3}"}, True),
    ({"field": "page_url", "op": "glob", "value": "https://app.example.com/checkout/*"}, True),
    ({"field": "page_url", "op": "contains", "value": "/billing"}, False),
    ({"field": "page_url", "op": "matches", "value": r"/step-\d$"}, True),
    ({"field": "custom_field", "key": "plan", "op": "eq", "value": "enterprise"}, True),
    ({"field": "custom_field", "key": "seats", "op": "gt", "value": 50}, False),
    ({"field": "custom_field", "key": "seats", "op": "gte", "value": 40}, True),
    ({"field": "custom_field", "key": "plan", "op": "gt", "value": 3}, False),
    ({"field": "custom_field", "key": "region", "op": "is_not_set"}, True),
    ({"field": "business_hours", "calendar_id": CALENDAR, "op": "eq", "value": True}, True),
    ({"field": "business_hours", "calendar_id": CALENDAR, "op": "eq", "value": False}, False),
    ({"field": "ai_confidence", "key": "category", "op": "gte", "value": 0.9}, True),
    ({"field": "ai_confidence", "key": "priority", "op": "gte", "value": 0.6}, False),
    ({"field": "ai_confidence", "key": "type", "op": "lt", "value": 0.5}, False),  # unknown
]


@pytest.mark.parametrize(("condition", "expected"), CASES)
def test_condition(condition: dict[str, Any], expected: bool) -> None:
    assert holds(condition) is expected


def test_business_hours_outside_working_time() -> None:
    sunday = datetime(2026, 10, 25, 10, 0, tzinfo=UTC)
    condition = {"field": "business_hours", "calendar_id": CALENDAR, "op": "eq", "value": False}
    assert holds(condition, now=sunday)


def test_missing_facts_do_not_hold() -> None:
    assert not holds(
        {"field": "reporter_domain", "op": "eq", "value": "x.com"}, reporter_email=None
    )
    assert not holds({"field": "language", "op": "eq", "value": "de"}, language=None)


def test_nested_groups_and_reasons() -> None:
    group = parse(
        {
            "all": [
                {"field": "priority", "op": "gte", "value": "high"},
                {
                    "any": [
                        {"field": "language", "op": "eq", "value": "fr"},
                        {"field": "tags", "op": "contains", "value": "payments"},
                    ]
                },
            ]
        }
    )
    held, reasons = evaluate(group, facts())
    assert held
    assert reasons == ["priority gte 'high'", "tags contains 'payments'"]
    assert not evaluate(group, facts(tags=set()))[0]


def test_empty_all_always_holds_and_empty_any_never() -> None:
    assert evaluate(parse({"all": []}), facts()) == (True, ["always (no conditions)"])
    assert evaluate(parse({"any": []}), facts())[0] is False


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"every": []}, "conditions"),
        ({"all": [{"field": "mood", "op": "eq", "value": 1}]}, "conditions.all[0].field"),
        ({"all": [{"field": "priority", "op": "gt", "value": "low"}]}, "conditions.all[0].op"),
        ({"all": [{"field": "priority", "op": "eq", "value": "asap"}]}, "conditions.all[0].value"),
        ({"all": [{"field": "priority", "op": "eq"}]}, "conditions.all[0].value"),
        (
            {"all": [{"field": "category", "op": "eq", "value": "billing"}]},
            "conditions.all[0].value",
        ),
        ({"any": [{"field": "text", "op": "matches", "value": "("}]}, "conditions.any[0].value"),
        (
            {"all": [{"field": "tags", "op": "contains_any", "value": []}]},
            "conditions.all[0].value",
        ),
        ({"all": [{"field": "custom_field", "op": "eq", "value": 1}]}, "conditions.all[0].key"),
        (
            {"all": [{"field": "ai_confidence", "key": "mood", "op": "gt", "value": 0.5}]},
            "conditions.all[0].key",
        ),
        (
            {"all": [{"field": "ai_confidence", "key": "type", "op": "gt", "value": 2}]},
            "conditions.all[0].value",
        ),
        (
            {"all": [{"field": "business_hours", "op": "eq", "value": True}]},
            "conditions.all[0].calendar_id",
        ),
        (
            {"all": [{"field": "business_hours", "calendar_id": CALENDAR, "op": "eq", "value": 1}]},
            "conditions.all[0].value",
        ),
        (
            {"all": [{"field": "type", "op": "eq", "value": "bug", "key": "x"}]},
            "conditions.all[0].key",
        ),
        (
            {"all": [{"field": "type", "op": "eq", "value": "bug", "extra": 1}]},
            "conditions.all[0].extra",
        ),
        ({"all": [{"any": [{"all": []}]}]}, "conditions.all[0].any[0]"),
        ({"all": ["priority = high"]}, "conditions.all[0]"),
    ],
)
def test_invalid_conditions_name_the_field(document: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidRule) as caught:
        parse(document)
    assert caught.value.extensions["field"] == path
