"""Local classifiers: cues, zero-shot, learned models, serialisation and model selection.

These tests use a deterministic bag-of-words fake embedder so they run in milliseconds; the
real encoder is covered by test_encoder.py and the eval-command test.
"""

import hashlib

import numpy as np
import pytest

from ticketcreator.ai.local.base import FloatArray
from ticketcreator.ai.local.cues import CUE_NAMES, cue_features, score_cues
from ticketcreator.ai.local.learned import (
    TrainingConfig,
    fit_temperature,
    models_from_bytes,
    models_to_bytes,
    train_linear_model,
)
from ticketcreator.ai.local.selection import compare_on_holdout, train_and_compare
from ticketcreator.ai.local.triage import (
    LabelledTicket,
    LabelSet,
    LearnedTriage,
    ZeroShotTriage,
    ticket_text,
)
from ticketcreator.ai.local.zeroshot import (
    CuePriorityClassifier,
    LabelSpec,
    ZeroShotClassifier,
    label_prompt,
    order_priority_scale,
)


class BagOfWordsEmbedder:
    """Hashes words into 64 dimensions: texts sharing words get similar unit vectors."""

    def encode(self, texts: list[str]) -> FloatArray:
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace(":", " ").replace(",", " ").split():
                out[row, hashlib.md5(word.encode()).digest()[0] % 64] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


FAKE = BagOfWordsEmbedder()
FAST = TrainingConfig(max_iter=500)

TOPICS = {
    "network": ["vpn disconnects", "wifi is slow", "cannot reach the network share", "vpn error"],
    "billing": ["invoice is wrong", "charged twice on my card", "refund for invoice", "payment"],
    "access": ["need access to folder", "grant permission to repo", "new account access", "role"],
}


def _tickets(per_topic: int = 12) -> list[LabelledTicket]:
    rows = []
    for topic, phrases in TOPICS.items():
        for i in range(per_topic):
            phrase = phrases[i % len(phrases)]
            urgent = topic == "network" and i % 2 == 0
            text = f"{phrase} since monday{' urgent outage, everyone blocked' if urgent else ''}"
            rows.append(
                LabelledTicket(
                    text=text,
                    category=topic,
                    priority="high" if urgent else ("low" if topic == "access" else "medium"),
                    type="request" if topic == "access" else "incident",
                )
            )
    return rows


def test_ticket_text_joins_subject_and_body() -> None:
    assert ticket_text(" VPN down ", "since 9am") == "VPN down. since 9am"
    assert ticket_text("", "body only") == "body only"
    assert ticket_text("subject only", "") == "subject only"


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Production is down for all customers", "outage"),
        ("Unser Server ist nicht erreichbar", "outage"),
        ("We lost all data after the update", "data_loss"),
        ("Possible phishing, account compromised", "security"),
        ("The whole team cannot work", "blocked"),
        ("Need this fixed by Friday, deadline for the audit", "deadline"),
        ("URGENT please help", "urgent"),
        ("Bitte dringend prüfen", "urgent"),
        ("30% of requests fail with 502", "error_rate"),
        ("Just wondering how exports work", "inquiry"),
        ("No rush, whenever you have time", "no_rush"),
    ],
)
def test_priority_cues(text: str, cue: str) -> None:
    assert cue in score_cues(text).cues


def test_cue_score_direction_and_features() -> None:
    assert score_cues("site down, urgent, data loss").urgency == 1.0
    assert score_cues("feature request, no rush").urgency < 0
    assert score_cues("please update my address").urgency == 0.0
    features = cue_features(["site is down", "no rush"])
    assert features.shape == (2, len(CUE_NAMES))
    assert features[0, CUE_NAMES.index("outage")] == 1.0
    assert features[1].sum() == 1.0


def test_priority_scale_ordering() -> None:
    assert order_priority_scale(["low", "high", "medium"]) == (["high", "medium", "low"], "medium")
    assert order_priority_scale(["urgency_3", "urgency_0", "urgency_2", "urgency_1"]) == (
        ["urgency_0", "urgency_1", "urgency_2", "urgency_3"],
        "urgency_3",
    )
    assert order_priority_scale(["Low", "Critical", "Normal", "High"])[0] == [
        "Critical",
        "High",
        "Normal",
        "Low",
    ]


