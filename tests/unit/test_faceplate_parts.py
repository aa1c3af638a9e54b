"""The pure parts of the faceplates: the indicator's scale, mode words, the +/- step, audit rows as read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hmi.config import Tag
from hmi.control.spec import ModeSpec
from hmi.store.models import AuditEntry
from hmi.tags import Quality, TagState
from screens.faceplate import audit_line, mode_text, scale_of
from screens.setpoint import default_step
from tests.plant_fixture import small_plant


def tag(**fields: object) -> Tag:
    return Tag.model_validate({"name": "T", "endpoint": "e", "node_id": "ns=2;s=T", **fields})


def state(value: object) -> TagState:
    now = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
    return TagState("M", value, 0, Quality.GOOD, now, now, now)


@pytest.mark.req("CTL-040")
def test_the_indicator_scale_is_the_eng_range_else_spans_every_limit() -> None:
    assert scale_of(tag(eng_range=[0, 600])) == (0, 600)
    alarms = [{"type": "H", "limit": 80, "message": "high"}, {"type": "L", "limit": 40, "message": "low"}]
    low, high = scale_of(tag(normal_range=[60, 75], alarms=alarms)) or (0, 0)
    assert low < 40
    assert high > 80
    assert scale_of(tag()) is None


@pytest.mark.req("CTL-046")
def test_mode_in_words() -> None:
    spec = ModeSpec(tag="M", labels={"1": "Auto", "0": "Manual", "Local": "Local panel"})
    assert mode_text(spec, state(1)) == "Auto"
    assert mode_text(spec, state(0.0)) == "Manual"
    assert mode_text(spec, state("Local")) == "Local panel"
    assert mode_text(spec, state(7)) == "7"
    assert mode_text(spec, None) == "unknown"


@pytest.mark.req("CTL-041")
def test_step_is_the_rules_else_a_hundredth_of_the_range() -> None:
    assert default_step(tag(write={"step": 5, "min": 0, "max": 100}), (0, 100)) == 5
    assert default_step(tag(eng_range=[0, 600], write={}), (0, 600)) == 1.0
    assert default_step(tag(eng_range=[0, 10], write={}), (0, 10)) == 0.1
    assert default_step(tag(data_type="int", eng_range=[0, 10], write={}), (0, 10)) == 1.0


@pytest.mark.req("CTL-040")
def test_audit_row_reads_old_to_requested_with_result_and_reason() -> None:
    entry = AuditEntry(
        id=1,
        at=datetime(2025, 1, 6, 6, 0, tzinfo=UTC),
        username="olga",
        action="tag.write",
        object_type="tag",
        object_id="L1.SpeedSP",
        old_value='{"value": 300.0}',
        new_value='{"requested": 360.0, "readback": 360.0, "status": "Good", "result": "confirmed"}',
        reason="<b>trial</b>",
        detail="confirmed at 07:00:00",
        prev_hash="",
        row_hash="x",
    )

    class Rt:
        plant = small_plant("opc.tcp://127.0.0.1:4840")

    text = audit_line(entry, Rt())  # type: ignore[arg-type]
    assert text == "2025-01-06 07:00:00 CET · olga · 300 → 360 · confirmed at 07:00:00 · reason: <b>trial</b>"
