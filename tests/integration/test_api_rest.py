"""The REST API end to end: a real runtime on a real asyncua server and a SQLite file, called with httpx through the
mount the screens use, with tokens made by the token service (docs/api.md)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from hmi.access.api_tokens import ApiTokenService
from hmi.access.roles import Role
from hmi.api import build_api
from hmi.api.app import MOUNT
from hmi.config import parse_config
from hmi.oee.timeline import to_us
from hmi.records.audit import system_context
from hmi.records.signatures import SignatureRequest
from hmi.runtime import Runtime
from hmi.store.database import Database
from hmi.store.models import Sample
from tests.control_server import ControlServer
from tests.integration.test_writes import PLANT as WRITES_PLANT
from tests.waiting import until

PASSWORD = "a long enough password"

# The control test plant, with alarms, a line state for OEE and recipes downloaded without a signature.
PLANT = (
    WRITES_PLANT.replace(
        '          - {{name: L1.Plain, endpoint: ctl, node_id: "ns=2;s=Sp.Plain"}}',
        '          - {{name: L1.Plain, endpoint: ctl, node_id: "ns=2;s=Sp.Plain",\n'
        "              alarms: [{{type: H, limit: 5, priority: 2, message: Plain high}}]}}\n"
        '          - {{name: L1.Hot, endpoint: ctl, node_id: "ns=2;s=Sp.Held",\n'
        "              alarms: [{{type: H, limit: 1, priority: 1, message: Hot}}]}}\n"
        '          - {{name: L1.State, endpoint: ctl, node_id: "ns=2;s=Sp.Text", data_type: string}}',
    ).replace("        mode: {{tag: L1.Mode", "        state_tag: L1.State\n        mode: {{tag: L1.Mode")
    + "signatures: {{recipe_download: false}}\n"
)
ROLES = {"op": Role.OPERATOR, "lead": Role.LEAD, "eng": Role.ENGINEER, "mgr": Role.MANAGER}


@dataclass
class Site:
    rt: Runtime
    server: ControlServer
    client: httpx.AsyncClient
    tokens: dict[str, str]

    async def call(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return await self.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    async def get(self, path: str, who: str | None = "op", **params: Any) -> httpx.Response:
        return await self.call("GET", path, who, params=params)


def app_of(rt: Runtime, **kwargs: Any) -> FastAPI:
    """The API mounted as screens/app.py mounts it on NiceGUI's application."""
    parent = FastAPI()
    parent.mount(MOUNT, build_api(rt, **kwargs))
    return parent


async def tokens_for(rt: Runtime) -> dict[str, str]:
    admin = system_context("test-admin")
    tokens: dict[str, str] = {}
    for key, role in ROLES.items():
        await rt.users.create_user(f"{key}-user", PASSWORD, role, full_name=f"{role.value} account")
        tokens[key] = (await rt.api_tokens.create(admin, f"{key}-token", f"{key}-user"))[1]
    tokens["revoked"] = (await rt.api_tokens.create(admin, "old", "op-user"))[1]
    await rt.api_tokens.revoke(admin, "old")
    # Made two days ago for one hour: expired now.
    past = ApiTokenService(rt.db, rt.audit, lambda: datetime.now(UTC) - timedelta(days=2))
    tokens["expired"] = (await past.create(admin, "short", "op-user", valid_for=timedelta(hours=1)))[1]
    tokens["unknown"] = "hmi_" + "x" * 43
    return tokens


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    server = ControlServer()
    await server.start()
    rt = Runtime(parse_config(PLANT.format(url=server.url)), Database(f"sqlite:///{tmp_path / 'hmi.db'}"))
    try:
        await rt.start()
        await until(lambda: len(rt.cache) == len(rt.plant.tags), what="every tag to have a value")
        tokens = await tokens_for(rt)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_of(rt)), base_url="http://hmi") as client:
            yield Site(rt, server, client, tokens)
    finally:
        await rt.stop()
        await server.stop()


STOP_AGO = timedelta(minutes=30)


def stop_samples(now: datetime) -> list[dict[str, Any]]:
    """L1's state as the historian records it: running, stopped STOP_AGO for ten minutes, running again."""
    changes = [
        (now - timedelta(minutes=50), "Execute"),
        (now - STOP_AGO, "Stopped"),
        (now - timedelta(minutes=20), "Execute"),
    ]
    return [{"tag": "L1.State", "t_us": to_us(t), "text": s, "quality": "good"} for t, s in changes]