def test_cue_priority_classifier_moves_from_default() -> None:
    classifier = CuePriorityClassifier(["high", "medium", "low"], default="medium")
    texts = ["the site is down, urgent", "please change my avatar", "no rush, just wondering"]
    proba = classifier.predict_proba(texts, np.zeros((3, 1), dtype=np.float32))
    assert [classifier.classes[i] for i in proba.argmax(axis=1)] == ["high", "medium", "low"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    # Measured: urgent cues right about half the time, calm cues a quarter to a third, so
    # only urgent ones pass the default 0.6 threshold, and none claims more than 0.65.
    assert proba.max(axis=1) == pytest.approx([0.65, 0.45, 0.4], abs=1e-6)


def test_cue_priority_on_a_two_level_scale_keeps_the_level_it_picks() -> None:
    classifier = CuePriorityClassifier(["urgent", "normal"], default="normal")
    texts = ["the site is down, urgent", "please change my avatar", "no rush, just wondering"]
    proba = classifier.predict_proba(texts, np.zeros((3, 1), dtype=np.float32))
    assert [classifier.classes[i] for i in proba.argmax(axis=1)] == ["urgent", "normal", "normal"]
    assert proba.max(axis=1) == pytest.approx([0.65, 0.55, 0.55], abs=1e-6)
    single = CuePriorityClassifier(["only"]).predict_proba(texts, np.zeros((3, 1), np.float32))
    np.testing.assert_allclose(single, 1.0)


def test_label_prompt_uses_description_or_default_hints() -> None:
    assert label_prompt(LabelSpec("Network", "VPN, wifi")) == "Network: VPN, wifi"
    assert "invoice" in label_prompt(LabelSpec("Billing and Payments"))
    assert label_prompt(LabelSpec("cat_4")) == "cat 4"


def test_zero_shot_classifier_picks_the_closest_label() -> None:
    classifier = ZeroShotClassifier(
        FAKE,
        [LabelSpec("network", "vpn wifi network"), LabelSpec("billing", "invoice refund payment")],
    )
    texts = ["vpn and wifi network failing", "refund my invoice payment"]
    proba = classifier.predict_proba(texts, FAKE.encode(texts))
    assert [classifier.classes[i] for i in proba.argmax(axis=1)] == ["network", "billing"]


class ConstantEmbedder:
    """Every text gets the same vector: similarity cannot tell labels apart."""

    def encode(self, texts: list[str]) -> FloatArray:
        return np.ones((len(texts), 8), dtype=np.float32) / np.sqrt(8)


def test_words_of_a_label_s_description_in_the_ticket_count_for_that_label() -> None:
    labels = [LabelSpec("Billing", "invoice, refund"), LabelSpec("Access", "password, login")]
    texts = ["the invoice total is wrong", "my password expired", "hello there"]
    same = ConstantEmbedder()
    lexical = ZeroShotClassifier(same, labels, lexical_weight=0.5)
    proba = lexical.predict_proba(texts, same.encode(texts))
    assert [lexical.classes[i] for i in proba[:2].argmax(axis=1)] == ["Billing", "Access"]
    np.testing.assert_allclose(proba[2], [0.5, 0.5], atol=1e-6)  # no shared word: no pull
    plain = ZeroShotClassifier(same, labels)
    np.testing.assert_allclose(plain.predict_proba(texts, same.encode(texts)), 0.5, atol=1e-6)


def test_labels_without_words_to_match_still_classify() -> None:
    same = ConstantEmbedder()
    codes = ZeroShotClassifier(same, ["cat_4", "cat_5"], lexical_weight=0.5)
    assert codes.predict_proba(["cat 4 please"], same.encode(["x"])).shape == (1, 2)
    stop_words_only = ZeroShotClassifier(
        same, [LabelSpec("A", "the"), LabelSpec("B", "and")], lexical_weight=0.5
    )
    np.testing.assert_allclose(
        stop_words_only.predict_proba(["the and"], same.encode(["x"])), 0.5, atol=1e-6
    )


def test_zero_shot_triage_matches_words_for_categories_not_for_types() -> None:
    same = ConstantEmbedder()
    labels = LabelSet(
        categories=[LabelSpec("access", "password"), LabelSpec("billing", "invoice")],
        priorities=["low", "high"],
        types=[LabelSpec("incident", "outage"), LabelSpec("request", "please")],
    )
    texts = ["please fix the invoice outage"]
    [result] = ZeroShotTriage(same, labels).predict(texts, same.encode(texts))
    assert result["category"].label == "billing"
    assert result["type"].scores == pytest.approx({"incident": 0.5, "request": 0.5}, abs=1e-6)


def test_zero_shot_triage_covers_all_tasks() -> None:
    labels = LabelSet(
        categories=[LabelSpec("network", "vpn wifi"), LabelSpec("billing", "invoice refund")],
        priorities=["low", "medium", "high"],
        types=["incident", "request"],
    )
    triage = ZeroShotTriage(FAKE, labels)
    texts = ["vpn down for everyone, urgent"]
    [result] = triage.predict(texts, FAKE.encode(texts))
    assert result["category"].label == "network"
    assert result["priority"].label == "high"
    assert set(result["type"].scores) == {"incident", "request"}
    assert 0 < result["category"].confidence <= 1


def test_learned_triage_predicts_and_learns_implied_priority() -> None:
    tickets = _tickets()
    triage = LearnedTriage.train(tickets, FAKE.encode([t.text for t in tickets]), FAST)
    assert triage.implied_priority == {"request": "low"}
    texts = ["vpn disconnects again", "please grant permission to repo", "invoice is wrong"]
    results = triage.predict(texts, FAKE.encode(texts))
    assert [r["category"].label for r in results] == ["network", "access", "billing"]
    assert results[1]["priority"].label == "low"
    assert results[1]["type"].label == "request"
    for result in results:
        for prediction in result.values():
            assert sum(prediction.scores.values()) == pytest.approx(1.0, abs=1e-3)


def test_learned_triage_round_trips_through_bytes() -> None:
    tickets = _tickets()
    triage = LearnedTriage.train(
        tickets, FAKE.encode([t.text for t in tickets]), FAST, metadata={"org": "acme"}
    )
    blob = triage.to_bytes()
    restored = LearnedTriage.from_bytes(blob)
    texts = ["wifi is slow", "charged twice"]
    vectors = FAKE.encode(texts)
    before, after = triage.predict_proba(texts, vectors), restored.predict_proba(texts, vectors)
    assert before.keys() == after.keys()
    for task in before:
        assert before[task][0] == after[task][0]
        np.testing.assert_allclose(before[task][1], after[task][1], atol=2e-3)
    assert restored.metadata["org"] == "acme"
    assert restored.implied_priority == triage.implied_priority
    assert b"pickle" not in blob


def test_serialised_models_reject_foreign_and_newer_blobs() -> None:
    tickets = _tickets()
    texts = [t.text for t in tickets]
    model = train_linear_model(texts, FAKE.encode(texts), [t.category for t in tickets], FAST)
    blob = models_to_bytes({"category": model}, {})
    models, _, _ = models_from_bytes(blob)
    assert models["category"].classes == ("access", "billing", "network")
    with pytest.raises(ValueError, match="too new"):
        models_from_bytes(_with_header(blob, format_version=99))
    with pytest.raises(ValueError, match="not a triage model"):
        models_from_bytes(_with_header(blob, magic="other"))


def test_format_1_models_load_with_their_margins_and_offsets_folded_in() -> None:
    tickets = _tickets()
    texts = [t.text for t in tickets]
    vectors = FAKE.encode(texts)
    model = train_linear_model(texts, vectors, [t.category for t in tickets], FAST)
    offsets = np.array([0.5, -1.0, 0.0], dtype=np.float32)
    # Format 1 kept SVM margins (probabilities softmax(2 x margin)) and per-class offsets
    # added to the log-probabilities; the same decision function written the old way:
    v1 = _with_arrays(
        _with_header(models_to_bytes({"category": model}, {}), format_version=1),
        {"category.coef": model.coef / 2, "category.intercept": model.intercept / 2,
         "category.bias": offsets},
    )  # fmt: skip
    loaded, _, _ = models_from_bytes(v1)
    margins = model.predict_proba(texts, vectors)
    expected = np.exp(np.log(margins) + offsets)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        loaded["category"].predict_proba(texts, vectors), expected, atol=2e-3
    )


