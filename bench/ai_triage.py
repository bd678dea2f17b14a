"""Single-ticket triage latency of the local provider vs. the TF-IDF + LR baseline.

Runs on one core with one BLAS thread (as a Celery `ai` worker should be configured),
trains both on a sample of the labelled tickets per source family, then triages test tickets
one at a time and prints p50/p99 wall and CPU milliseconds (model load and training
excluded) and the local/baseline ratio. Also prints the resident memory that loading the
encoder adds to the process, and the peak while it loads (Linux).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/ai_triage.py [--data dev.csv] [--tickets 200]

With ``--bug-reports data/bug_reports/holdout.csv`` it times zero-shot triage instead, as a new
organization gets it (nothing is trained): the encoder, the category, priority and type
classifiers, and both together, per report.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import random
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ticketcreator.ai.evaluation import (
    BUG_REPORT_COLUMNS,
    BaselineModel,
    Row,
    bug_report_labels,
    group_by_family,
    labelled,
    read_rows,
    row_text,
    train_baseline,
)
from ticketcreator.ai.local.base import TextClassifier
from ticketcreator.ai.local.encoder import MiniLMEncoder
from ticketcreator.ai.local.triage import LearnedTriage, ZeroShotTriage, triage_encoder
from ticketcreator.core.modelstore import ModelStore

REPO = Path(__file__).resolve().parents[1]


def _timed(fn: Callable[[str], object], texts: list[str]) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for text in texts:
        w0, c0 = time.perf_counter(), time.thread_time()
        fn(text)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return wall, cpu


def _resident_mb() -> float:
    """Resident set size of this process in MiB (Linux ``/proc``; 0 elsewhere)."""
    statm = Path("/proc/self/statm")
    if not statm.exists():
        return 0.0
    return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _pct(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples) * 1000.0, q))


def _zero_shot(path: Path, encoder: MiniLMEncoder) -> None:
    rows = read_rows(path, BUG_REPORT_COLUMNS)
    triage = ZeroShotTriage(encoder, bug_report_labels(rows))
    texts = [row_text(row) for row in rows]
    embeddings = {text: encoder.encode([text]) for text in texts}

    def classify(classifier: TextClassifier) -> Callable[[str], object]:
        return lambda text: classifier.predict_proba([text], embeddings[text])

    timings = {
        "encoder": _timed(lambda text: encoder.encode([text]), texts)[1],
        **{task: _timed(classify(c), texts)[1] for task, c in triage.classifiers.items()},
        "total": _timed(lambda text: triage.predict([text], encoder.encode([text])), texts)[1],
    }
    print(f"{len(texts)} bug reports, zero-shot, CPU ms on one core")
    print(f"{'':22}{'p50 ms':>10}{'p99 ms':>10}")
    for name, cpu in timings.items():
        print(f"{name:22}{_pct(cpu, 50):10.2f}{_pct(cpu, 99):10.2f}")
    verdict = "met" if _pct(timings["total"], 50) < 30 else "NOT met"
    print(f"target: p50 < 30 ms of CPU on one core -> {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/tickets/dev.csv")
    parser.add_argument("--models-dir", type=Path, default=REPO / "var/models")
    parser.add_argument("--train-rows", type=int, default=1500, help="per family")
    parser.add_argument("--tickets", type=int, default=200, help="test tickets per family")
    parser.add_argument("--bug-reports", type=Path, help="time zero-shot triage of these reports")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    model_dir = ModelStore(args.models_dir).path("minilm")
    before = _resident_mb()
    encoder = triage_encoder(model_dir)
    encoder.encode(["warm-up"])
    loaded, peak = _resident_mb() - before, _peak_mb() - before
    if args.bug_reports:
        _zero_shot(args.bug_reports, encoder)
        return
    rng = random.Random(42)
    local: dict[str, list[float]] = {"wall": [], "cpu": []}
    base: dict[str, list[float]] = {"wall": [], "cpu": []}
    encode_only: list[float] = []
    for family, rows in sorted(group_by_family(read_rows(args.data)).items()):
        rng.shuffle(rows)
        train: list[Row] = rows[: args.train_rows]
        test = [row_text(row) for row in rows[args.train_rows : args.train_rows + args.tickets]]
        tickets = [labelled(row) for row in train]
        model = LearnedTriage.train(tickets, encoder.encode([t.text for t in tickets]))
        baseline = train_baseline(train)

        def triage(text: str, model: LearnedTriage = model) -> object:
            return model.predict([text], encoder.encode([text]))

        def triage_baseline(text: str, baseline: dict[str, BaselineModel] = baseline) -> object:
            return {task: m.predict([text]) for task, m in baseline.items()}

        for store, fn in ((local, triage), (base, triage_baseline)):
            wall, cpu = _timed(fn, test)
            store["wall"] += wall
            store["cpu"] += cpu
        encode_only += _timed(lambda text: encoder.encode([text]), test)[1]
        print(f"{family}: trained on {len(train)} rows, timed {len(test)} tickets")

    print(f"{'':22}{'p50 ms':>10}{'p99 ms':>10}")
    for name, store in (("local (wall)", local), ("local (cpu)", local)):
        key = "wall" if "wall" in name else "cpu"
        print(f"{name:22}{_pct(store[key], 50):10.2f}{_pct(store[key], 99):10.2f}")
    print(f"{'  of which encoder':22}{_pct(encode_only, 50):10.2f}{_pct(encode_only, 99):10.2f}")
    for key in ("wall", "cpu"):
        label = f"baseline ({key})"
        print(f"{label:22}{_pct(base[key], 50):10.2f}{_pct(base[key], 99):10.2f}")
    ratio = _pct(local["cpu"], 50) / max(_pct(base["cpu"], 50), 1e-9)
    print(f"local/baseline p50 cpu ratio: {ratio:.1f}x")
    print(f"encoder memory: +{loaded:.0f} MiB resident after load, +{peak:.0f} MiB peak in load")
    verdict = "met" if _pct(local["cpu"], 50) < 30 else "NOT met"
    print(f"target: local p50 < 30 ms of CPU on one core -> {verdict}")


if __name__ == "__main__":
    main()
