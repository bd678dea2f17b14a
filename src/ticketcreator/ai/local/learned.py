"""Learned triage models trained on an organization's own labelled tickets.

A :class:`LinearTextModel` is a class-balanced linear SVM over three feature blocks:
hashed word/character TF-IDF (see :mod:`.features`), the MiniLM sentence embedding, and
urgency-cue flags. Classes are balanced in training, and a per-class bias is then tuned on
out-of-fold predictions to maximise macro-F1, so rare categories are still predicted.

Models serialise to bytes (``to_bytes``/``from_bytes``) as an ``.npz`` archive of plain numpy
arrays plus a JSON header, loaded with ``allow_pickle=False``: stored models can never
execute code, and the format is versioned. The linear SVM trains in seconds on a few thousand
tickets once their embeddings exist (the caller stores each ticket's embedding anyway), so
incremental retraining simply retrains on all current rows.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from ticketcreator.ai.local.base import FloatArray, softmax
from ticketcreator.ai.local.cues import cue_features
from ticketcreator.ai.local.features import HashedTfidf, SparseMatrix, hash_counts

FORMAT_VERSION: Final = 1
MARGIN_SCALE: Final = 2.0
_MAGIC: Final = "ticketcreator.triage-model"


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters; defaults chosen on an inner validation split of the development data."""

    c: float = 0.3  # inverse regularisation of the linear SVM
    embedding_weight: float = 1.0  # scale of the MiniLM block relative to the TF-IDF blocks
    cue_weight: float = 0.5
    min_df: int = 1
    bias_folds: int = 4  # folds for out-of-fold bias tuning; 0 disables it
    max_iter: int = 2000
    seed: int = 0


@dataclass
class LinearTextModel:
    """One task's classifier: featurizer state, weights and tuned per-class biases."""

    classes: tuple[str, ...]
    featurizer: HashedTfidf
    coef: FloatArray  # (n_classes, n_features)
    intercept: FloatArray  # (n_classes,)
    bias: FloatArray  # (n_classes,) added to log-probabilities
    config: TrainingConfig = field(default_factory=TrainingConfig)

    def predict_proba(
        self,
        texts: Sequence[str],
        embeddings: FloatArray,
        prepared: PreparedTexts | None = None,
    ) -> FloatArray:
        """Probabilities over ``classes`` (bias-adjusted, renormalised) for each text.

        ``prepared`` (from :func:`prepare_texts`) lets several task models share the
        text hashing and cue matching of the same tickets.
        """
        prepared = prepared or prepare_texts(texts)
        features = _features(self.featurizer, prepared, embeddings, self.config)
        logits = np.asarray(features @ self.coef.T) + self.intercept
        proba = softmax(logits * MARGIN_SCALE)
        return softmax(np.log(proba + 1e-9) + self.bias)


@dataclass(frozen=True)
class PreparedTexts:
    """Model-independent work on a batch of texts: hashed n-gram counts and cue flags."""

    texts: list[str]
    counts: SparseMatrix
    cues: FloatArray


def prepare_texts(texts: Sequence[str]) -> PreparedTexts:
    texts = list(texts)
    return PreparedTexts(texts, hash_counts(texts), cue_features(texts))


def _features(
    featurizer: HashedTfidf,
    prepared: PreparedTexts,
    embeddings: FloatArray,
    config: TrainingConfig,
) -> SparseMatrix:
    blocks = [featurizer.transform(prepared.texts, prepared.counts)]
    if config.embedding_weight:
        blocks.append(sp.csr_matrix(embeddings * np.float32(config.embedding_weight)))
    if config.cue_weight:
        blocks.append(sp.csr_matrix(prepared.cues * np.float32(config.cue_weight)))
    return sp.hstack(blocks, format="csr")


class _SoftmaxSVC:
    """Class-balanced linear SVM whose scores become probabilities through a softmax.

    liblinear's SVM trains ~10x faster than logistic regression on hundreds of thousands of
    sparse n-gram columns with similar accuracy; the softmax scale turns margins into
    confidences (margin 1 vs -1 -> ~0.98 for two classes).
    """

    def __init__(self, config: TrainingConfig) -> None:
        self.svm = LinearSVC(C=config.c, class_weight="balanced", max_iter=config.max_iter)

    def fit(self, features: SparseMatrix, labels: npt.NDArray[np.str_]) -> _SoftmaxSVC:
        self.svm.fit(features, labels)
        self.classes_ = self.svm.classes_
        coef, intercept = self.svm.coef_, self.svm.intercept_
        if len(self.classes_) == 2:  # liblinear stores one row for binary problems
            coef, intercept = np.vstack([-coef, coef]) / 2, np.hstack([-intercept, intercept]) / 2
        self.coef_, self.intercept_ = coef.astype(np.float32), intercept.astype(np.float32)
        return self

    def predict_proba(self, features: SparseMatrix) -> FloatArray:
        return softmax((features @ self.coef_.T + self.intercept_) * MARGIN_SCALE)


def _fit(features: SparseMatrix, labels: npt.NDArray[np.str_], config: TrainingConfig) -> Any:
    return _SoftmaxSVC(config).fit(features, labels)


