"""Sentence embeddings with all-MiniLM-L6-v2 on ONNX Runtime (no torch).

The local provider must triage offline on a plain CPU worker. The model is a 6-layer BERT
encoder: token embeddings -> 6 x (self-attention, feed-forward) -> mean pooling over real
tokens -> L2 normalisation, giving the same 384-dimension vectors as sentence-transformers.
The published ``model.safetensors`` weights are turned into an ONNX graph in memory when the
encoder loads (nothing is downloaded or converted ahead of time), and ONNX Runtime runs it.

Why ONNX Runtime: the forward pass is a handful of matrix products, which a numpy version
also ran. Measured on one core for 200 development tickets (67 word pieces on average), the
numpy pass took 23.2 ms per ticket at p50 and ONNX Runtime 15.7 ms, with vectors equal to
cosine 0.9999998; encoding in batches of 32 took 36.6 against 22.8 ms per ticket.

Threads: each encoder runs its graph on ``threads`` threads (default 1), so several Celery
worker processes never oversubscribe the CPU. Texts are cut at ``max_tokens`` word pieces.

``quantized`` stores each dense layer's weights as int8 (one scale per output column) and
quantizes its input to uint8 on every call, the scheme of ONNX Runtime's dynamic
quantization. The int8 weights are stored as uint8 around a zero point of 128: ONNX Runtime
multiplies uint8 by int8 with 16-bit pair sums that saturate on CPUs without VNNI (AVX2,
measured on an AMD EPYC: off by up to 3.7 million on adversarial inputs), so the vectors, and
the triage, changed with the CPU; uint8 by uint8 is exact on every CPU (off by 0). On that
AVX2 machine it costs 12.3 ms per ticket instead of 10.5 (60 development tickets, one core),
with vectors a little closer to the float model's (cosine at least 0.992 instead of 0.990).
Measured on one core (300 development tickets, 128 word pieces at most): 2.2x
faster (a 128-piece ticket 15.4-15.9 ms instead of 34.5-35.6 ms), 93 instead of 153 MB
resident after load, vectors within cosine 0.979 (mean 0.993) of the float model's. The
triage service runs it (see :func:`ticketcreator.ai.local.triage.triage_encoder`); the
float graph stays the reference that reproduces the published model.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort  # type: ignore[import-untyped]
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file
from tokenizers import Tokenizer

EMBEDDING_DIM: Final = 384
DEFAULT_MAX_TOKENS: Final = 256
DEFAULT_BATCH_SIZE: Final = 32
_OPSET: Final = 17  # LayerNormalization is an ONNX operator from opset 17 on

FloatArray = npt.NDArray[np.float32]


def _release_free_heap() -> None:
    """Return freed heap pages to the operating system (glibc only; elsewhere a no-op).

    Building the graph copies the weights several times (numpy, protobuf, ONNX Runtime's
    parse); once those copies are freed, glibc keeps their pages for reuse, about 130 MB that
    every worker process would otherwise hold for its whole life.
    """
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def _layer_norm(x: FloatArray, gamma: FloatArray, beta: FloatArray, eps: float) -> FloatArray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + eps) * gamma + beta).astype(np.float32)


class _GraphBuilder:
    """Collects the nodes and weights of the encoder layers' ONNX graph."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []

    def weight(self, name: str, value: npt.NDArray[np.generic]) -> str:
        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output


