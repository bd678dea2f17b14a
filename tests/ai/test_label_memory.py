"""Label memory: near-copies of labelled tickets take their labels; other tickets do not."""

import numpy as np
import pytest

from ticketcreator.ai.local.base import FloatArray
from ticketcreator.ai.local.learned import TrainingConfig, models_to_bytes
from ticketcreator.ai.local.memory import NEIGHBOUR_WEIGHT, LabelMemory
from ticketcreator.ai.local.triage import LabelledTicket, LearnedTriage

FAST = TrainingConfig(max_iter=500)


def _unit(vectors: FloatArray) -> FloatArray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _near(vector: FloatArray, similarity: float, seed: int = 0) -> FloatArray:
    """A unit vector whose cosine with the unit ``vector`` is exactly ``similarity``."""
    other = np.random.default_rng(seed).normal(size=vector.shape).astype(np.float32)
    other -= (other @ vector) * vector
    other /= np.linalg.norm(other)
    spread = np.float32(np.sqrt(1 - similarity**2))
    return (np.float32(similarity) * vector + spread * other).astype(np.float32)


def _memory(threshold: float = 0.92) -> tuple[LabelMemory, FloatArray]:
    vectors = _unit(np.random.default_rng(1).normal(size=(4, 16)).astype(np.float32))
    memory = LabelMemory.of(
        vectors,
        {"priority": ["high", "low", "", "medium"], "category": ["a", "b", "a", "b"]},
        threshold=threshold,
    )
    return memory, vectors


def test_a_close_neighbour_s_label_wins_with_the_neighbour_weight() -> None:
    memory, vectors = _memory()
    query = np.stack([_near(vectors[1], 0.95), _near(vectors[1], 0.9)])
    neighbours = memory.nearest(query)
    assert neighbours.tolist() == [1, -1]
    model = np.array([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1]], dtype=np.float32)
    pulled = memory.pull("priority", ("high", "low", "medium"), model, neighbours)
    assert pulled[0].argmax() == 1  # the neighbour's "low" overrides the model's "high"
    assert pulled[0, 1] == pytest.approx(NEIGHBOUR_WEIGHT + (1 - NEIGHBOUR_WEIGHT) * 0.2)
    assert pulled[0].sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(pulled[1], model[1])  # 0.90 < 0.92: the model decides


def test_a_neighbour_without_that_label_or_with_an_unknown_one_changes_nothing() -> None:
    memory, vectors = _memory()
    model = np.array([[0.6, 0.4]], dtype=np.float32)
    unlabelled = memory.nearest(vectors[2:3])
    assert unlabelled.tolist() == [2]
    np.testing.assert_array_equal(
        memory.pull("priority", ("high", "low"), model, unlabelled), model
    )
    medium = memory.nearest(vectors[3:4])  # "medium" is not among the model's classes
    np.testing.assert_array_equal(memory.pull("priority", ("high", "low"), model, medium), model)
    np.testing.assert_array_equal(memory.pull("type", ("x", "y"), model, medium), model)


def test_the_memory_keeps_the_most_recent_rows() -> None:
    vectors = _unit(np.eye(5, dtype=np.float32))
    memory = LabelMemory.of(vectors, {"category": ["a", "b", "c", "d", "e"]}, max_rows=2)
    assert memory.vectors.shape == (2, 5)
    assert memory.nearest(vectors).tolist() == [-1, -1, -1, 0, 1]
    vocabulary, codes = memory.labels["category"]
    assert [vocabulary[code] for code in codes] == ["d", "e"]


def test_an_empty_memory_finds_no_neighbour() -> None:
    memory = LabelMemory.of(np.zeros((0, 8), dtype=np.float32), {"category": []})
    assert memory.nearest(_unit(np.ones((2, 8), dtype=np.float32))).tolist() == [-1, -1]


def test_the_memory_round_trips_through_plain_arrays() -> None:
    memory, vectors = _memory(threshold=0.9)
    restored = LabelMemory.from_arrays(memory.to_arrays())
    assert restored.threshold == pytest.approx(0.9)
    assert restored.labels.keys() == memory.labels.keys()
    for task, (vocabulary, codes) in memory.labels.items():
        assert restored.labels[task][0] == vocabulary
        np.testing.assert_array_equal(restored.labels[task][1], codes)
    query = _near(vectors[0], 0.93)[None, :]
    assert restored.nearest(query).tolist() == memory.nearest(query).tolist() == [0]


def _clustered_tickets() -> tuple[list[LabelledTicket], FloatArray]:
    """Clusters of "medium", "high" and "low" tickets, plus one "low" ticket inside the first."""
    rng = np.random.default_rng(7)
    centres = _unit(rng.normal(size=(3, 32)).astype(np.float32))
    topics = [("printing", "printers", "medium"), ("outage", "network", "high")]
    topics.append(("invoices", "billing", "low"))
    rows, vectors = [], []
    for i in range(60):
        cluster = i % 3
        word, category, priority = topics[cluster]
        rows.append(LabelledTicket(f"ticket {i} about {word}", category, priority))
        vectors.append(_near(centres[cluster], 0.8, seed=i))
    rows.append(LabelledTicket(text="ticket about printing", category="printers", priority="low"))
    vectors.append(_near(centres[0], 0.8, seed=100))
    return rows, np.stack(vectors)


def test_learned_triage_gives_a_near_copy_the_labels_agents_gave_the_original() -> None:
    rows, vectors = _clustered_tickets()
    # The linear models read the words only, so they answer "medium" for printing tickets;
    # the memory reads the vectors and knows the one printing ticket agents labelled "low".
    model = LearnedTriage.train(rows, vectors, TrainingConfig(max_iter=500, embedding_weight=0))
    original = vectors[-1]
    texts = ["ticket 3 about printing", "ticket 3 about printing"]
    queries = np.stack([_near(original, 0.97, seed=1), _near(original, 0.85, seed=2)])
    without = LearnedTriage(models=model.models, implied_priority=model.implied_priority)
    assert [p["priority"].label for p in without.predict(texts, queries)] == ["medium", "medium"]
    near_copy, similar = model.predict(texts, queries)
    assert near_copy["priority"].label == "low"
    assert near_copy["priority"].confidence >= NEIGHBOUR_WEIGHT
    assert near_copy["category"].label == "printers"
    assert similar["priority"].label == "medium"  # only similar: the model decides


def test_the_memory_is_stored_with_the_model() -> None:
    rows, vectors = _clustered_tickets()
    model = LearnedTriage.train(rows, vectors, FAST)
    restored = LearnedTriage.from_bytes(model.to_bytes())
    assert restored.memory is not None
    query = _near(vectors[-1], 0.97, seed=1)[None, :]
    assert restored.predict(["x"], query)[0]["priority"].label == "low"
    for task, (classes, proba) in model.predict_proba(["x"], query).items():
        restored_classes, restored_proba = restored.predict_proba(["x"], query)[task]
        assert restored_classes == classes
        np.testing.assert_allclose(restored_proba, proba, atol=2e-3)  # float16 weights


def test_models_stored_without_a_memory_still_load() -> None:
    rows, vectors = _clustered_tickets()
    model = LearnedTriage.train(rows, vectors, FAST)
    blob = models_to_bytes(model.models, {"implied_priority": {}})
    restored = LearnedTriage.from_bytes(blob)
    assert restored.memory is None
    assert restored.predict(["x"], vectors[-1:])[0]["priority"].label in {"low", "medium", "high"}
