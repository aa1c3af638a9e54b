"""How a forwarded command's result and refusal travel back from the active instance (hmi/cluster/commands.py): the
standby's screen shows the active instance's words, in the reader's language, and raises its refusals as they were."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Permission, Role
from hmi.alarms.engine import AlarmChange
from hmi.alarms.service import AckFailure, AckResult
from hmi.alarms.states import AlarmEventKind, AlarmState, Event, Trigger
from hmi.cluster.commands import decode, decode_result, encode, encode_error, encode_result, raise_error
from hmi.config import PlantConfig
from hmi.control.outcome import Refusal, Result, WriteOutcome
from hmi.records.signatures import SignatureRequired
from hmi.store.database import DatabaseUnavailable
from hmi.texts import Text
from tests.unit.test_alarm_feed import T0, active_side, good, plant

__all__ = ["plant"]  # the fixture, used by name

LEAD = ActionContext(7, "lena", "Lena", Role.LEAD, "panel-b")


def wire(data: object) -> object:
    """Through JSON as the table's reply column holds it."""
    return json.loads(json.dumps(data))


@pytest.mark.req("RED-009")
def test_texts_times_and_maps_come_back_as_they_were_sent() -> None:
    why = Text("{tag} is {quality} ({status})", tag="Speed", quality=Text("STALE"), status="Bad_NoCommunication")
    value = {"why": why, "at": T0, "outputs": [1, 2.5, "x", None, True], "args": {"$text": "not a marker"}}
    back = decode(wire(encode(value)))
    assert back == value
    assert back["why"].template == "{tag} is {quality} ({status})"
    assert back["why"].fields["quality"].template == "STALE"


@pytest.mark.req("RED-009", "RED-011")
def test_results_come_back_whole(plant: PlantConfig) -> None:
    engine, cache, clock = active_side(plant)
    cache.update([good("Temp", 85.0, T0)])
    (change,) = engine.commit(
        engine.plan(["Temp.H"], Event(Trigger.ACKNOWLEDGE), at=clock(), username="lena", comment="seen", action_id="a")
    )
    failure = AckFailure("Boiler", "Boiler", "BadEventIdUnknown", Text("refused by {s}", s="plc"), tried=True)
    result = decode_result(wire(encode_result(AckResult([change], ["Flow.L"], [failure]))), plant)
    assert isinstance(result, AckResult)
    (back,) = result.changes
    assert isinstance(back, AlarmChange)
    assert (back.kind, back.alarm.state, back.username, back.at) == (
        AlarmEventKind.ACKNOWLEDGED,
        AlarmState.ACTIVE_ACK,
        "lena",
        change.at,
    )
    assert back.alarm.ref is plant.alarms["Temp.H"]
    assert back.before is not None
    assert back.before.state is AlarmState.ACTIVE_UNACK
    assert (result.skipped, result.failed) == (["Flow.L"], [failure])

    at = datetime(2026, 12, 4, 9, 30, 5, tzinfo=UTC)
    outcome = WriteOutcome("Setpoint", 180.0, 50.0, Result.REFUSED, Refusal.LIMITS, at=at, why=Text("{v} high", v=180))
    back_outcome = decode_result(wire(encode_result(outcome)), plant)
    assert back_outcome == outcome
    assert isinstance(back_outcome, WriteOutcome)
    assert back_outcome.message().template == "refused: {why}"
    # A download's outcomes, one per parameter, in their order.
    confirmed = WriteOutcome("Speed", 60, 55, Result.CONFIRMED, status="Good", readback=60, at=at, signature_id=7)
    assert decode_result(wire(encode_result([confirmed, outcome])), plant) == [confirmed, outcome]


@pytest.mark.req("RED-009")
def test_refusals_are_raised_on_the_standby_as_the_active_one_raised_them() -> None:
    def again(exc: Exception) -> Exception:
        with pytest.raises(Exception) as raised:  # noqa: PT011 - the type is what is checked
            raise_error(wire(encode_error(exc)), LEAD)  # type: ignore[arg-type]
        return raised.value

    denied = again(PermissionDenied(LEAD, Permission.SHELVE_ALARM))
    assert isinstance(denied, PermissionDenied)
    assert denied.permission is Permission.SHELVE_ALARM
    needed = again(SignatureRequired(Text("shelving")))
    assert isinstance(needed, SignatureRequired)
    assert str(needed).startswith("shelving needs an electronic signature")
    refused = again(ValueError(Text("shelving lasts at most {hours:g} h", hours=8.0)))
    assert type(refused) is ValueError
    assert refused.args[0].template == "shelving lasts at most {hours:g} h"
    assert isinstance(again(DatabaseUnavailable("PostgreSQL is away")), DatabaseUnavailable)
    broken = again(RuntimeError("boom"))
    assert isinstance(broken, ValueError)
    assert "the active server could not run it: boom" in str(broken)
