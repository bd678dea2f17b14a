"""Sentence embeddings with all-MiniLM-L6-v2, computed in numpy (no torch).

The local provider must triage offline on a plain CPU worker. The model is a 6-layer BERT
encoder; its forward pass is a handful of matrix products, so running it in numpy keeps the
service free of torch (several GB) while giving the same vectors as sentence-transformers:
token embeddings -> 6 x (self-attention, feed-forward) -> mean pooling over real tokens ->
L2 normalisation. Vectors have 384 dimensions; texts are cut at ``max_tokens`` word pieces.

Performance: numpy's BLAS starts one thread per core by default. With several Celery worker
processes on a busy machine that oversubscribes the CPU badly (one sentence took ~1 s instead
of ~10 ms when measured), so set ``OPENBLAS_NUM_THREADS=1`` (and ``OMP_NUM_THREADS=1``) in the
environment of every worker process *before* it starts. This module deliberately sets
nothing global at import time: the process owner decides.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file
from tokenizers import Tokenizer

EMBEDDING_DIM: Final = 384
DEFAULT_MAX_TOKENS: Final = 256
DEFAULT_BATCH_SIZE: Final = 32

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class _Layer:
    """Weights of one transformer layer, pre-transposed for ``x @ w`` products."""

    qkv_w: FloatArray  # (hidden, 3 * hidden): query, key and value fused in one product
    qkv_b: FloatArray
    out_w: FloatArray
    out_b: FloatArray
    ln1_g: FloatArray
    ln1_b: FloatArray
    ff_in_w: FloatArray
    ff_in_b: FloatArray
    ff_out_w: FloatArray
    ff_out_b: FloatArray
    ln2_g: FloatArray
    ln2_b: FloatArray


def _layer_norm(x: FloatArray, gamma: FloatArray, beta: FloatArray, eps: float) -> FloatArray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + eps) * gamma + beta).astype(np.float32)


def _erf(x: FloatArray) -> FloatArray:
    """erf in float32 (Abramowitz & Stegun 7.1.26, max error 1.5e-7, below float32 precision).

    scipy's erf works in float64 and took a quarter of the forward pass; this stays vectorised
    in float32 and is ~4x faster.
    """
    sign = np.sign(x)
    # erf(x) is 1.0 in float32 beyond |x| = 4; clipping also keeps exp(-x^2) out of the
    # subnormal range, where CPUs are ~100x slower.
    a = np.minimum(np.abs(x), np.float32(4.0))
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.3275911) * a)
    poly = t * (
        np.float32(0.254829592)
        + t
        * (
            np.float32(-0.284496736)
            + t
            * (
                np.float32(1.421413741)
                + t * (np.float32(-1.453152027) + t * np.float32(1.061405429))
            )
        )
    )
    return (sign * (np.float32(1.0) - poly * np.exp(-a * a))).astype(np.float32)


def _gelu(x: FloatArray) -> FloatArray:
    """Exact (erf) GELU, as BERT was trained with; the tanh form drifts in the 4th digit."""
    return np.float32(0.5) * x * (np.float32(1.0) + _erf(x * np.float32(0.7071067811865476)))


class MiniLMEncoder:
    """all-MiniLM-L6-v2 loaded once from a model directory; thread-safe ``encode``.

    ``model_dir`` is the directory :class:`ticketcreator.core.modelstore.ModelStore` returns
    for ``"minilm"`` (config.json, model.safetensors, tokenizer.json). Loading takes ~0.2 s
    and ~200 MB of RAM, so build one instance per worker process and reuse it.
    """

    def __init__(self, model_dir: Path, *, max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        config = json.loads((model_dir / "config.json").read_text())
        self.max_tokens = min(max_tokens, int(config["max_position_embeddings"]))
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config["layer_norm_eps"])
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.max_tokens)
        weights = load_file(str(model_dir / "model.safetensors"))
        self._word = weights["embeddings.word_embeddings.weight"]
        self._position = weights["embeddings.position_embeddings.weight"]
        # Single-segment input: token type 0 for every token, folded into the positions.
        self._position_type = self._position + weights["embeddings.token_type_embeddings.weight"][0]
        self._emb_ln = (
            weights["embeddings.LayerNorm.weight"],
            weights["embeddings.LayerNorm.bias"],
        )
        self._layers = [
            self._load_layer(weights, index) for index in range(int(config["num_hidden_layers"]))
        ]

    @staticmethod
    def _load_layer(weights: dict[str, FloatArray], index: int) -> _Layer:
        p = f"encoder.layer.{index}."
        att = p + "attention."

        def w(name: str) -> FloatArray:
            return np.ascontiguousarray(weights[name].T)

        return _Layer(
            qkv_w=np.concatenate(
                [w(f"{att}self.{part}.weight") for part in ("query", "key", "value")], axis=1
            ),
            qkv_b=np.concatenate(
                [weights[f"{att}self.{part}.bias"] for part in ("query", "key", "value")]
            ),
            out_w=w(att + "output.dense.weight"),
            out_b=weights[att + "output.dense.bias"],
            ln1_g=weights[att + "output.LayerNorm.weight"],
            ln1_b=weights[att + "output.LayerNorm.bias"],
            ff_in_w=w(p + "intermediate.dense.weight"),
            ff_in_b=weights[p + "intermediate.dense.bias"],
            ff_out_w=w(p + "output.dense.weight"),
            ff_out_b=weights[p + "output.dense.bias"],
            ln2_g=weights[p + "output.LayerNorm.weight"],
            ln2_b=weights[p + "output.LayerNorm.bias"],
        )

    def encode(self, texts: list[str], *, batch_size: int = DEFAULT_BATCH_SIZE) -> FloatArray:
        """Unit-length embeddings, shape ``(len(texts), 384)``, float32, in input order.

        Texts are sorted by length before batching so that padding (wasted work) stays small;
        results do not depend on the batch a text lands in.
        """
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self._encode_ids([encodings[i].ids for i in chunk])
        return out

    def _encode_ids(self, batch: list[list[int]]) -> FloatArray:
        length = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, token_ids in enumerate(batch):
            ids[row, : len(token_ids)] = token_ids
            mask[row, : len(token_ids)] = 1.0
        hidden = self._word[ids] + self._position_type[:length]
        hidden = _layer_norm(hidden, *self._emb_ln, self._eps)
        # Padding keys get -inf-like scores so real tokens never attend to them.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self._layers:
            hidden = self._layer_forward(hidden, bias, layer)
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def _layer_forward(self, x: FloatArray, bias: FloatArray, layer: _Layer) -> FloatArray:
        batch, length, hidden = x.shape
        head_dim = hidden // self._heads
        qkv = x @ layer.qkv_w + layer.qkv_b
        qkv = qkv.reshape(batch, length, 3, self._heads, head_dim).transpose(2, 0, 3, 1, 4)
        # Contiguous per-head blocks let numpy hand the batched products to BLAS; on strided
        # views it falls back to a loop that was several times slower.
        query, key, value = (np.ascontiguousarray(part, dtype=np.float32) for part in qkv)
        scores = (query @ key.transpose(0, 1, 3, 2)) / np.float32(np.sqrt(head_dim)) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        attended = (context @ layer.out_w + layer.out_b + x).astype(np.float32, copy=False)
        x = _layer_norm(attended, layer.ln1_g, layer.ln1_b, self._eps)
        ff = _gelu(x @ layer.ff_in_w + layer.ff_in_b) @ layer.ff_out_w + layer.ff_out_b
        return _layer_norm(ff + x, layer.ln2_g, layer.ln2_b, self._eps)
