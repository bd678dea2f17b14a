"""The zero-shot type model: it only turns the rules' "bug" into a question, a wish or a
request it is sure of, and the priority follows the type (docs/ai.md, step 14)."""

from pathlib import Path

import numpy as np
import pytest

from ticketcreator.ai.evaluation import BUG_REPORT_COLUMNS, read_rows, row_text
from ticketcreator.ai.local.encoder import EMBEDDING_DIM, MiniLMEncoder
from ticketcreator.ai.local.impact import PRIORITY_SCALE, TYPES, assess, ticket_type
from ticketcreator.ai.local.impact_classifiers import (
    ImpactPriorityClassifier,
    ImpactTypeClassifier,
    read_types,
)
from ticketcreator.ai.local.kinds import ASKING_FROM, KindModel
from ticketcreator.ai.local.zeroshot import names_something

BUG_REPORTS = Path(__file__).resolve().parents[2] / "data" / "bug_reports"

CLASSES = ("bug", "feature_request", "incident", "question", "task")


def _sure_of(kind: str, probability: float) -> KindModel:
    """A model that gives every report ``probability`` for ``kind``, the rest shared."""
    rest = (1 - probability) / (len(CLASSES) - 1)
    biases = np.log([probability if name == kind else rest for name in CLASSES])
    return KindModel(CLASSES, np.zeros((len(CLASSES), EMBEDDING_DIM), np.float32), biases)


@pytest.mark.parametrize("kind", ["question", "feature_request", "task"])
def test_a_bug_becomes_the_request_the_model_is_sure_of(kind: str) -> None:
    proba = _sure_of(kind, ASKING_FROM).probabilities(np.zeros((1, EMBEDDING_DIM), np.float32))
    assert _sure_of(kind, ASKING_FROM).refine("bug", proba[0]) == kind
    unsure = _sure_of(kind, ASKING_FROM - 0.02)
    assert unsure.refine("bug", unsure.probabilities(np.zeros((1, EMBEDDING_DIM)))[0]) == "bug"


@pytest.mark.parametrize("rules", ["incident", "question", "feature_request", "task"])
def test_any_other_type_of_the_rules_stays(rules: str) -> None:
    model = _sure_of("task", 0.99)
    assert model.refine(rules, model.probabilities(np.zeros((1, EMBEDDING_DIM)))[0]) == rules
    incident = _sure_of("incident", 0.99)  # never made from a bug by the model
    assert incident.refine("bug", incident.probabilities(np.zeros((1, EMBEDDING_DIM)))[0]) == "bug"


def test_a_wish_read_as_a_bug_is_rated_as_a_wish() -> None:
    text = (
        "weekly summary email. Would be nice to get a short email every Monday with last "
        "week's numbers. I don't open the portal that often."
    )
    impact = assess(text)
    assert impact.defect  # "don't" reads as a defect
    assert ticket_type(impact) == "bug"
    vectors = np.zeros((1, EMBEDDING_DIM), np.float32)
    [level] = ImpactPriorityClassifier(kinds=_sure_of("feature_request", 0.9)).predict_proba(
        [text], vectors
    )
    assert PRIORITY_SCALE[int(level.argmax())] == "low"


def test_the_shipped_model_reads_requests_the_rules_take_for_bugs(
    quantized_encoder: MiniLMEncoder,
) -> None:
    texts = [
        "Feature idea: access log. Idea for the roadmap: keep a log of who opened each "
        "document and when, downloadable as a file. Our audit team don't need it now.",
        "Checkout broken. Clicking Pay shows error 500, nobody can buy anything.",
    ]
    classifier = ImpactTypeClassifier(quantized_encoder)
    proba = classifier.predict_proba(texts, quantized_encoder.encode(texts))
    assert [classifier.classes[int(row.argmax())] for row in proba] == [
        "feature_request",
        "incident",
    ]
    assert set(classifier.classes) == set(TYPES)


def test_weights_of_another_shape_are_refused() -> None:
    with pytest.raises(ValueError, match="384"):
        KindModel.from_json('{"classes": ["bug"], "biases": [0.0], "weights": [[0.1, 0.2]]}')


def test_a_text_that_names_nothing_keeps_the_rules_type() -> None:
    # The shipped model gave "Ticket 2" task 0.60: wording alone.
    vectors = np.zeros((2, EMBEDDING_DIM), np.float32)
    texts = ["Ticket 2", "Problem. It does not work, please fix"]
    types = [kind for _, kind in read_types(texts, vectors, _sure_of("task", 0.99))]
    assert types == ["bug", "bug"]


def test_every_report_of_the_sets_names_something() -> None:
    for path in sorted(BUG_REPORTS.glob("*.csv")):
        for row in read_rows(path, BUG_REPORT_COLUMNS):
            assert names_something(row_text(row)), (path.name, row["title"])