def _with_arrays(blob: bytes, replace: dict[str, FloatArray]) -> bytes:
    import io

    with np.load(io.BytesIO(blob)) as archive:
        arrays = {name: archive[name] for name in archive.files} | replace
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _with_header(blob: bytes, **changes: object) -> bytes:
    import io
    import json

    with np.load(io.BytesIO(blob)) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = {**json.loads(arrays["header"].tobytes()), **changes}
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def test_training_needs_two_labels() -> None:
    with pytest.raises(ValueError, match="two distinct labels"):
        train_linear_model(["a b", "c d"], FAKE.encode(["a b", "c d"]), ["x", "x"], FAST)


def test_compare_on_holdout_prefers_the_better_model() -> None:
    tickets = _tickets(per_topic=16)
    vectors = FAKE.encode([t.text for t in tickets])
    learned = LearnedTriage.train(tickets[::2], vectors[::2], FAST)
    useless = ZeroShotTriage(FAKE, LabelSet(categories=["cat_1", "cat_2"], priorities=["p1"]))
    held = tickets[1::2]
    decisions = compare_on_holdout(
        learned.predict_proba, useless.predict_proba, held, vectors[1::2]
    )
    assert decisions["category"].use_learned
    assert decisions["category"].learned_macro_f1 > decisions["category"].zero_shot_macro_f1
    assert decisions["type"].use_learned  # zero-shot has no type model here
    few = compare_on_holdout(
        learned.predict_proba, useless.predict_proba, held[:5], vectors[1:11:2]
    )
    assert not few["category"].use_learned  # too few held-back rows to trust