async def record(rt: Runtime, rows: list[dict[str, Any]]) -> None:
    """Samples straight into the historian's table, as its writer stores them."""
    async with rt.db.session(write=True) as session:
        await session.execute(sa.insert(Sample.__table__), rows)  # type: ignore[attr-defined]
        await session.commit()


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"], body["detail"]


async def via_api(rt: Runtime, action: str, token: str) -> list[Any]:
    rows = await rt.audit.query(action=action)
    return [r for r in rows if r.station == f"via API {token}"]


# ------------------------------------------------------------------------------------------------- who calls


@pytest.mark.req("API-002", "API-008")
async def test_no_unknown_revoked_or_expired_token_is_401_with_a_reason(site: Site) -> None:
    status, error, detail = error_of(await site.get("/plant", who=None))
    assert (status, error) == (401, "unauthorized")
    assert "Authorization: Bearer" in detail
    response = await site.get("/plant", who="revoked")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert error_of(response) == (401, "unauthorized", "token old was revoked; ask an administrator for a new one")
    status, _, detail = error_of(await site.get("/tags", who="expired"))
    assert status == 401
    assert "token short expired at" in detail
    status, _, detail = error_of(await site.get("/alarms/active", who="unknown"))
    assert status == 401
    assert "not known" in detail
    wrong = await site.client.get("/api/v1/plant", headers={"Authorization": "Basic b3A6cHc="})
    assert wrong.status_code == 401
    assert set(wrong.json()) == {"error", "detail"}
    assert (await site.get("/plant")).status_code == 200
    # Self-description for the calling systems' developers.
    schema = (await site.client.get("/api/openapi.json")).json()
    assert "/v1/tags/{name}/write" in schema["paths"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    docs = await site.client.get("/api/docs")
    assert docs.status_code == 200
    assert "/api/openapi.json" in docs.text
    # Swagger UI comes from this server, never a CDN: a plant network has no internet.
    assert "cdn." not in docs.text
    assert "https://" not in docs.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/api/docs-assets/{asset}" in docs.text
        served = await site.client.get(f"/api/docs-assets/{asset}")
        assert served.status_code == 200
        assert len(served.content) > 100_000
    missing = await site.client.get("/api/v1/nothing")
    assert error_of(missing)[:2] == (404, "not found")


@pytest.mark.req("API-001")
async def test_the_token_acts_with_its_user_s_role_at_each_request(site: Site) -> None:
    assert (await site.get("/audit", who="op")).status_code == 403
    admin = system_context("test-admin")
    await site.rt.users.set_disabled(admin, "op-user", True)
    status, _, detail = error_of(await site.get("/plant", who="op"))
    assert status == 401
    assert detail == "user op-user of token op-token is disabled"


@pytest.mark.req("API-003")
async def test_requests_beyond_the_rate_limit_are_429_with_retry_after(site: Site) -> None:
    transport = httpx.ASGITransport(app=app_of(site.rt, rate_limit="3 per minute"))
    async with httpx.AsyncClient(transport=transport, base_url="http://hmi") as client:

        async def plant(who: str) -> httpx.Response:
            return await client.get("/api/v1/plant", headers={"Authorization": f"Bearer {site.tokens[who]}"})

        assert [(await plant("op")).status_code for _ in range(3)] == [200, 200, 200]
        refused = await plant("op")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "3 per minute" in refused.json()["detail"]
        # Per token: another caller is not held up by this one.
        assert (await plant("lead")).status_code == 200


# ------------------------------------------------------------------------------------------------------ reads


@pytest.mark.req("API-005", "API-004")
async def test_plant_and_live_values(site: Site) -> None:
    plant = (await site.get("/plant")).json()
    [line] = plant["areas"][0]["lines"]
    speed = next(t for t in line["tags"] if t["name"] == "L1.Speed")
    assert (speed["unit"], speed["eng_range"], speed["write_limits"], speed["write_step"]) == (
        "bpm",
        [0, 600],
        [0, 600],
        0.5,
    )
    assert {c["name"] for c in line["commands"]} >= {"Start", "Reset", "Kick"}
    body = (await site.get("/tags", names="L1.Speed,L1.Batch")).json()
    values = {item["name"]: item for item in body["items"]}
    assert values["L1.Speed"]["value"] == 50.0
    assert values["L1.Speed"]["quality"] == "good"
    assert values["L1.Speed"]["status"] == "Good"
    assert values["L1.Speed"]["unit"] == "bpm"
    assert values["L1.Speed"]["source_time"] is not None
    assert values["L1.Batch"]["value"] == "A"
    assert body["next_offset"] is None
    # Every list is paged: two at a time, with the next page's address.
    first = (await site.get("/tags", limit=2)).json()
    assert len(first["items"]) == 2
    assert first["next_offset"] == 2
    second = (await site.client.get(first["next"], headers={"Authorization": f"Bearer {site.tokens['op']}"})).json()
    assert second["offset"] == 2
    assert {i["name"] for i in first["items"]}.isdisjoint(i["name"] for i in second["items"])
    status, _, detail = error_of(await site.get("/tags", names="L1.Speed,Nope"))
    assert status == 404
    assert "no tag Nope" in detail
    status, error, detail = error_of(await site.get("/tags", limit=0))
    assert (status, error) == (422, "invalid request")
    assert detail.startswith("limit:")


@pytest.mark.req("API-005", "API-004")
async def test_history_downsampled_and_raw_in_pages(site: Site) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=2)
    rows = [
        {"tag": "L1.Speed", "t_us": to_us(start + timedelta(seconds=i)), "value": float(i % 50), "quality": "good"}
        for i in range(0, 3000, 2)
    ]
    await record(site.rt, rows)
    frm, to = start.isoformat(), (start + timedelta(hours=1)).isoformat()
    down = (await site.get("/tags/L1.Speed/history", **{"from": frm, "to": to, "max_points": 100})).json()
    assert down["downsampled"] is True
    assert 0 < len(down["points"]) <= 100
    assert down["unit"] == "bpm"
    raw = (await site.get("/tags/L1.Speed/history", **{"from": frm, "to": to, "raw": "true", "limit": 500})).json()
    assert len(raw["items"]) == 500
    assert raw["items"][1]["value"] == 1 * 2.0
    assert raw["next_offset"] == 500
    last = (
        await site.get(
            "/tags/L1.Speed/history", **{"from": frm, "to": to, "raw": "true", "limit": 1000, "offset": 1000}
        )
    ).json()
    assert len(last["items"]) == 500
    assert last["next_offset"] is None
    status, _, detail = error_of(await site.get("/tags/L1.Speed/history", **{"from": "2025-01-06T06:00:00"}))
    assert status == 422
    assert "zone" in detail
    status, error, _ = error_of(await site.get("/tags/L1.Speed/history", **{"from": "2000-01-01T00:00:00Z"}))
    assert (status, error) == (422, "range too long")
    assert (await site.get("/tags/Nope/history")).status_code == 404


