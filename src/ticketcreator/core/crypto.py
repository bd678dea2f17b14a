"""Encryption at rest for secrets (integration credentials, webhook secrets, vendor tokens).

Values are sealed with AES-256-GCM and stored as ``v1:<kid>:<base64url(nonce || ciphertext)>``.
The key id names the configured key material (``security.encryption_keys``) that sealed the
value, so decryption picks its key directly and :func:`needs_rotation` is a string check; the
prefix is authenticated as associated data, so a value cannot be relabelled to another key.
Each AES key is derived from its key material with HKDF-SHA256, which turns a long passphrase
into a uniform 256-bit key and keeps the raw material out of the cipher.

Chosen over MultiFernet because Fernet tokens carry no key id: MultiFernet finds the key by
trial decryption, and telling whether a value still needs re-encryption means trying keys.

Rotation: add a new key, make it ``encryption_active_kid`` (old keys keep decrypting), run
``ticketcreator rotate-encryption-keys`` (:func:`rotate_encryption_keys`), then drop old keys.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column, MetaData, Text, and_, select, type_coerce, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator

from ticketcreator.core.config import get_settings

VERSION = "v1"
_NONCE_BYTES = 12
_HKDF_SALT = b"ticketcreator/encryption-at-rest"
_HKDF_INFO = b"aes-256-gcm v1"


class DecryptionError(ValueError):
    """A stored value is malformed, sealed with an unknown key, or was tampered with."""


@lru_cache(maxsize=32)
def _cipher(material: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        material.encode()
    )
    return AESGCM(key)


def _cipher_for(kid: str) -> AESGCM:
    material = get_settings().security.encryption_keys.get(kid)
    if material is None:
        raise DecryptionError(f"no encryption key with id {kid!r} is configured")
    return _cipher(material.get_secret_value())


def active_kid() -> str:
    return get_settings().security.encryption_active_kid


def _header(kid: str) -> str:
    return f"{VERSION}:{kid}:"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encrypt(plaintext: str) -> str:
    """Seal ``plaintext`` with the active key."""
    kid = active_kid()
    nonce = os.urandom(_NONCE_BYTES)
    header = _header(kid)
    sealed = _cipher_for(kid).encrypt(nonce, plaintext.encode(), header.encode())
    return header + _b64encode(nonce + sealed)


def key_id_of(token: str) -> str:
    """The key id a stored value was sealed with."""
    version, kid, body = [*token.split(":", 2), "", ""][:3]
    if version != VERSION or not kid or not body:
        raise DecryptionError("not an encrypted value")
    return kid


def decrypt(token: str) -> str:
    """Open a value sealed by :func:`encrypt` with any configured key."""
    kid = key_id_of(token)
    header = _header(kid)
    cipher = _cipher_for(kid)
    try:
        data = _b64decode(token[len(header) :])
        nonce, sealed = data[:_NONCE_BYTES], data[_NONCE_BYTES:]
        plaintext = cipher.decrypt(nonce, sealed, header.encode())
    except (InvalidTag, binascii.Error, ValueError):
        raise DecryptionError("the encrypted value is corrupt or was tampered with") from None
    return plaintext.decode()


def needs_rotation(token: str) -> bool:
    """True when ``token`` was sealed with a key other than the active one."""
    return key_id_of(token) != active_kid()


class EncryptedString(TypeDecorator[str]):
    """A text column whose values are stored encrypted and read back in clear."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else decrypt(value)


@dataclass(frozen=True)
class Rotated:
    """How many values of one column were re-encrypted to the active key."""

    table: str
    column: str
    count: int


def encrypted_columns(metadata: MetaData) -> list[Column[Any]]:
    return [
        column
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedString)
    ]


async def _rotate_column(session: AsyncSession, column: Column[Any], batch_size: int) -> int:
    table = column.table
    keys = list(table.primary_key.columns)
    raw = type_coerce(column, Text())
    stale = select(*keys, raw.label("sealed")).where(
        column.is_not(None), ~raw.startswith(_header(active_kid()), autoescape=True)
    )
    count = 0
    while rows := (await session.execute(stale.limit(batch_size))).all():
        for row in rows:
            match = and_(*(key == value for key, value in zip(keys, row[:-1], strict=True)))
            resealed = type_coerce(encrypt(decrypt(row.sealed)), Text())
            await session.execute(update(table).where(match).values({column.name: resealed}))
        count += len(rows)
    return count


async def rotate_encryption_keys(
    session: AsyncSession, metadata: MetaData, batch_size: int = 500
) -> list[Rotated]:
    """Re-encrypt every :class:`EncryptedString` value of ``metadata`` to the active key.

    Works on the stored text (no ORM objects), so it covers every model without knowing it.
    The caller commits. A value sealed with a key that is no longer configured raises
    :class:`DecryptionError`: dropping a key before rotating would otherwise lose data.
    """
    return [
        Rotated(column.table.name, column.name, await _rotate_column(session, column, batch_size))
        for column in encrypted_columns(metadata)
    ]
