"""The audit row hash: canonical, covering every field, chained to the previous row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hmi.records.audit import as_text, canonical_content, row_hash
from hmi.store.models import GENESIS_HASH, AuditEntry


def entry(**changes: object) -> AuditEntry:
    fields: dict[str, object] = {
        "id": 1,
        "at": datetime(2025, 1, 6, 6, 0, tzinfo=UTC),
        "user_id": 3,
        "username": "alice",
        "station": "panel-1",
        "action": "note.add",
        "object_type": "shift_note",
        "object_id": "7",
        "old_value": None,
        "new_value": "pump 2 noisy",
        "reason": None,
        "detail": None,
        "action_id": "abc",
        "prev_hash": GENESIS_HASH,
        "row_hash": "",
    }
    fields.update(changes)
    return AuditEntry(**fields)


@pytest.mark.req("REC-003")
def test_hash_is_stable_and_hex() -> None:
    first = row_hash(entry())
    assert first == row_hash(entry())
    assert len(first) == 64
    int(first, 16)


@pytest.mark.parametrize(
    "change",
    [
        {"id": 2},
        {"at": datetime(2025, 1, 6, 6, 0, 0, 1, tzinfo=UTC)},
        {"user_id": 4},
        {"username": "bob"},
        {"station": "panel-2"},
        {"action": "note.amend"},
        {"object_type": "note"},
        {"object_id": "8"},
        {"old_value": ""},
        {"new_value": "pump 2 quiet"},
        {"reason": "typo"},
        {"detail": "x"},
        {"action_id": "abd"},
        {"prev_hash": "1" * 64},
    ],
)
@pytest.mark.req("REC-003")
def test_every_field_is_covered(change: dict[str, object]) -> None:
    assert row_hash(entry(**change)) != row_hash(entry())


@pytest.mark.req("REC-003")
def test_time_zone_of_the_same_instant_does_not_matter() -> None:
    plant = timezone(timedelta(hours=1))
    same_instant = datetime(2025, 1, 6, 7, 0, tzinfo=plant)
    assert canonical_content(entry(at=same_instant)) == canonical_content(entry())


@pytest.mark.req("REC-003")
def test_values_are_kept_as_text() -> None:
    assert as_text(None) is None
    assert as_text("x") == "x"
    assert as_text({"b": 1, "a": True}) == '{"a": true, "b": 1}'
