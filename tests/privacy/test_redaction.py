"""PII redaction: what must be removed, and (as important) what must be kept."""

import pytest

from ticketcreator.privacy import PiiKind, RedactionConfig, redact


def _only(text: str, kind: PiiKind) -> str:
    return redact(text, RedactionConfig(kinds=frozenset({kind}))).text


@pytest.mark.parametrize(
    "email",
    ["john.doe@example.com", "a+tag@sub.example.co.uk", "first_last-99@corp-mail.de"],
)
def test_emails_are_redacted(email: str) -> None:
    result = redact(f"contact {email}, thanks")
    assert result.text == "contact [EMAIL], thanks"
    assert result.counts == {PiiKind.EMAIL: 1}


@pytest.mark.parametrize("text", ["user@localhost", "@mention in chat", "name at example dot com"])
def test_non_emails_are_kept(text: str) -> None:
    assert redact(text).counts.get(PiiKind.EMAIL, 0) == 0


@pytest.mark.parametrize(
    "phone",
    ["+49 30 1234567", "+1 (555) 123-4567", "0171 2345678", "030/123456", "+44 20 7946 0958"],
)
def test_phone_numbers_are_redacted(phone: str) -> None:
    assert _only(f"call me on {phone} today", PiiKind.PHONE) == "call me on [PHONE] today"


@pytest.mark.parametrize(
    "text",
    [
        "released on 2024-01-15",
        "ticket 123456789",
        "version 10.0.19045.2965",
        "price 1.299,00 EUR",
        "at 12:30:45",
        "order #98765",
    ],
)
def test_dates_ids_versions_are_not_phones(text: str) -> None:
    assert redact(text).text == text


@pytest.mark.parametrize(
    "card", ["4111 1111 1111 1111", "4111-1111-1111-1111", "5500005555555559", "378282246310005"]
)
def test_luhn_valid_cards_are_redacted(card: str) -> None:
    result = redact(f"card {card} expired")
    assert result.text == "card [CARD] expired"
    assert result.counts == {PiiKind.CARD: 1}


def test_sixteen_digits_failing_luhn_are_kept() -> None:
    text = "order 4111 1111 1111 1112 and ref 1234567890123456"
    assert redact(text, RedactionConfig(kinds=frozenset({PiiKind.CARD}))).text == text


@pytest.mark.parametrize(
    "iban", ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR1420041010050500013M02606"]
)
def test_mod97_valid_ibans_are_redacted(iban: str) -> None:
    result = redact(f"pay to {iban} please")
    assert result.text == "pay to [IBAN] please"
    assert result.counts == {PiiKind.IBAN: 1}


def test_iban_with_bad_checksum_is_kept() -> None:
    text = "pay to DE89 3704 0044 0532 0130 01"
    assert _only(text, PiiKind.IBAN) == text


@pytest.mark.parametrize(
    "secret",
    [
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFU",
        "sk-proj-abcdefghijklmnopqrstuvwxyz123456",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "AKIAIOSFODNN7EXAMPLE",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "dGhpc2lzYXNlY3JldGtleTEyMzQ1Njc4OTBhYmNkZWY=",
    ],
)
def test_tokens_and_keys_are_redacted(secret: str) -> None:
    result = redact(f"header: {secret} end")
    assert secret not in result.text
    assert result.counts == {PiiKind.SECRET: 1}


def test_credential_assignments_keep_the_key_name() -> None:
    result = redact('api_key=abcd1234efgh and "password": "hunter22x"')
    assert result.text == 'api_key=[SECRET] and "password": "[SECRET]"'


@pytest.mark.parametrize(
    "text",
    [
        "trace id 123e4567-e89b-12d3-a456-426614174000",
        "path /usr/local/lib/python3.12/site-packages/fastapi/routing.py",
        "ComponentDidMountWithoutAnyTroubleAtAll happened",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ],
)
def test_ids_paths_and_words_are_not_secrets(text: str) -> None:
    assert redact(text).text == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server 192.168.1.20 down", "server [IP] down"),
        ("from 10.0.0.0/8 range", "from [IP] range"),
        ("ipv6 2001:db8::1 and fe80::1ff:fe23:4567:890a", "ipv6 [IP] and [IP]"),
        ("full 2001:0db8:85a3:0000:0000:8a2e:0370:7334.", "full [IP]."),
    ],
)
def test_ip_addresses_are_redacted(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "running version 1.2.3.4 now",
        "v10.0.0.1 is out",
        "build 4.18.0.1 failed",
        "999.1.1.1 is not an address",
        "1.2.3.4.5 is a version",
        "time 12:30:45",
        "class a::b::c",
    ],
)
def test_versions_and_times_are_not_ips(text: str) -> None:
    assert redact(text).text == text


def test_config_turns_kinds_off() -> None:
    text = "mail a@example.com from 192.168.0.1"
    config = RedactionConfig.from_flags(email=False)
    result = redact(text, config)
    assert result.text == "mail a@example.com from [IP]"
    assert result.counts == {PiiKind.IP: 1}
    assert result.total == 1


def test_from_flags_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown redaction kinds: ssn"):
        RedactionConfig.from_flags(ssn=True)


def test_mixed_text_counts_every_kind_and_is_idempotent() -> None:
    text = (
        "From jane@example.org (+49 170 1234567): card 4111111111111111, "
        "IBAN DE89370400440532013000, host 172.16.5.4, "
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    )
    first = redact(text)
    assert first.counts == {
        PiiKind.EMAIL: 1,
        PiiKind.PHONE: 1,
        PiiKind.CARD: 1,
        PiiKind.IBAN: 1,
        PiiKind.IP: 1,
        PiiKind.SECRET: 1,
    }
    assert redact(first.text).text == first.text
    assert redact(first.text).total == 0


def test_custom_placeholder() -> None:
    config = RedactionConfig(placeholder="<{kind}>")
    assert redact("a@example.com", config).text == "<EMAIL>"