def _encoder_graph(
    weights: dict[str, FloatArray], layers: int, heads: int, eps: float, *, quantized: bool
) -> bytes:
    """The transformer layers as a serialised ONNX model.

    Inputs: ``hidden`` (batch, tokens, 384), the embedded and normalised tokens, and
    ``mask_bias`` (batch, 1, 1, tokens), 0 for real tokens and -1e9 for padding. Output:
    ``out``, the last layer's hidden states. Weights keep their float32 values exactly,
    unless ``quantized``: then every dense layer's weights are int8 with one scale per output
    column, and its input is quantized to uint8 per call (ONNX Runtime's dynamic quantization
    scheme, built here directly).
    """
    g = _GraphBuilder()
    head_dim = EMBEDDING_DIM // heads
    g.weight("split_heads", np.array([0, 0, 3, heads, head_dim], dtype=np.int64))
    g.weight("merge_heads", np.array([0, 0, EMBEDDING_DIM], dtype=np.int64))
    g.weight("first_axis", np.array([0], dtype=np.int64))
    g.weight("score_scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))
    g.weight("half", np.array(0.5, dtype=np.float32))
    g.weight("one", np.array(1.0, dtype=np.float32))
    g.weight("inv_sqrt2", np.array(1.0 / np.sqrt(2.0), dtype=np.float32))

    def matmul(x: str, w: FloatArray, out: str) -> str:
        """x @ w, in float32 or with int8 weights and uint8 activations."""
        if not quantized:
            return g.node("MatMul", [x, g.weight(out + ".w", w)], out)
        scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
        # The int8 weights, stored as uint8 around the zero point 128: ONNX Runtime's uint8 x
        # int8 kernel saturates its 16-bit pair sums on CPUs without VNNI (AVX2), which moved
        # the vectors with the CPU; uint8 x uint8 is exact integer arithmetic on every CPU.
        g.weight(out + ".wq", (np.round(w / scale).astype(np.int16) + 128).astype(np.uint8))
        g.weight(out + ".wz", np.full(w.shape[1], 128, dtype=np.uint8))
        xq = [out + ".xq", out + ".xs", out + ".xz"]
        g.nodes.append(helper.make_node("DynamicQuantizeLinear", [x], xq, name=out + ".xq"))
        product = g.node("MatMulInteger", [xq[0], out + ".wq", xq[2], out + ".wz"], out + ".i32")
        product = g.node("Cast", [product], out + ".f32", to=TensorProto.FLOAT)
        scales = g.node("Mul", [xq[1], g.weight(out + ".ws", scale.astype(np.float32))], out + ".s")
        return g.node("Mul", [product, scales], out)

    def dense(x: str, prefix: str, out: str) -> str:
        """x @ W.T + b for a torch ``Linear`` stored as weight (out, in) and bias (out,)."""
        b = g.weight(out + ".b", weights[prefix + ".bias"])
        return g.node("Add", [matmul(x, weights[prefix + ".weight"].T, out + ".mm"), b], out)

    def norm(x: str, prefix: str, out: str) -> str:
        gamma = g.weight(out + ".g", weights[prefix + ".weight"])
        beta = g.weight(out + ".b", weights[prefix + ".bias"])
        return g.node("LayerNormalization", [x, gamma, beta], out, axis=-1, epsilon=eps)

    x = "hidden"
    for index in range(layers):
        p, n = f"encoder.layer.{index}.", f"l{index}."
        att = p + "attention."
        qkv_w = np.concatenate(
            [weights[f"{att}self.{part}.weight"].T for part in ("query", "key", "value")], axis=1
        )
        qkv_b = np.concatenate(
            [weights[f"{att}self.{part}.bias"] for part in ("query", "key", "value")]
        )
        qkv = g.node(
            "Add", [matmul(x, qkv_w, n + "qkv.mm"), g.weight(n + "qkv.b", qkv_b)], n + "qkv"
        )
        # (batch, tokens, 3 * hidden) -> 3 x (batch, heads, tokens, head_dim)
        split = g.node(
            "Transpose",
            [g.node("Reshape", [qkv, "split_heads"], n + "qkv.heads")],
            n + "qkv.t",
            perm=[2, 0, 3, 1, 4],
        )
        parts = [n + "q.1", n + "k.1", n + "v.1"]
        g.nodes.append(helper.make_node("Split", [split], parts, name=n + "split", axis=0))
        query, key, value = (g.node("Squeeze", [part, "first_axis"], part[:-2]) for part in parts)
        key_t = g.node("Transpose", [key], n + "k.t", perm=[0, 1, 3, 2])
        scores = g.node("MatMul", [query, key_t], n + "scores.raw")
        scores = g.node("Mul", [scores, "score_scale"], n + "scores.scaled")
        scores = g.node("Add", [scores, "mask_bias"], n + "scores")
        probs = g.node("Softmax", [scores], n + "probs", axis=-1)
        context = g.node("MatMul", [probs, value], n + "context.heads")
        context = g.node("Transpose", [context], n + "context.t", perm=[0, 2, 1, 3])
        context = g.node("Reshape", [context, "merge_heads"], n + "context")
        attended = dense(context, att + "output.dense", n + "attention")
        x = norm(g.node("Add", [attended, x], n + "residual1"), att + "output.LayerNorm", n + "ln1")
        inner = dense(x, p + "intermediate.dense", n + "ff.in")
        # Exact (erf) GELU, as BERT was trained with: 0.5 * x * (1 + erf(x / sqrt 2)).
        erf = g.node("Erf", [g.node("Mul", [inner, "inv_sqrt2"], n + "ff.scaled")], n + "ff.erf")
        gelu = g.node(
            "Mul",
            [
                g.node("Mul", [inner, "half"], n + "ff.half"),
                g.node("Add", [erf, "one"], n + "ff.erf1"),
            ],
            n + "ff.gelu",
        )
        out = dense(gelu, p + "output.dense", n + "ff.out")
        x = norm(g.node("Add", [out, x], n + "residual2"), p + "output.LayerNorm", n + "ln2")
    g.nodes.append(helper.make_node("Identity", [x], ["out"], name="out"))
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info(
                "hidden", TensorProto.FLOAT, ["batch", "tokens", EMBEDDING_DIM]
            ),
            helper.make_tensor_value_info(
                "mask_bias", TensorProto.FLOAT, ["batch", 1, 1, "tokens"]
            ),
        ],
        [
            helper.make_tensor_value_info(
                "out", TensorProto.FLOAT, ["batch", "tokens", EMBEDDING_DIM]
            )
        ],
        g.weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