@pytest.mark.req("API-005")
async def test_alarms_journal_oee_stops_notes_and_audit(site: Site) -> None:
    rt = site.rt
    active = (await site.get("/alarms/active")).json()["items"]
    assert [a["id"] for a in active] == ["L1.Hot.H", "L1.Plain.H"]  # priority 1 first
    assert active[1]["state"] == "active_unack"
    journal = await until(lambda: _journal(site), what="the activations to be journaled")
    assert {e["alarm_id"] for e in journal} == {"L1.Hot.H", "L1.Plain.H"}
    # OEE and stops of the line, from state samples as the historian writes them.
    now = datetime.now(UTC)
    await record(site.rt, stop_samples(now))
    oee = (await site.get("/lines/L1/oee", window="day")).json()
    assert oee["window"] == "day"
    assert oee["stops"] >= 1
    stops = (await site.get("/lines/L1/stops", **{"from": (now - timedelta(hours=1)).isoformat()})).json()["items"]
    stop = next(s for s in stops if s["state"] == "Stopped")
    assert stop["id"].startswith("L1@")
    assert stop["reason"] is None
    assert (await site.get("/lines/L9/oee")).status_code == 404
    status, _, _ = error_of(await site.get("/lines/L1/oee", window="year"))
    assert status == 422
    # Shift notes, written and read over the API.
    note = await site.call("POST", "/shift-notes", "op", json={"line": "L1", "text": "Filler jammed twice"})
    assert note.status_code == 201
    notes = (await site.get("/shift-notes", line="L1")).json()["items"]
    assert [(n["text"], n["author"], n["station"]) for n in notes] == [
        ("Filler jammed twice", "op-user", "via API op-token")
    ]
    assert (await site.get("/shift-notes", line="L2")).json()["items"] == []
    # The audit trail: auditor roles only; a refusal is itself on the trail.
    status, error, detail = error_of(await site.get("/audit", who="op"))
    assert (status, error) == (403, "forbidden")
    assert detail == (
        "role operator may not view audit; this needs a token of an account with role engineer, manager, admin"
    )
    [denied] = await via_api(rt, "audit.view.denied", "op-token")
    assert denied.username == "op-user"
    audit = (await site.get("/audit", who="mgr", action="note.add")).json()["items"]
    assert [(a["username"], a["station"]) for a in audit] == [("op-user", "via API op-token")]


