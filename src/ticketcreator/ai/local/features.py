"""Sparse text features for learned triage models, storable as plain arrays.

Word 1-2-grams capture ticket vocabulary ("vpn", "purchase order"); character 2-5-grams within
word boundaries catch misspellings, German compounds and anonymised fragments. Terms are
*hashed* into a fixed column space, so the featurizer needs no vocabulary: its whole state is
the list of columns seen in training and their IDF weights, two numpy arrays that serialise
without pickle. Columns never seen in training are dropped, which keeps stored models small.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

HASH_BITS: Final = 20
_ANALYZERS: Final = (
    ("word", (1, 2)),
    ("char_wb", (2, 5)),
)
_WORD_REGEX: Final = r"(?u)\b\w\w+\b"

SparseMatrix = Any  # scipy.sparse.csr_matrix (scipy ships no type stubs)


def _hashers() -> list[HashingVectorizer]:
    return [
        HashingVectorizer(
            analyzer=analyzer,
            ngram_range=ngrams,
            n_features=2**HASH_BITS,
            alternate_sign=False,
            norm=None,
            lowercase=True,
            token_pattern=_WORD_REGEX if analyzer == "word" else None,
            dtype=np.float32,
        )
        for analyzer, ngrams in _ANALYZERS
    ]


def hash_counts(texts: list[str]) -> SparseMatrix:
    """Raw hashed term counts of every analyzer side by side (one block per analyzer).

    Independent of any trained state, so one result serves all of a ticket's task models.
    """
    return sp.hstack([hasher.transform(texts) for hasher in _hashers()], format="csr")


@dataclass
class HashedTfidf:
    """Sublinear TF-IDF over hashed word and character n-grams, L2-normalised per analyzer.

    ``columns`` are the hashed columns kept (seen in at least ``min_df`` training texts) and
    ``idf`` their weights; both are the complete, serialisable state.
    """

    columns: npt.NDArray[np.int64]
    idf: npt.NDArray[np.float32]

    @classmethod
    def fit(cls, texts: list[str], *, min_df: int = 1) -> HashedTfidf:
        counts = hash_counts(texts)
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        columns = np.flatnonzero(df >= min_df).astype(np.int64)
        idf = (np.log((1 + len(texts)) / (1 + df[columns])) + 1.0).astype(np.float32)
        return cls(columns=columns, idf=idf)

    @property
    def n_features(self) -> int:
        return int(self.columns.size)

    def transform(self, texts: list[str], counts: SparseMatrix | None = None) -> SparseMatrix:
        """TF-IDF rows for ``texts``; pass ``counts`` from :func:`hash_counts` to reuse them."""
        if counts is None:
            counts = hash_counts(texts)
        # ``columns`` is sorted: a binary search maps hashed to kept columns without
        # allocating a table over the whole hash space on every call.
        position = np.searchsorted(self.columns, counts.indices)
        position = np.minimum(position, self.columns.size - 1)
        keep = self.columns[position] == counts.indices
        new_cols = np.where(keep, position, -1)
        rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))[keep]
        data = (1.0 + np.log(counts.data[keep])) * self.idf[new_cols[keep]]
        out = sp.csr_matrix(
            (data.astype(np.float32), (rows, new_cols[keep])),
            shape=(counts.shape[0], self.columns.size),
        )
        return self._normalise_blocks(out)

    def _normalise_blocks(self, matrix: SparseMatrix) -> SparseMatrix:
        """L2-normalise each analyzer's block so words and characters weigh the same."""
        blocks = len(_ANALYZERS)
        block_of = (self.columns >> HASH_BITS)[matrix.indices]  # 0 = words, 1 = characters
        row_of = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        key = row_of * blocks + block_of
        sums = np.bincount(key, weights=matrix.data**2, minlength=matrix.shape[0] * blocks)
        norms = np.sqrt(sums)
        norms[norms == 0] = 1.0
        matrix.data = (matrix.data / norms[key]).astype(np.float32)
        return matrix