class MiniLMEncoder:
    """all-MiniLM-L6-v2 loaded once from a model directory; thread-safe ``encode``.

    ``model_dir`` is the directory :class:`ticketcreator.core.modelstore.ModelStore` returns
    for ``"minilm"`` (config.json, model.safetensors, tokenizer.json). Loading takes ~0.5 s;
    the encoder then holds ~150 MB (weights and ONNX Runtime's pre-packed copies of the matrix
    weights). Building the graph briefly needs ~350 MB more, which is handed back to the
    operating system once the session exists. Build one instance per worker process and reuse
    it.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        threads: int = 1,
        quantized: bool = False,
    ) -> None:
        config = json.loads((model_dir / "config.json").read_text())
        self.max_tokens = min(max_tokens, int(config["max_position_embeddings"]))
        self.quantized = quantized
        self._eps = float(config["layer_norm_eps"])
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.max_tokens)
        weights = load_file(str(model_dir / "model.safetensors"))
        self._word = weights["embeddings.word_embeddings.weight"]
        # Single-segment input: token type 0 for every token, folded into the positions.
        self._position_type = (
            weights["embeddings.position_embeddings.weight"]
            + weights["embeddings.token_type_embeddings.weight"][0]
        )
        self._emb_ln = (
            weights["embeddings.LayerNorm.weight"],
            weights["embeddings.LayerNorm.bias"],
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        graph = _encoder_graph(
            weights,
            int(config["num_hidden_layers"]),
            int(config["num_attention_heads"]),
            self._eps,
            quantized=quantized,
        )
        self._session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        del graph, weights
        _release_free_heap()

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
        hidden = _layer_norm(
            self._word[ids] + self._position_type[:length], *self._emb_ln, self._eps
        )
        # Padding keys get -inf-like scores so real tokens never attend to them.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        [states] = self._session.run(["out"], {"hidden": hidden, "mask_bias": bias})
        summed = (np.asarray(states, dtype=np.float32) * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
