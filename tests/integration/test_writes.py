"""Writes and commands end to end against a real asyncua server: checks before sending, the OPC UA Write / Call,
read-back through the tag cache fed by OpcUaSource, and the audit rows of every attempt in a real database."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from asyncua import ua

from hmi.access.auth import UserService
from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.clock import ManualClock
from hmi.config import PlantConfig, parse_config
from hmi.control.outcome import Refusal, Result
from hmi.control.writes import WriteService
from hmi.records.audit import AuditLog
from hmi.records.audit_export import AuditFilter, audit_csv
from hmi.records.signatures import SignatureRequest, SignatureRequired, SignatureService, canonical_json, verify
from hmi.sources import StatusBoard
from hmi.sources.opcua import EndpointDown, OpcUaSource
from hmi.store.models import AuditEntry
from hmi.tags import Quality, TagCache
from tests.conftest import PERSON_PASSWORD, sign_in
from tests.control_server import ControlServer
from tests.waiting import until

PLANT = """
site: {{name: Control Test, timezone: UTC}}
endpoints:
  - {{name: ctl, url: "{url}", publishing_interval_ms: 50, stale_after_s: 2}}
areas:
  - name: Filling
    lines:
      - name: L1
        mode: {{tag: L1.Mode, labels: {{Auto: Automatic, Manual: Hand}}}}
        tags:
          - {{name: L1.Mode, endpoint: ctl, node_id: "ns=2;s=Mode", data_type: string}}
          - {{name: L1.Guard, endpoint: ctl, node_id: "ns=2;s=Guard", data_type: bool}}
          - {{name: L1.Pulse, endpoint: ctl, node_id: "ns=2;s=Pulse", data_type: bool}}
          - {{name: L1.Plain, endpoint: ctl, node_id: "ns=2;s=Sp.Plain"}}
          - name: L1.Speed
            endpoint: ctl
            node_id: "ns=2;s=Sp.Double"
            unit: bpm
            eng_range: [0, 600]
            write: {{roles: [operator, lead], step: 0.5, readback_timeout_s: 3}}
          - name: L1.Temp
            endpoint: ctl
            node_id: "ns=2;s=Sp.Float"
            unit: °C
            write: {{roles: [operator], min: 0, max: 100, step: 0.1}}
          - {{name: L1.Count, endpoint: ctl, node_id: "ns=2;s=Sp.Int", data_type: int,
              write: {{roles: [operator], min: 0, max: 10, step: 1}}}}
          - {{name: L1.Enable, endpoint: ctl, node_id: "ns=2;s=Sp.Bool", data_type: bool, write: {{roles: [operator]}}}}
          - {{name: L1.Batch, endpoint: ctl, node_id: "ns=2;s=Sp.Text", data_type: string,
              write: {{roles: [operator]}}}}
          - {{name: L1.Locked, endpoint: ctl, node_id: "ns=2;s=Sp.ReadOnly",
              write: {{roles: [operator], min: 0, max: 10}}}}
          - {{name: L1.Denied, endpoint: ctl, node_id: "ns=2;s=Sp.Denied",
              write: {{roles: [operator], min: 0, max: 10}}}}
          - {{name: L1.Held, endpoint: ctl, node_id: "ns=2;s=Sp.Held",
              write: {{roles: [operator], min: 0, max: 10, readback_timeout_s: 0.5}}}}
          - {{name: L1.Signed, endpoint: ctl, node_id: "ns=2;s=Sp.Signed",
              write: {{roles: [operator], min: 0, max: 100, signature: true, reason: required}}}}
          - name: L1.Interlocked
            endpoint: ctl
            node_id: "ns=2;s=Sp.Interlocked"
            write:
              roles: [operator]
              min: 0
              max: 100
              interlock: {{when: "L1.Guard and L1.Mode == 'Manual'", message: "close the guard and switch to hand"}}
        commands:
          - name: Start
            roles: [operator]
            modes: [Auto]
            call: {{endpoint: ctl, object_id: "ns=2;s=L1", method_id: "ns=2;s=L1.Start",
                    args: [{{name: speed, data_type: float}}]}}
          - {{name: Reset, roles: [operator],
              call: {{endpoint: ctl, object_id: "ns=2;s=L1", method_id: "ns=2;s=L1.Reset"}}}}
          - {{name: Jog, roles: [operator], modes: [Manual],
              call: {{endpoint: ctl, object_id: "ns=2;s=L1", method_id: "ns=2;s=L1.Reset"}}}}
          - {{name: Kick, roles: [operator], reason: required,
              write: {{tag: L1.Pulse, value: true, pulse_s: 0.3, reset: false}}}}
