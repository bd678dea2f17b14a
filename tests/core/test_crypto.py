"""Encryption at rest: AES-GCM with key ids, tamper detection, rotation over the metadata."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Column, MetaData, String, Table, Text, Uuid, select, text, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core import crypto
from ticketcreator.core.config import get_settings
from ticketcreator.core.crypto import (
    DecryptionError,
    EncryptedString,
    decrypt,
    encrypt,
    needs_rotation,
    rotate_encryption_keys,
)

NEW_KEY = "a-brand-new-encryption-key-material-0123456789"


def _keys(monkeypatch: pytest.MonkeyPatch, active: str, **keys: str) -> None:
    settings = get_settings()
    security = settings.security.model_copy(
        update={
            "encryption_keys": {kid: SecretStr(value) for kid, value in keys.items()},
            "encryption_active_kid": active,
        }
    )
    changed = settings.model_copy(update={"security": security})
    monkeypatch.setattr(crypto, "get_settings", lambda: changed)


def _dev_key() -> str:
    return get_settings().security.encryption_keys["dev1"].get_secret_value()


def test_round_trip_with_a_key_id_prefix() -> None:
    sealed = encrypt("xoxb-slack-token")
    assert sealed.startswith("v1:dev1:")
    assert "xoxb" not in sealed
    assert decrypt(sealed) == "xoxb-slack-token"
    assert encrypt("same") != encrypt("same")  # random nonce
    assert decrypt(encrypt("")) == ""
    assert not needs_rotation(sealed)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: token.replace("v1:dev1:", "v1:dev2:"),
        lambda token: "v1:dev1:!!!",
        lambda token: "v2:dev1:" + token.split(":", 2)[2],
        lambda token: "plain text",
        lambda token: "v1:dev1:" + token.split(":", 2)[2][:10],
    ],
)
def test_tampered_or_foreign_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, mangle: Any
) -> None:
    _keys(monkeypatch, "dev1", dev1=_dev_key(), dev2=NEW_KEY)
    with pytest.raises(DecryptionError):
        decrypt(mangle(encrypt("secret")))


def test_rotation_keeps_old_values_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    old = encrypt("secret")
    _keys(monkeypatch, "k2", dev1=_dev_key(), k2=NEW_KEY)
    assert needs_rotation(old)
    assert decrypt(old) == "secret"
    new = encrypt("secret")
    assert new.startswith("v1:k2:")
    assert not needs_rotation(new)
    _keys(monkeypatch, "k2", k2=NEW_KEY)
    with pytest.raises(DecryptionError, match="no encryption key"):
        decrypt(old)


def test_key_ids_are_validated_by_the_settings() -> None:
    from ticketcreator.core.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="key id"):
        load_settings(
            security={"encryption_keys": {"a:b": NEW_KEY}, "encryption_active_kid": "a:b"}
        )


@pytest.fixture
async def secrets_table(session: AsyncSession) -> AsyncIterator[Table]:
    """A table of its own metadata holding an encrypted column, as an integration would."""
    metadata = MetaData()
    table = Table(
        f"crypto_probe_{uuid.uuid4().hex[:8]}",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("label", String(50)),
        Column("secret", EncryptedString()),
    )
    connection = await session.connection()
    await connection.run_sync(metadata.create_all)
    await session.commit()
    yield table
    await session.rollback()
    await session.execute(text(f'DROP TABLE "{table.name}"'))
    await session.commit()


async def test_the_column_type_encrypts_transparently(
    session: AsyncSession, secrets_table: Table
) -> None:
    await session.execute(
        secrets_table.insert(),
        [
            {"id": uuid.uuid4(), "label": "a", "secret": "webhook-secret-a"},
            {"id": uuid.uuid4(), "label": "none", "secret": None},
        ],
    )
    await session.commit()
    clear = dict(
        (await session.execute(select(secrets_table.c.label, secrets_table.c.secret))).all()
    )
    assert clear == {"a": "webhook-secret-a", "none": None}
    raw = (
        (await session.execute(select(type_coerce(secrets_table.c.secret, Text())))).scalars().all()
    )
    assert any(value and value.startswith("v1:dev1:") for value in raw)
    assert "webhook-secret-a" not in str(raw)


async def test_rotate_reencrypts_every_stale_value(
    session: AsyncSession, secrets_table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [{"id": uuid.uuid4(), "label": str(n), "secret": f"s{n}"} for n in range(5)]
    await session.execute(
        secrets_table.insert(), [*rows, {"id": uuid.uuid4(), "label": "n", "secret": None}]
    )
    await session.commit()
    _keys(monkeypatch, "k2", dev1=_dev_key(), k2=NEW_KEY)
    metadata = secrets_table.metadata
    results = await rotate_encryption_keys(session, metadata, batch_size=2)
    await session.commit()
    assert [(r.table, r.column, r.count) for r in results] == [(secrets_table.name, "secret", 5)]
    raw = (
        (
            await session.execute(
                select(type_coerce(secrets_table.c.secret, Text())).where(
                    secrets_table.c.secret.is_not(None)
                )
            )
        )
        .scalars()
        .all()
    )
    assert all(value.startswith("v1:k2:") for value in raw)
    _keys(monkeypatch, "k2", k2=NEW_KEY)
    clear = dict(
        (await session.execute(select(secrets_table.c.label, secrets_table.c.secret))).all()
    )
    assert clear == {**{str(n): f"s{n}" for n in range(5)}, "n": None}
    again = await rotate_encryption_keys(session, metadata)
    assert again[0].count == 0