async def _journal(site: Site) -> list[dict[str, Any]] | None:
    items = (await site.get("/alarms/journal", kind="activated")).json()["items"]
    return items if len(items) >= 2 else None


# ------------------------------------------------------------------------------------------------------- acts


@pytest.mark.req("API-006", "API-007")
async def test_acknowledge_an_alarm(site: Site) -> None:
    rt = site.rt
    refused = await site.call("POST", "/alarms/L1.Plain.H/ack", "mgr", json={"comment": "seen"})
    assert error_of(refused)[:2] == (403, "forbidden")
    assert "acknowledge alarm" in refused.json()["detail"]
    response = await site.call("POST", "/alarms/L1.Plain.H/ack", "op", json={"comment": "checked the valve"})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "active_ack"
    assert rt.alarms.get("L1.Plain.H").acked_by == "op-user"  # type: ignore[union-attr]
    [row] = await via_api(rt, "alarm.acknowledge", "op-token")
    assert row.username == "op-user"
    again = await site.call("POST", "/alarms/L1.Plain.H/ack", "op", json={})
    assert error_of(again)[:2] == (409, "nothing to acknowledge")
    # A priority-1 acknowledgement must be signed (the plant's policy): only by a person at a screen.
    signed = await site.call("POST", "/alarms/L1.Hot.H/ack", "op", json={})
    status, error, detail = error_of(signed)
    assert (status, error) == (403, "signature required")
    assert "a person must do this at a screen" in detail
    assert rt.alarms.get("L1.Hot.H").acked_by is None  # type: ignore[union-attr]
    assert (await site.call("POST", "/alarms/Nope/ack", "op", json={})).status_code == 404
    assert (await site.call("POST", "/alarms/L1.Plain.H/ack", "revoked", json={})).status_code == 401


@pytest.mark.req("API-006", "API-007")
async def test_writes_confirmed_and_refused_for_each_reason(site: Site) -> None:
    rt, server = site.rt, site.server

    async def write(tag: str, who: str = "op", **body: Any) -> httpx.Response:
        return await site.call("POST", f"/tags/{tag}/write", who, json=body)

    done = await write("L1.Speed", value=120.5, expected=50.0, reason="faster bottles")
    assert done.status_code == 200, done.text
    assert done.json()["result"] == "confirmed"
    assert done.json()["readback"] == 120.5
    assert await server.value("Sp.Double") == 120.5
    [row] = await via_api(rt, "tag.write", "op-token")
    assert (row.username, row.object_id, row.reason) == ("op-user", "L1.Speed", "faster bottles")
    assert json.loads(row.new_value or "")["readback"] == 120.5

    refusals = {
        "role": await write("L1.Speed", who="mgr", value=80),
        "limits": await write("L1.Temp", value=200),
        "step": await write("L1.Speed", value=120.3),
        "bad_value": await write("L1.Count", value="many"),
        "changed": await write("L1.Speed", value=130, expected=99),
        "signature": await write("L1.Signed", value=30, reason="test"),
    }
    statuses = {why: (r.status_code, r.json()["error"]) for why, r in refusals.items()}
    assert statuses == {
        "role": (403, "refused: role"),
        "limits": (422, "refused: limits"),
        "step": (422, "refused: step"),
        "bad_value": (422, "refused: bad_value"),
        "changed": (409, "refused: changed"),
        "signature": (403, "signature required"),
    }
    assert refusals["limits"].json()["detail"].startswith("refused: ")
    assert refusals["changed"].json()["outcome"]["old"] == 120.5
    assert "at a screen" in refusals["signature"].json()["detail"]
    # The interlock lets the value be written only with the guard closed and in hand mode (the line is in Auto).
    interlocked = await write("L1.Interlocked", value=5)
    assert error_of(interlocked)[:2] == (409, "refused: interlock")
    assert "close the guard and switch to hand" in interlocked.json()["detail"]
    await server.set("Mode", "Manual")
    await until(lambda: rt.cache.get("L1.Mode").value == "Manual", what="hand mode")  # type: ignore[union-attr]
    assert (await write("L1.Interlocked", value=5)).status_code == 200
    # Nothing refused reached the server; every refusal is audited via the API.
    assert await server.value("Sp.Double") == 120.5
    assert await server.value("Sp.Float") == 10.0
    refused_rows = await via_api(rt, "tag.write.refused", "op-token")
    assert {r.object_id for r in refused_rows} >= {"L1.Temp", "L1.Speed", "L1.Count", "L1.Interlocked"}
    assert (await write("Nope", value=1)).status_code == 404


