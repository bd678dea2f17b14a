"""Rule conditions: their JSON shape, validation with the path of each mistake, evaluation
with the reason each condition held.

A rule's conditions are one group, ``{"all": [...]}`` or ``{"any": [...]}``; an item is a
condition or a group of conditions (groups nest one level). A condition is
``{"field": ..., "op": ..., "value": ...}`` plus ``key`` for ``custom_field`` and
``ai_confidence`` and ``calendar_id`` for ``business_hours``. An empty ``all`` always holds.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import operator
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ticketcreator.routing.errors import InvalidRule
from ticketcreator.routing.facts import Facts
from ticketcreator.tickets.models import Priority, Source, TicketType

_PRIORITY_RANK = {priority.value: rank for rank, priority in enumerate(Priority)}
_CONFIDENCE_KEYS = ("category", "priority", "type", "language")
_MAX_ITEMS = 50
_MAX_PATTERN = 300

SET_OPS = ("eq", "neq", "in", "not_in")
ORDER_OPS = ("gt", "gte", "lt", "lte")


Test = Callable[[Facts], bool]
Explain = Callable[[Facts], list[str] | None]  # why it holds, in words; None: it does not


@dataclass(frozen=True)
class FieldSpec:
    ops: tuple[str, ...]
    check: Callable[[str, str, Any], Any]  # (path, op, value) → normalized value


def _fail(path: str, detail: str) -> InvalidRule:
    return InvalidRule(path, detail)


def _choice(allowed: tuple[str, ...]) -> Callable[[str, str, Any], Any]:
    def check(path: str, op: str, value: Any) -> Any:
        values = value if op in ("in", "not_in") else [value]
        if op in ("in", "not_in") and (not isinstance(value, list) or not value):
            raise _fail(path, f"`{op}` needs a non-empty list")
        for item in values:
            if item not in allowed:
                raise _fail(path, f"{item!r} is not one of {', '.join(allowed)}")
        return value

    return check


def _uuid_values(path: str, op: str, value: Any) -> Any:
    if op in ("is_set", "is_not_set"):
        return None
    values = value if op in ("in", "not_in") else [value]
    if op in ("in", "not_in") and (not isinstance(value, list) or not value):
        raise _fail(path, f"`{op}` needs a non-empty list")
    try:
        normalized = [str(uuid.UUID(str(item))) for item in values]
    except ValueError:
        raise _fail(path, "must be category ids") from None
    return normalized if op in ("in", "not_in") else normalized[0]


def _strings(lower: bool = True, pattern: str | None = None) -> Callable[[str, str, Any], Any]:
    def check(path: str, op: str, value: Any) -> Any:
        if op in ("is_set", "is_not_set"):
            return None
        listed = op in ("in", "not_in", "contains_any", "contains_all")
        values = value if listed else [value]
        if listed and (not isinstance(value, list) or not value or len(value) > _MAX_ITEMS):
            raise _fail(path, f"`{op}` needs a list of 1 to {_MAX_ITEMS} strings")
        out = []
        for item in values:
            if not isinstance(item, str) or not item or len(item) > _MAX_PATTERN:
                raise _fail(path, f"must be a string of 1 to {_MAX_PATTERN} characters")
            if pattern and not re.fullmatch(pattern, item):
                raise _fail(path, f"{item!r} does not match {pattern}")
            if op == "matches":
                try:
                    re.compile(item)
                except re.error as exc:
                    raise _fail(path, f"not a regular expression: {exc}") from None
            out.append(item.lower() if lower and op != "matches" else item)
        return out if listed else out[0]

    return check


def _number(low: float | None, high: float | None) -> Callable[[str, str, Any], Any]:
    def check(path: str, op: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(path, "must be a number")
        if (low is not None and value < low) or (high is not None and value > high):
            raise _fail(path, f"must be between {low} and {high}")
        return float(value)

    return check


def _boolean(path: str, op: str, value: Any) -> Any:
    if not isinstance(value, bool):
        raise _fail(path, "must be true or false")
    return value


def _any_value(path: str, op: str, value: Any) -> Any:
    if op in ("is_set", "is_not_set"):
        return None
    if op in ("in", "not_in") and (not isinstance(value, list) or not value):
        raise _fail(path, f"`{op}` needs a non-empty list")
    if op in ORDER_OPS and (isinstance(value, bool) or not isinstance(value, int | float | str)):
        raise _fail(path, f"`{op}` compares with a number or a date")
    if not isinstance(value, str | int | float | bool | list):
        raise _fail(path, "must be a string, number, boolean or a list of them")
    return value


_PRIORITIES = tuple(p.value for p in Priority)

FIELDS: dict[str, FieldSpec] = {
    "category": FieldSpec((*SET_OPS, "is_set", "is_not_set"), _uuid_values),
    "priority": FieldSpec((*SET_OPS, "gte", "lte"), _choice(_PRIORITIES)),
    "type": FieldSpec(SET_OPS, _choice(tuple(t.value for t in TicketType))),
    "source": FieldSpec(SET_OPS, _choice(tuple(s.value for s in Source))),
    "tags": FieldSpec(("contains", "not_contains", "contains_any", "contains_all"), _strings()),
    "language": FieldSpec((*SET_OPS, "is_set", "is_not_set"), _strings(pattern=r"[a-z]{2,3}")),
    "reporter_domain": FieldSpec((*SET_OPS, "ends_with"), _strings()),
    "text": FieldSpec(("contains", "not_contains", "matches"), _strings()),
    "page_url": FieldSpec(("contains", "glob", "matches"), _strings()),
    "custom_field": FieldSpec((*SET_OPS, *ORDER_OPS, "is_set", "is_not_set"), _any_value),
    "business_hours": FieldSpec(("eq",), _boolean),
    "ai_confidence": FieldSpec(ORDER_OPS, _number(0.0, 1.0)),
}


@dataclass(frozen=True)
class Condition:
    path: str
    field: str
    op: str
    value: Any
    key: str | None = None
    calendar_id: str | None = None
    # Set from the others when parsed: the reason shown when it holds, and its test.
    description: str = dataclasses.field(default="", compare=False)
    test: Test = dataclasses.field(default=lambda facts: False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "description", describe(self))
        object.__setattr__(self, "test", _test(self))


@dataclass(frozen=True)
class Group:
    mode: str  # all | any
    items: tuple[Condition | Group, ...]
    explain: Explain = dataclasses.field(default=lambda facts: None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "explain", _group_explain(self.mode, self.items))


def parse(raw: Any, path: str = "conditions", depth: int = 0) -> Group:
    """Validate a conditions document; raises :class:`InvalidRule` naming the bad part."""
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("all", "any"):
        raise _fail(path, 'must be {"all": [...]} or {"any": [...]}')
    mode, items = next(iter(raw.items()))
    path = f"{path}.{mode}"
    if not isinstance(items, list) or len(items) > _MAX_ITEMS:
        raise _fail(path, f"must be a list of at most {_MAX_ITEMS} conditions")
    parsed: list[Condition | Group] = []
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        if isinstance(item, dict) and ("all" in item or "any" in item):
            if depth >= 1:
                raise _fail(item_path, "groups nest one level only")
            parsed.append(parse(item, item_path, depth + 1))
        else:
            parsed.append(_condition(item, item_path))
    return Group(mode, tuple(parsed))


def _condition(item: Any, path: str) -> Condition:
    if not isinstance(item, dict):
        raise _fail(path, "must be an object with field, op and value")
    unknown = set(item) - {"field", "op", "value", "key", "calendar_id"}
    if unknown:
        raise _fail(f"{path}.{sorted(unknown)[0]}", "unknown member")
    name = item.get("field")
    spec = FIELDS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise _fail(f"{path}.field", f"must be one of {', '.join(FIELDS)}")
    op = item.get("op")
    if op not in spec.ops:
        raise _fail(f"{path}.op", f"`{name}` supports {', '.join(spec.ops)}")
    if "value" not in item and op not in ("is_set", "is_not_set"):
        raise _fail(f"{path}.value", "is required")
    value = spec.check(f"{path}.value", op, item.get("value"))
    key = item.get("key")
    calendar_id = item.get("calendar_id")
    if name == "custom_field":
        if not isinstance(key, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", key):
            raise _fail(f"{path}.key", "names the custom field (its key)")
    elif name == "ai_confidence":
        if key not in _CONFIDENCE_KEYS:
            raise _fail(f"{path}.key", f"must be one of {', '.join(_CONFIDENCE_KEYS)}")
    elif key is not None:
        raise _fail(f"{path}.key", f"`{name}` takes no key")
    if name == "business_hours":
        try:
            calendar_id = str(uuid.UUID(str(calendar_id)))
        except ValueError:
            raise _fail(f"{path}.calendar_id", "names the business-hours calendar") from None
    elif calendar_id is not None:
        raise _fail(f"{path}.calendar_id", f"`{name}` takes no calendar")
    return Condition(path, str(name), op, value, key, calendar_id)


def walk(group: Group) -> list[Condition]:
    out: list[Condition] = []
    for item in group.items:
        out.extend(walk(item) if isinstance(item, Group) else [item])
    return out


# Evaluation


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _comparison(op: str, value: Any, read: Callable[[Facts], Any]) -> Test:
    """``read(facts) <op> value`` as one closure."""
    if op == "eq":
        return lambda facts: bool(read(facts) == value)
    if op == "neq":
        return lambda facts: bool(read(facts) != value)
    if op == "in":
        return lambda facts: read(facts) in value
    if op == "not_in":
        return lambda facts: read(facts) not in value
    if op == "is_set":
        return lambda facts: (actual := read(facts)) is not None and actual != ""
    if op == "is_not_set":
        return lambda facts: (actual := read(facts)) is None or actual == ""
    order = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}[op]

    def ordered(facts: Facts) -> bool:
        actual = read(facts)
        if actual is None:
            return False
        try:
            return bool(order(actual, value))
        except TypeError:  # a text field compared with a number: the condition does not hold
            return False

    return ordered


def _reader(condition: Condition) -> Callable[[Facts], Any]:
    key = condition.key or ""
    if condition.field == "custom_field":
        return lambda facts: facts.custom_fields.get(key)
    if condition.field == "ai_confidence":
        return lambda facts: facts.confidence.get(key)
    name = {"category": "category_id"}.get(condition.field, condition.field)
    return operator.attrgetter(name)  # priority, type, source, language, reporter_domain


def _test(condition: Condition) -> Test:
    """The condition as a function of the facts, built once when the rule is parsed."""
    op, value = condition.op, condition.value
    match condition.field:
        case "priority" if op in ("gte", "lte"):
            return _comparison(
                op, _PRIORITY_RANK[value], lambda facts: _PRIORITY_RANK[facts.priority]
            )
        case "tags":
            if op == "contains":
                return lambda facts: value in facts.tags
            if op == "not_contains":
                return lambda facts: value not in facts.tags
            wanted = frozenset(value)
            if op == "contains_any":
                return lambda facts: not wanted.isdisjoint(facts.tags)
            return lambda facts: wanted <= facts.tags
        case "reporter_domain" if op == "ends_with":
            suffix = "." + value
            return lambda facts: (
                facts.reporter_domain is not None
                and (facts.reporter_domain == value or facts.reporter_domain.endswith(suffix))
            )
        case "text":
            if op == "matches":
                pattern = _regex(value)
                return lambda facts: pattern.search(facts.searched_text) is not None
            if op == "contains":
                return lambda facts: value in facts.lowered_text
            return lambda facts: value not in facts.lowered_text
        case "page_url":
            if op == "contains":
                return lambda facts: any(value in url for url in facts.lowered_urls)
            if op == "glob":
                return lambda facts: any(
                    fnmatch.fnmatchcase(url, value) for url in facts.lowered_urls
                )
            pattern = _regex(value)
            return lambda facts: any(pattern.search(url) for url in facts.page_urls)
        case "business_hours":
            calendar = condition.calendar_id or ""

            def open_now(facts: Facts) -> bool:
                hours = facts.calendars.get(calendar)
                return (
                    hours is not None
                    and facts.now is not None
                    and hours.is_open(facts.now) is value
                )

            return open_now
    return _comparison(op, value, _reader(condition))


def _group_explain(mode: str, items: tuple[Condition | Group, ...]) -> Explain:
    # (the group's explain, None) or (the condition's test, its description)
    parts: list[tuple[Any, str | None]] = [
        (item.explain, None) if isinstance(item, Group) else (item.test, item.description)
        for item in items
    ]
    if mode == "all":

        def every(facts: Facts) -> list[str] | None:
            reasons: list[str] = []
            for check, description in parts:
                if description is None:
                    why = check(facts)
                    if why is None:
                        return None
                    reasons += why
                elif check(facts):
                    reasons.append(description)
                else:
                    return None
            return reasons or ["always (no conditions)"]

        return every

    def first(facts: Facts) -> list[str] | None:
        for check, description in parts:
            if description is None:
                why = check(facts)
                if why is not None:
                    return list(why)
            elif check(facts):
                return [description]
        return None

    return first


def describe(condition: Condition) -> str:
    subject = condition.field
    if condition.key:
        subject = f"{subject}.{condition.key}"
    if condition.op in ("is_set", "is_not_set"):
        return f"{subject} {condition.op.replace('_', ' ')}"
    return f"{subject} {condition.op} {condition.value!r}"


def evaluate(group: Group, facts: Facts) -> tuple[bool, list[str]]:
    """Whether the group holds, and the conditions that made it hold."""
    why = group.explain(facts)
    return (True, why) if why is not None else (False, [])