"""


@dataclass
class Bench:
    server: ControlServer
    plant: PlantConfig
    cache: TagCache
    source: OpcUaSource
    service: WriteService
    audit: AuditLog
    operator: ActionContext
    second: ActionContext
    manager: ActionContext

    async def rows(self, action: str | None = None, object_id: str | None = None) -> list[AuditEntry]:
        """Audit rows of writes, commands and signatures (not the sign-ins of the set-up), oldest first."""
        rows = reversed(await self.audit.query(action=action, object_id=object_id))
        return [r for r in rows if r.object_type in ("tag", "command") or r.action.startswith("sign")]


@pytest.fixture
async def bench(db, audit: AuditLog, users: UserService, clock: ManualClock) -> AsyncIterator[Bench]:
    server = ControlServer()
    await server.start()
    plant = parse_config(PLANT.format(url=server.url))
    cache, board = TagCache(), StatusBoard()
    tags = [ref.tag for ref in plant.tags.values()]
    source = OpcUaSource(plant.endpoints[0], tags, cache, board, reconnect_max_delay=1.0)
    await source.start()
    signatures = SignatureService(db, audit, users, clock)
    service = WriteService(plant, cache, board, {"ctl": source}, audit, signatures, clock)
    try:
        await until(lambda: len(cache) == len(tags) and source.connected, what="every tag to have a value")
        operator = await sign_in(users, "olga", Role.OPERATOR, full_name="Olga Op", station="panel-1")
        second = await sign_in(users, "otto", Role.OPERATOR, full_name="Otto Op", station="panel-2")
        manager = await sign_in(users, "mia", Role.MANAGER, full_name="Mia Manager", station="office")
        yield Bench(server, plant, cache, source, service, audit, operator, second, manager)
    finally:
        await service.stop()
        await source.stop()
        await server.stop()


def new_value(row: AuditEntry) -> dict[str, object]:
    return dict(json.loads(row.new_value or "{}"))


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.req("CTL-003")
async def test_a_confirmed_write_is_read_back_and_audited(bench: Bench) -> None:
    outcome = await bench.service.write(bench.operator, "L1.Speed", "120.5", expected=50.0, reason="faster bottles")
    assert outcome.result is Result.CONFIRMED, outcome
    assert outcome.old == 50.0
    assert outcome.readback == 120.5
    assert outcome.status == "Good"
    assert outcome.message() == "confirmed at 06:00:00"
    assert await bench.server.value("Sp.Double") == 120.5
    # The confirmed value is the cache's at once: every screen shows it, the next compare-before-write sees it.
    assert bench.cache.get("L1.Speed").value == 120.5  # type: ignore[union-attr]
    (row,) = await bench.rows("tag.write")
    assert (row.username, row.station, row.object_type, row.object_id) == ("olga", "panel-1", "tag", "L1.Speed")
    assert json.loads(row.old_value or "") == {"value": 50.0}
    assert new_value(row) == {
        "requested": 120.5,
        "readback": 120.5,
        "status": "Good",
        "result": "confirmed",
        "signature_id": None,
    }
    assert row.reason == "faster bottles"
    assert row.detail == "confirmed at 06:00:00"
    assert await bench.audit.verify() is None


@pytest.mark.req("CTL-004")
async def test_values_are_sent_as_the_node_s_data_type(bench: Bench) -> None:
    # A Float node refuses a Double (BadTypeMismatch): the node's DataType is read and used.
    temp = await bench.service.write(bench.operator, "L1.Temp", "72.3")
    assert temp.result is Result.CONFIRMED, temp
    assert temp.readback == pytest.approx(72.3, rel=1e-6)
    assert temp.readback != 72.3  # the float32 the node keeps, accepted as the value written
    assert bench.source.variant_type(bench.plant.tags["L1.Temp"].tag) is ua.VariantType.Float
    count = await bench.service.write(bench.operator, "L1.Count", "7")
    enable = await bench.service.write(bench.operator, "L1.Enable", "true")
    batch = await bench.service.write(bench.operator, "L1.Batch", "B-17")
    assert [o.result for o in (count, enable, batch)] == [Result.CONFIRMED] * 3
    assert (await bench.server.value("Sp.Int"), await bench.server.value("Sp.Bool")) == (7, True)
    assert await bench.server.value("Sp.Text") == "B-17"
    # The same value again brings no data change; the read-back still confirms it.
    again = await bench.service.write(bench.operator, "L1.Count", 7)
    assert again.result is Result.CONFIRMED
    codes = await bench.source.write([(bench.plant.tags["L1.Count"].tag, 2.5)])
    assert codes == [ua.StatusCodes.BadTypeMismatch]


@pytest.mark.req("CTL-005")
async def test_a_role_not_allowed_is_refused_before_sending_and_audited(bench: Bench) -> None:
    outcome = await bench.service.write(bench.manager, "L1.Speed", 80)
    assert outcome.result is Result.REFUSED
    assert outcome.refusal is Refusal.ROLE
    assert outcome.message() == "refused: role manager may not change L1.Speed (allowed: operator, lead)"
    assert outcome.status == ""
    assert bench.server.writes == []
    assert await bench.server.value("Sp.Double") == 50.0
    (row,) = await bench.rows("tag.write.refused")
    assert (row.username, row.station) == ("mia", "office")
    assert new_value(row)["refusal"] == "role"
    assert new_value(row)["requested"] == 80.0
    assert row.detail == "refused (role): role manager may not change L1.Speed (allowed: operator, lead)"


@pytest.mark.req("CTL-006")
@pytest.mark.parametrize(
    ("tag", "value", "refusal", "why"),
    [
        ("L1.Speed", 600.5, Refusal.LIMITS, "600.5 bpm is outside the limits 0 to 600 bpm"),
        ("L1.Speed", -1, Refusal.LIMITS, "-1 bpm is outside the limits 0 to 600 bpm"),
        ("L1.Speed", "120.3", Refusal.STEP, "120.3 bpm is not on the step grid of 0.5 bpm from 0: give 120 or 120.5"),
        ("L1.Speed", "fast", Refusal.BAD_VALUE, "'fast' is not a number"),
        ("L1.Count", "2.5", Refusal.BAD_VALUE, "'2.5' is not a whole number"),
        ("L1.Enable", "maybe", Refusal.BAD_VALUE, "'maybe' is not true or false"),
        ("L1.Plain", 1.0, Refusal.NOT_WRITABLE, "L1.Plain is read only: the plant file gives it no write rule"),
        ("L1.Nope", 1.0, Refusal.NOT_WRITABLE, "there is no tag 'L1.Nope' in the plant file"),
    ],
)
async def test_values_outside_the_rules_are_refused(
    bench: Bench, tag: str, value: object, refusal: Refusal, why: str
) -> None:
    outcome = await bench.service.write(bench.operator, tag, value)
    assert (outcome.result, outcome.refusal, outcome.why) == (Result.REFUSED, refusal, why)
    assert bench.server.writes == []
    (row,) = await bench.rows("tag.write.refused")
    assert row.object_id == tag
    assert new_value(row)["refusal"] == refusal.value


@pytest.mark.req("CTL-007")
async def test_bad_or_stale_values_and_a_down_endpoint_are_refused(bench: Bench) -> None:
    await bench.server.set("Sp.Double", 50.0, ua.StatusCodes.BadSensorFailure)
    await until(lambda: bench.cache.get("L1.Speed").quality is Quality.BAD)  # type: ignore[union-attr]
    assert bench.service.blocked(bench.operator, "L1.Speed") == [
        (Refusal.QUALITY, "L1.Speed is BAD (BadSensorFailure): its value is not known")
    ]
    bad = await bench.service.write(bench.operator, "L1.Speed", 60)
    assert bad.refusal is Refusal.QUALITY
    await bench.server.stop()
    await until(lambda: bench.cache.get("L1.Temp").quality is Quality.STALE, what="values to turn STALE")  # type: ignore[union-attr]
    stale = await bench.service.write(bench.operator, "L1.Temp", 20)
    assert stale.refusal is Refusal.QUALITY
    assert "STALE" in stale.why
    assert any(r is Refusal.ENDPOINT_DOWN for r, _ in bench.service.blocked(bench.operator, "L1.Temp"))
    assert "endpoint ctl is not connected" in stale.message() + "; ".join(
        t for _, t in bench.service.blocked(bench.operator, "L1.Temp")
    )
    with pytest.raises(EndpointDown, match="endpoint ctl"):
        await bench.source.write([(bench.plant.tags["L1.Temp"].tag, 20.0)])
    with pytest.raises(EndpointDown, match="endpoint ctl"):
        await bench.source.call("ns=2;s=L1", "ns=2;s=L1.Reset", [])
    reset = await bench.service.command(bench.operator, "L1.Reset")
    assert reset.refusal is Refusal.ENDPOINT_DOWN
    rows = await bench.rows()
    assert [r.action for r in rows] == ["tag.write.refused", "tag.write.refused", "command.refused"]
    assert "also: endpoint ctl is not connected" in (rows[1].detail or "")


@pytest.mark.req("CTL-008")
async def test_interlocks_and_modes_refuse_with_the_reason(bench: Bench) -> None:
    outcome = await bench.service.write(bench.operator, "L1.Interlocked", 10)
    assert outcome.refusal is Refusal.INTERLOCK
    assert outcome.why == (
        "interlock not met: close the guard and switch to hand (needs L1.Mode == 'Manual' (L1.Mode is Auto))"
    )
    jog = await bench.service.command(bench.operator, "L1.Jog")
    assert jog.refusal is Refusal.MODE
    assert jog.why == "Jog needs mode Hand; L1 is in Automatic"
    assert bench.server.calls == []
    await bench.server.set("Mode", "Manual")
    await until(lambda: bench.cache.get("L1.Mode").value == "Manual")  # type: ignore[union-attr]
    assert (await bench.service.write(bench.operator, "L1.Interlocked", 10)).result is Result.CONFIRMED
    start = await bench.service.command(bench.operator, "L1.Start", args={"speed": 100})
    assert start.refusal is Refusal.MODE
    assert [r.action for r in await bench.rows()] == [
        "tag.write.refused",
        "command.refused",
        "tag.write",
        "command.refused",
    ]


@pytest.mark.req("CTL-009")
@pytest.mark.parametrize(("tag", "status"), [("L1.Locked", "BadNotWritable"), ("L1.Denied", "BadUserAccessDenied")])
async def test_a_server_refusal_is_shown_with_its_status_and_audited(bench: Bench, tag: str, status: str) -> None:
    outcome = await bench.service.write(bench.operator, tag, 3)
    assert outcome.result is Result.SERVER_REFUSED
    assert outcome.status == status
    assert outcome.message() == f"the server refused: {status}"
    (row,) = await bench.rows("tag.write.server_refused")
    assert new_value(row) == {
        "requested": 3.0,
        "readback": None,
        "status": status,
        "result": "server_refused",
        "signature_id": None,
    }


@pytest.mark.req("CTL-010")
async def test_a_value_the_server_does_not_take_is_not_confirmed(bench: Bench) -> None:
    outcome = await bench.service.write(bench.operator, "L1.Held", 8)
    assert outcome.result is Result.NOT_CONFIRMED
    assert outcome.status == "Good"
    assert outcome.readback == 5.0
    assert outcome.message() == "not confirmed within 0.5 s: the value is now 5"
    (row,) = await bench.rows("tag.write.not_confirmed")
    assert new_value(row)["readback"] == 5.0
    assert row.detail == "not confirmed within 0.5 s: the value is now 5"


@pytest.mark.req("CTL-011")
async def test_a_value_changed_since_the_dialog_opened_is_refused_with_the_new_value(bench: Bench) -> None:
    await bench.server.set("Sp.Double", 75.0)
    await until(lambda: bench.cache.get("L1.Speed").value == 75.0)  # type: ignore[union-attr]
    outcome = await bench.service.write(bench.operator, "L1.Speed", 90, expected=50.0)
    assert (outcome.result, outcome.refusal, outcome.current) == (Result.REFUSED, Refusal.CHANGED, 75.0)
    assert "it is now 75" in outcome.message()
    assert bench.server.writes == []
    (row,) = await bench.rows("tag.write.refused")
    assert new_value(row)["current"] == 75.0
    retry = await bench.service.write(bench.operator, "L1.Speed", 90, expected=outcome.current)
    assert retry.result is Result.CONFIRMED


@pytest.mark.req("CTL-012")
async def test_two_panels_writing_the_same_setpoint_one_wins_the_other_sees_the_new_value(bench: Bench) -> None:
    gate = bench.server.write_gate = asyncio.Event()
    first = asyncio.create_task(bench.service.write(bench.operator, "L1.Speed", 100, expected=50.0))
    await until(lambda: bench.server.writes, what="the first write to reach the server")
    second = await bench.service.write(bench.second, "L1.Speed", 110, expected=50.0)
    assert second.refusal is Refusal.PENDING
    assert second.why == "Olga Op (olga, panel-1) is writing L1.Speed right now; wait for the result"
    assert bench.service.blocked(bench.second, "L1.Speed")[0][0] is Refusal.PENDING
    gate.set()
    won = await first
    assert won.result is Result.CONFIRMED
    # The other panel asks again with the value its dialog showed: told it changed, shown the new one.
    again = await bench.service.write(bench.second, "L1.Speed", 110, expected=50.0)
    assert (again.refusal, again.current) == (Refusal.CHANGED, 100.0)
    assert bench.server.writes == [["Sp.Double"]]
    rows = await bench.rows(object_id="L1.Speed")
    assert [(r.action, r.username, r.station) for r in rows] == [
        ("tag.write.refused", "otto", "panel-2"),
        ("tag.write", "olga", "panel-1"),
        ("tag.write.refused", "otto", "panel-2"),
    ]


@pytest.mark.req("CTL-013")
async def test_a_signed_write_needs_a_reason_and_the_signer_s_password(bench: Bench) -> None:
    with pytest.raises(SignatureRequired):
        await bench.service.write(bench.operator, "L1.Signed", 30, reason="new batch")
    no_reason = await bench.service.write(bench.operator, "L1.Signed", 30, signature=SignatureRequest("x", "olga"))
    assert no_reason.refusal is Refusal.REASON_MISSING
    wrong = await bench.service.write(
        bench.operator, "L1.Signed", 30, reason="new batch", signature=SignatureRequest("wrong", "olga")
    )
    assert wrong.refusal is Refusal.SIGNATURE
    assert bench.server.writes == []
    signed = await bench.service.write(
        bench.operator, "L1.Signed", 30, reason="new batch", signature=SignatureRequest(PERSON_PASSWORD, "olga")
    )
    assert signed.result is Result.CONFIRMED
    assert signed.signature_id is not None
    actions = [r.action for r in await bench.rows()]
    assert actions == ["tag.write.refused", "sign.failed", "tag.write.refused", "sign", "tag.write"]
    row = (await bench.rows("tag.write"))[0]
    assert new_value(row)["signature_id"] == signed.signature_id
    assert row.reason == "new batch"
    stored = await SignatureService(bench.audit._db, bench.audit, None, None).get(signed.signature_id)  # type: ignore[arg-type]
    assert stored is not None
    assert (stored.object_type, stored.object_id, stored.meaning) == ("tag", "L1.Signed", "Changed value")
    assert verify(stored, canonical_json({"tag": "L1.Signed", "old": 20.0, "requested": 30.0}))


@pytest.mark.req("CTL-014")
async def test_method_calls_confirm_on_good_and_report_a_bad_status(bench: Bench) -> None:
    start = await bench.service.command(bench.operator, "L1.Start", args={"speed": "250"})
    assert start.result is Result.CONFIRMED, start
    assert (start.status, start.readback, start.requested) == ("Good", [True], {"speed": 250.0})
    assert start.message() == "confirmed at 06:00:00"
    reset = await bench.service.command(bench.operator, "L1.Reset", reason="after jam")
    assert reset.result is Result.SERVER_REFUSED
    assert reset.message() == "the server refused: BadInvalidState"
    missing = await bench.service.command(bench.operator, "L1.Start")
    assert missing.refusal is Refusal.BAD_VALUE
    denied = await bench.service.command(bench.manager, "L1.Start", args={"speed": 1})
    assert denied.refusal is Refusal.ROLE
    assert bench.server.calls == [("Start", [250.0]), ("Reset", [])]
    rows = await bench.rows()
    assert [(r.action, r.object_type, r.object_id) for r in rows] == [
        ("command.run", "command", "L1.Start"),
        ("command.server_refused", "command", "L1.Reset"),
        ("command.refused", "command", "L1.Start"),
        ("command.refused", "command", "L1.Start"),
    ]
    assert new_value(rows[1])["status"] == "BadInvalidState"
    assert rows[1].reason == "after jam"


@pytest.mark.req("CTL-015")
async def test_a_pulse_writes_its_value_then_the_reset_and_audits_both(bench: Bench) -> None:
    no_reason = await bench.service.command(bench.operator, "L1.Kick")
    assert no_reason.refusal is Refusal.REASON_MISSING
    kick = await bench.service.command(bench.operator, "L1.Kick", reason="clear the chute")
    assert kick.result is Result.CONFIRMED, kick
    assert kick.readback is True
    # While the pulse is on, the tag is held: nobody else writes it.
    again = await bench.service.command(bench.second, "L1.Kick", reason="again")
    assert again.refusal is Refusal.PENDING
    await bench.service.settle()
    assert await bench.server.value("Pulse") is False
    rows = await bench.rows(object_id="L1.Kick")
    assert [r.action for r in rows] == ["command.refused", "command.run", "command.refused", "command.run"]
    assert new_value(rows[3])["requested"] is False
    assert (rows[3].detail or "").startswith("pulse reset of L1.Pulse to false after 0.3 s: confirmed at")
    assert json.loads(rows[1].old_value or "") == {"value": False}


@pytest.mark.req("CTL-016")
async def test_write_many_reports_each_parameter_and_names_the_download(bench: Bench) -> None:
    outcomes = await bench.service.write_many(
        bench.operator,
        [("L1.Speed", 200), ("L1.Temp", 150), ("L1.Count", 4), ("L1.Held", 9)],
        reason="recipe change",
        parent="recipe Cola 0.5 v3",
        signature_id=None,
    )
    assert [(o.target, o.result) for o in outcomes] == [
        ("L1.Speed", Result.CONFIRMED),
        ("L1.Temp", Result.REFUSED),
        ("L1.Count", Result.CONFIRMED),
        ("L1.Held", Result.NOT_CONFIRMED),
    ]
    assert outcomes[1].refusal is Refusal.LIMITS
    # One Write for every parameter sent on the endpoint; the refused one is not in it.
    assert bench.server.writes == [["Sp.Double", "Sp.Int", "Sp.Held"]]
    rows = await bench.rows()
    assert [r.action for r in rows] == ["tag.write", "tag.write.refused", "tag.write", "tag.write.not_confirmed"]
    assert all((r.detail or "").startswith("part of recipe Cola 0.5 v3: ") for r in rows)
    assert all(r.reason == "recipe change" for r in rows)
    signed = await bench.service.write_many(
        bench.operator, [("L1.Signed", 40)], reason="r", parent="recipe X v1", signature_id=None
    )
    assert signed[0].refusal is Refusal.SIGNATURE


@pytest.mark.req("CTL-017")
async def test_blocked_says_why_without_auditing_or_sending(bench: Bench) -> None:
    assert bench.service.blocked(bench.operator, "L1.Speed") == []
    assert bench.service.blocked(bench.operator, "L1.Speed", "700") == [
        (Refusal.LIMITS, "700 bpm is outside the limits 0 to 600 bpm")
    ]
    assert [r for r, _ in bench.service.blocked(bench.manager, "L1.Interlocked", 1)] == [
        Refusal.ROLE,
        Refusal.INTERLOCK,
    ]
    assert bench.service.command_blocked(bench.operator, "L1.Start") == []
    assert [r for r, _ in bench.service.command_blocked(bench.operator, "L1.Jog")] == [Refusal.MODE]
    assert await bench.rows() == []
    assert bench.server.writes == []


@pytest.mark.req("CTL-018")
async def test_a_slow_write_holds_up_no_other_tag(bench: Bench) -> None:
    slow = asyncio.create_task(bench.service.write(bench.operator, "L1.Held", 7))
    await until(lambda: bench.server.writes, what="the slow write to be sent")
    fast = await bench.service.write(bench.second, "L1.Count", 5)
    assert fast.result is Result.CONFIRMED
    assert not slow.done()
    assert (await slow).result is Result.NOT_CONFIRMED


@pytest.mark.req("CTL-019")
async def test_the_runtime_offers_the_write_service_on_every_endpoint(db, tmp_path) -> None:
    from hmi.runtime import Runtime

    plant = parse_config(PLANT.format(url="opc.tcp://127.0.0.1:4840"))
    rt = Runtime(plant, db, data_dir=tmp_path)
    assert isinstance(rt.control, WriteService)
    assert rt.control._sources == {"ctl": rt.sources[0]}
    assert rt.control.blocked(ActionContext(1, "olga", "Olga", Role.OPERATOR), "L1.Speed")[0][0] is Refusal.QUALITY


@pytest.mark.req("CTL-026")
async def test_an_auditor_finds_every_write_attempt_in_the_export(bench: Bench) -> None:
    confirmed = await bench.service.write(bench.operator, "L1.Speed", 130, reason="faster")
    refused = await bench.service.write(bench.operator, "L1.Speed", 1e9)
    denied = await bench.service.write(bench.manager, "L1.Speed", 140)
    assert [o.result for o in (confirmed, refused, denied)] == [Result.CONFIRMED, Result.REFUSED, Result.REFUSED]
    rows = await AuditFilter.build(obj="tag:L1.Speed").query(bench.audit, 100)
    exported = list(csv.DictReader(io.StringIO(audit_csv(rows, ZoneInfo("Europe/Berlin")))))
    by_action = [(r["action"], r["username"], r["station"]) for r in exported if r["action"]]
    assert by_action == [
        ("tag.write.refused", "mia", "office"),
        ("tag.write.refused", "olga", "panel-1"),
        ("tag.write", "olga", "panel-1"),
    ]
    written = json.loads(exported[2]["new_value"])
    assert (written["requested"], written["readback"], written["status"]) == (130, 130, "Good")
    assert exported[2]["reason"] == "faster"
    assert "limits" in exported[1]["detail"] or "outside" in exported[1]["detail"]
    assert "role" in exported[0]["detail"]