@pytest.mark.req("API-006", "API-007")
async def test_commands(site: Site) -> None:
    rt, server = site.rt, site.server

    async def run(command: str, who: str = "op", **body: Any) -> httpx.Response:
        return await site.call("POST", f"/machines/L1/commands/{command}", who, json=body)

    started = await run("Start", args={"speed": 250})
    assert started.status_code == 200, started.text
    assert started.json()["result"] == "confirmed"
    assert server.calls[-1][0] == "Start"
    [row] = await via_api(rt, "command.run", "op-token")
    assert (row.object_id, row.username) == ("L1.Start", "op-user")
    assert error_of(await run("Jog"))[:2] == (409, "refused: mode")
    assert error_of(await run("Kick"))[:2] == (422, "refused: reason_missing")
    assert error_of(await run("Reset", who="mgr"))[:2] == (403, "refused: role")
    assert (await run("Launch")).status_code == 404


@pytest.mark.req("API-006")
async def test_notes_stop_reasons_and_recipe_downloads(site: Site) -> None:
    rt = site.rt
    refused = await site.call("POST", "/shift-notes", "mgr", json={"line": "L1", "text": "from the office"})
    assert error_of(refused)[:2] == (403, "forbidden")
    empty = await site.call("POST", "/shift-notes", "op", json={"line": "L1", "text": "  "})
    assert error_of(empty)[:2] == (422, "invalid request")
    # A stop, from state samples as the historian writes them, given its reason.
    now = datetime.now(UTC).replace(microsecond=0)
    stopped = now - STOP_AGO
    await record(rt, stop_samples(now))
    stop = f"L1@{stopped.isoformat(timespec='microseconds')}"
    body = {"reason": "jam", "comment": "bottle on its side"}
    assert error_of(await site.call("PUT", f"/stops/{stop}/reason", "mgr", json=body))[:2] == (403, "forbidden")
    given = await site.call("PUT", f"/stops/{stop}/reason", "op", json=body)
    assert given.status_code == 200, given.text
    listed = (await site.get("/lines/L1/stops")).json()["items"]
    assert [(s["id"], s["reason"], s["assigned_by"]) for s in listed if s["state"] == "Stopped"] == [
        (stop, "jam", "op-user")
    ]
    assert (await via_api(rt, "downtime.assign", "op-token"))[0].username == "op-user"
    assert error_of(await site.call("PUT", "/stops/L1@yesterday/reason", "op", json=body))[0] == 422
    unknown = await site.call("PUT", f"/stops/{stop}/reason", "op", json={"reason": "gremlins"})
    assert error_of(unknown)[0] == 422
    # A recipe approved at a screen (signed), downloaded by the MES.
    for name, role in (("erin", Role.ENGINEER), ("max", Role.MANAGER)):
        await rt.users.create_user(name, PASSWORD, role)
    erin = (await rt.users.sign_in("erin", PASSWORD, station="panel-1")).ctx
    boss = (await rt.users.sign_in("max", PASSWORD, station="office")).ctx
    assert erin is not None
    assert boss is not None
    await rt.recipes.create(erin, "Cola", "L1")
    version = await rt.recipes.new_version(erin, "Cola", {"L1.Speed": 300})
    assert version.id is not None
    path = "/recipes/Cola/versions/1/download"
    assert error_of(await site.call("POST", path, "lead", json={}))[:2] == (409, "recipe refused")  # a draft
    await rt.recipes.approve(boss, version.id, SignatureRequest(PASSWORD, "max"))
    assert error_of(await site.call("POST", path, "op", json={}))[:2] == (403, "forbidden")
    done = await site.call("POST", path, "lead", json={"reason": "changeover"})
    assert done.status_code == 200, done.text
    assert done.json()["success"] is True
    assert await site.server.value("Sp.Double") == 300.0
    downloads = await via_api(rt, "recipe.download", "lead-token")
    assert [json.loads(e.new_value or "")["result"] for e in downloads] == ["complete", "refused"]  # newest first
    assert downloads[0].reason == "changeover"
    assert (await site.call("POST", "/recipes/Cola/versions/7/download", "lead", json={})).status_code == 404
