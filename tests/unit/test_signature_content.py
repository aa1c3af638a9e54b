"""Signature binding and manifestation without a database: the hash covers exactly the content signed."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from hmi.records.signatures import SignatureRequest, SigningSession, content_hash, manifestation, verify
from hmi.store.models import Signature

AT = datetime(2025, 1, 6, 13, 45, 12, tzinfo=UTC)


def make(content: str) -> Signature:
    return Signature(
        id=1,
        user_id=2,
        username="lena",
        printed_name="Lena Lead",
        signed_at=AT,
        meaning="Approved",
        object_type="note",
        object_id="7",
        content_hash=content_hash(content),
        action_id="a1",
    )


@pytest.mark.req("REC-010")
def test_signature_verifies_only_its_own_content() -> None:
    signature = make("batch 42 released")
    assert verify(signature, "batch 42 released")
    assert verify(signature, b"batch 42 released")
    assert not verify(signature, "batch 43 released")
    assert not verify(signature, "batch 42 released ")


@pytest.mark.req("REC-009")
def test_manifestation_names_person_time_and_meaning() -> None:
    signature = make("x")
    assert manifestation(signature) == "Signed by Lena Lead (lena) on 2025-01-06 13:45:12 UTC — meaning: Approved"
    assert "14:45:12 CET" in manifestation(signature, ZoneInfo("Europe/Berlin"))


@pytest.mark.req("REC-008")
def test_signing_session_asks_for_user_id_only_first() -> None:
    store: dict[str, object] = {}
    session = SigningSession(store, "Lena")
    assert session.first
    session.signed()
    assert not SigningSession(store, "lena").first
    # Another person on the same panel starts over, and so does the end of the session.
    assert SigningSession(store, "olga").first
    session.end()
    assert SigningSession(store, "lena").first


@pytest.mark.req("REC-012")
def test_signature_request_never_shows_the_password() -> None:
    assert "secret" not in repr(SignatureRequest("secret-password", "lena", "Approved"))