def test_train_and_compare_returns_a_model_trained_on_everything() -> None:
    tickets = _tickets(per_topic=16)
    vectors = FAKE.encode([t.text for t in tickets])
    zero = ZeroShotTriage(
        FAKE, LabelSet(categories=list(TOPICS), priorities=["high", "medium", "low"])
    )
    model, decisions = train_and_compare(tickets, vectors, zero.predict_proba)
    assert model.metadata["trained_rows"] == len(tickets)
    assert set(decisions) == {"category", "priority", "type"}


def test_fit_temperature_recovers_the_temperature_labels_were_drawn_with() -> None:
    rng = np.random.default_rng(7)
    logits = rng.normal(0.0, 3.0, size=(4000, 3)).astype(np.float32)
    scaled = np.exp(logits / 2.0)
    probabilities = scaled / scaled.sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(3, p=row) for row in probabilities])
    assert fit_temperature(logits, truth) == pytest.approx(2.0, rel=0.1)
    assert fit_temperature(logits * 2.0, truth) == pytest.approx(4.0, rel=0.1)


def _noisy_tickets(count: int, seed: int) -> tuple[list[str], list[str]]:
    """Topic phrases whose label is replaced by a random topic 40 % of the time."""
    rng = np.random.default_rng(seed)
    topics = sorted(TOPICS)
    texts, labels = [], []
    for i in range(count):
        topic = topics[i % len(topics)]
        texts.append(f"{rng.choice(TOPICS[topic])} ticket {rng.integers(1000)}")
        labels.append(str(rng.choice(topics)) if rng.random() < 0.4 else topic)
    return texts, labels


def test_confidences_are_calibrated_on_held_back_rows_without_changing_labels() -> None:
    texts, labels = _noisy_tickets(600, seed=1)
    vectors = FAKE.encode(texts)
    plain = train_linear_model(
        texts, vectors, labels, TrainingConfig(max_iter=500, calibration_share=0.0)
    )
    calibrated = train_linear_model(texts, vectors, labels, FAST)
    assert plain.temperature == 1.0
    assert calibrated.temperature > 1.5  # the noisy labels make the plain fit overconfident

    new_texts, new_labels = _noisy_tickets(600, seed=2)
    new_vectors = FAKE.encode(new_texts)
    before = plain.predict_proba(new_texts, new_vectors)
    after = calibrated.predict_proba(new_texts, new_vectors)
    np.testing.assert_array_equal(before.argmax(axis=1), after.argmax(axis=1))
    right = np.array(plain.classes)[before.argmax(axis=1)] == np.array(new_labels)
    accuracy = right.mean()
    assert before.max(axis=1).mean() - accuracy > 0.1  # measured 0.83 promised, 0.70 delivered
    assert abs(after.max(axis=1).mean() - accuracy) < 0.05  # measured 0.67

    [restored] = models_from_bytes(models_to_bytes({"category": calibrated}, {}))[0].values()
    assert restored.temperature == pytest.approx(calibrated.temperature)
    np.testing.assert_allclose(restored.predict_proba(new_texts, new_vectors), after, atol=2e-3)


def test_small_training_sets_are_not_calibrated() -> None:
    tickets = _tickets()  # 36 rows: 7 held back, fewer than min_calibration_rows
    texts = [t.text for t in tickets]
    model = train_linear_model(texts, FAKE.encode(texts), [t.category for t in tickets], FAST)
    assert model.temperature == 1.0