def _out_of_fold_proba(
    features: SparseMatrix,
    labels: npt.NDArray[np.str_],
    classes: tuple[str, ...],
    config: TrainingConfig,
) -> FloatArray | None:
    """Probabilities for every training row from models that did not see it, or None if too few."""
    counts = Counter(labels.tolist())
    folds = min(config.bias_folds, len(labels) // 10)
    if folds < 2:
        return None
    # Classes rarer than the fold count are grouped so stratification stays possible.
    strata = np.array([y if counts[y] >= folds else "\0rare" for y in labels])
    if Counter(strata.tolist()).most_common()[-1][1] < folds:
        return None
    proba = np.zeros((len(labels), len(classes)), dtype=np.float32)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    for train_rows, held_rows in splitter.split(np.zeros(len(labels)), strata):
        if len(set(labels[train_rows].tolist())) < 2:
            return None
        model = _fit(features[train_rows], labels[train_rows], config)
        columns = [classes.index(label) for label in model.classes_]
        proba[np.ix_(held_rows, columns)] = model.predict_proba(features[held_rows])
    return proba


def tune_class_bias(
    proba: FloatArray, labels: Sequence[str], classes: tuple[str, ...], *, rounds: int = 2
) -> FloatArray:
    """Per-class log-probability offsets that maximise macro-F1 (coordinate ascent).

    Balanced training still under-predicts classes whose texts overlap a big class; shifting
    their decision threshold on held-out predictions recovers them. Offsets are searched on
    a coarse grid and only kept when they improve macro-F1, so noise cannot move them far.
    """
    logp = np.log(proba + 1e-9)
    truth = np.array([classes.index(label) for label in labels])
    bias = np.zeros(len(classes), dtype=np.float32)

    def macro_f1(candidate: FloatArray) -> float:
        guess = (logp + candidate).argmax(axis=1)
        return float(f1_score(truth, guess, average="macro", labels=np.unique(truth)))

    best = macro_f1(bias)
    for _ in range(rounds):
        for index in range(len(classes)):
            for offset in np.linspace(-2.0, 2.0, 17, dtype=np.float32):
                candidate = bias.copy()
                candidate[index] = offset
                score = macro_f1(candidate)
                if score > best + 1e-6:
                    best, bias = score, candidate
    return bias


def train_linear_model(
    texts: Sequence[str],
    embeddings: FloatArray,
    labels: Sequence[str],
    config: TrainingConfig | None = None,
) -> LinearTextModel:
    """Fit one task on labelled tickets (at least two distinct labels required)."""
    config = config or TrainingConfig()
    y = np.array(labels, dtype=str)
    classes = tuple(sorted(set(y.tolist())))
    if len(classes) < 2:
        raise ValueError("training needs at least two distinct labels")
    featurizer = HashedTfidf.fit(list(texts), min_df=config.min_df)
    features = _features(featurizer, prepare_texts(texts), embeddings, config)
    model = _fit(features, y, config)
    coef, intercept = model.coef_, model.intercept_
    bias = np.zeros(len(classes), dtype=np.float32)
    if config.bias_folds:
        held_out = _out_of_fold_proba(features, y, classes, config)
        if held_out is not None:
            bias = tune_class_bias(held_out, y.tolist(), classes)
    return LinearTextModel(classes, featurizer, coef, intercept, bias, config)


def _config_from(data: dict[str, Any]) -> TrainingConfig:
    return TrainingConfig(**{key: data[key] for key in TrainingConfig.__dataclass_fields__})


def models_to_bytes(models: dict[str, LinearTextModel], metadata: dict[str, Any]) -> bytes:
    """Serialise named task models (e.g. ``category``) into one versioned ``.npz`` blob."""
    header = {
        "magic": _MAGIC,
        "format_version": FORMAT_VERSION,
        "metadata": metadata,
        "tasks": {
            name: {"classes": list(model.classes), "config": model.config.__dict__}
            for name, model in models.items()
        },
    }
    arrays: dict[str, npt.NDArray[Any]] = {
        "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    }
    for name, model in models.items():
        arrays[f"{name}.columns"] = model.featurizer.columns.astype(np.int32)
        arrays[f"{name}.idf"] = model.featurizer.idf
        arrays[f"{name}.coef"] = model.coef.astype(np.float16)
        arrays[f"{name}.intercept"] = model.intercept
        arrays[f"{name}.bias"] = model.bias
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def models_from_bytes(blob: bytes) -> tuple[dict[str, LinearTextModel], dict[str, Any]]:
    """Inverse of :func:`models_to_bytes`; rejects foreign or newer formats."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes().decode())
        if header.get("magic") != _MAGIC:
            raise ValueError("not a triage model")
        if header["format_version"] > FORMAT_VERSION:
            raise ValueError(f"triage model format {header['format_version']} is too new")
        models = {}
        for name, task in header["tasks"].items():
            featurizer = HashedTfidf(
                columns=archive[f"{name}.columns"].astype(np.int64), idf=archive[f"{name}.idf"]
            )
            models[name] = LinearTextModel(
                classes=tuple(task["classes"]),
                featurizer=featurizer,
                coef=archive[f"{name}.coef"].astype(np.float32),
                intercept=archive[f"{name}.intercept"],
                bias=archive[f"{name}.bias"],
                config=_config_from(task["config"]),
            )
    return models, header["metadata"]


__all__ = [
    "FORMAT_VERSION",
    "LinearTextModel",
    "PreparedTexts",
    "TrainingConfig",
    "models_from_bytes",
    "models_to_bytes",
    "prepare_texts",
    "train_linear_model",
    "tune_class_bias",
]
