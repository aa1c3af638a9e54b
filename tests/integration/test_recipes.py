"""Recipes on real databases (SQLite file and PostgreSQL): validation, frozen versions, four-eyes approval with a
signature, download reports and their audit event, upload, import from YAML."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from asyncua import ua
from sqlalchemy.exc import DBAPIError

from hmi.access.auth import UserService
from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Role
from hmi.clock import ManualClock
from hmi.config import PlantConfig, parse_config
from hmi.control.recipe_report import COMPLETE, FAILED, PARTIAL, downloads_csv, downloads_pdf
from hmi.control.recipe_values import RecipeError, RecipeInvalid
from hmi.control.recipes import FourEyes, RecipeService
from hmi.control.writes import WriteService
from hmi.records.audit import AuditLog
from hmi.records.signatures import APPROVED, SignatureRefused, SignatureRequest, SignatureRequired, SignatureService
from hmi.sources import StatusBoard
from hmi.sources.opcua import OpcUaSource
from hmi.store.database import Database
from hmi.store.models import AuditEntry, RecipeStatus
from hmi.tags import TagCache
from tests.conftest import PERSON_PASSWORD, execute, sign_in
from tests.integration.conftest import Hmi
from tests.opcua_server import SmallServer, free_port
from tests.waiting import until

PLANT = """
site: {name: Recipe Plant, timezone: Europe/Berlin}
endpoints: [{name: e, url: "opc.tcp://127.0.0.1:4840"}]
areas:
  - name: A
    lines:
      - name: L1
        tags:
          - {name: L1.SpeedSP, endpoint: e, node_id: "ns=2;s=L1.SpeedSP", unit: bpm, eng_range: [0, 600],
             write: {min: 100, max: 400, step: 5}}
          - {name: L1.Speed, endpoint: e, node_id: "ns=2;s=L1.Speed", unit: bpm, eng_range: [0, 600]}
        machines:
          - name: Filler
            tags:
              - {name: L1.Filler.TempSP, endpoint: e, node_id: "ns=2;s=L1.Filler.TempSP", unit: °C,
                 eng_range: [0, 100], write: {min: 20, max: 90, step: 0.1}}
              - {name: L1.Filler.Heads, endpoint: e, node_id: "ns=2;s=L1.Filler.Heads", data_type: int,
                 eng_range: [0, 40], write: {min: 1, max: 40}}
      - name: L2
        tags:
          - {name: L2.SpeedSP, endpoint: e, node_id: "ns=2;s=L2.SpeedSP", unit: bpm, eng_range: [0, 300], write: {}}
"""


def plant() -> PlantConfig:
    return parse_config(PLANT, "recipe-plant.yaml")


# What the server holds when a test starts (its nodes are the plant's tags, ns=2;s=<tag name>).
INITIAL: dict[str, Any] = {
    "L1.SpeedSP": 250.0,
    "L1.Speed": 250.0,
    "L1.Filler.TempSP": 64.5,
    "L1.Filler.Heads": ua.Variant(24, ua.VariantType.Int32),
    "L2.SpeedSP": 200.0,
}


class World:
    """A real asyncua server serving the plant's tags, an OPC UA source feeding the cache and the real write
    service: recipes download exactly as in the HMI."""

    def __init__(self, db: Database, audit: AuditLog, users: UserService, clock: ManualClock) -> None:
        self.server = SmallServer(free_port(), dict(INITIAL))
        self.plant = parse_config(PLANT.replace("opc.tcp://127.0.0.1:4840", self.server.url), "recipe-plant.yaml")
        self.cache = TagCache()
        self.clock = clock
        self.audit = audit
        self.db = db
        self.signatures = SignatureService(db, audit, users, clock)
        self.source = OpcUaSource(
            self.plant.endpoints[0], [r.tag for r in self.plant.tags.values()], self.cache, StatusBoard()
        )
        self.writer = WriteService(
            self.plant, self.cache, StatusBoard(), {"e": self.source}, audit, self.signatures, clock
        )
        self.recipes = RecipeService(self.plant, db, audit, self.signatures, self.cache, clock, writer=self.writer)
        self.users = users

    async def start(self) -> None:
        await self.server.start()
        await self.source.start()
        await until(lambda: len(self.cache) == len(INITIAL), what="every tag to have a value")

    async def stop(self) -> None:
        await self.writer.stop()
        await self.source.stop()
        await self.server.stop()

    async def plc(self, **values: float) -> None:
        """Values as the PLC would change them (a BadSensorFailure status for NaN); wait until the HMI has them."""
        assert self.server.server is not None
        for name, value in values.items():
            bad = value != value
            status = ua.StatusCode(ua.StatusCodes.BadSensorFailure if bad else ua.StatusCodes.Good)
            dv = ua.DataValue(ua.Variant(0.0 if bad else value, ua.VariantType.Double), status)
            await self.server.server.write_attribute_value(self.server.nodes[name].nodeid, dv)
        await until(
            lambda: all(
                (s := self.cache.get(n)) is not None and (not s.good if v != v else s.good and s.value == v)
                for n, v in values.items()
            ),
            what=f"the HMI to hear {values}",
        )

    async def writes(self) -> list[AuditEntry]:
        """The write service's rows (each parameter of each download), oldest first."""
        return [r for r in reversed(await self.audit.query(object_type="tag")) if r.action.startswith("tag.write")]

    async def people(self) -> tuple[ActionContext, ActionContext, ActionContext]:
        eng = await sign_in(self.users, "erin", Role.ENGINEER, full_name="Erin Engineer", station="office")
        eng2 = await sign_in(self.users, "emil", Role.ENGINEER, full_name="Emil Engineer", station="office")
        lead = await sign_in(self.users, "lena", Role.LEAD, full_name="Lena Lead", station="panel-1")
        return eng, eng2, lead

    async def approved(self, author: ActionContext, approver: ActionContext) -> int:
        """Recipe 'Cola' on L1 with version 1 approved; its version id."""
        await self.recipes.create(author, "Cola", "L1", description="Cola 0.5 l")
        v = await self.recipes.new_version(author, "Cola", {"L1.SpeedSP": 300, "L1.Filler.TempSP": 64.5})
        assert v.id is not None
        await self.recipes.approve(approver, v.id, SignatureRequest(PERSON_PASSWORD, approver.username))
        return v.id


@pytest.fixture
async def world(db: Database, audit: AuditLog, users: UserService, clock: ManualClock) -> AsyncIterator[World]:
    world = World(db, audit, users, clock)
    await world.start()
    try:
        yield world
    finally:
        await world.stop()


@pytest.mark.req("CTL-030")
async def test_parameters_must_be_writable_tags_of_the_target_within_limits_and_on_the_grid(world: World) -> None:
    eng, _, _ = await world.people()
    await world.recipes.create(eng, "Cola", "L1")
    await world.recipes.create(eng, "FillerOnly", "L1", machine="Filler")
    with pytest.raises(RecipeInvalid) as caught:
        await world.recipes.new_version(
            eng,
            "Cola",
            {
                "L1.SpeedSP": 450,
                "L1.Filler.TempSP": 64.55,
                "L1.Speed": 300,
                "L2.SpeedSP": 100,
                "Nope": 1,
                "L1.Filler.Heads": 2.5,
            },
        )
    text = str(caught.value)
    assert "L1.SpeedSP: 450 bpm is outside the write limits 100 to 400 bpm" in text
    assert "L1.Filler.TempSP: 64.55 °C is not on the step grid of 0.1 from 20; give 64.5 or 64.6" in text
    assert "L1.Speed: is read only" in text
    assert "L2.SpeedSP: is not a tag of line L1" in text
    assert "Nope: is not a tag of this plant" in text
    assert "L1.Filler.Heads: 2.5 is not a whole number" in text
    assert len(caught.value.problems) == 6
    # A machine recipe takes that machine's tags only.
    with pytest.raises(RecipeInvalid, match=r"L1.SpeedSP: is not a tag of line L1 machine Filler"):
        await world.recipes.new_version(eng, "FillerOnly", {"L1.SpeedSP": 300})
    # Decimal steps are judged with a tolerance and stored on the grid.
    v = await world.recipes.new_version(eng, "Cola", {"L1.SpeedSP": 300, "L1.Filler.TempSP": 64.30000000000001})
    assert json.loads(v.parameters) == {"L1.Filler.TempSP": 64.3, "L1.SpeedSP": 300.0}
    assert v.status is RecipeStatus.DRAFT
    assert v.version == 1
    assert v.author == "erin"
    with pytest.raises(RecipeError, match="there is no line 'L9'"):
        await world.recipes.create(eng, "X", "L9")
    with pytest.raises(RecipeError, match="exists already"):
        await world.recipes.create(eng, "Cola", "L1")


@pytest.mark.req("CTL-031")
async def test_versions_are_frozen_by_the_database(world: World) -> None:
    eng, eng2, _ = await world.people()
    vid = await world.approved(eng, eng2)
    db = world.db
    for statement in (
        f"UPDATE recipe_versions SET parameters = '{{\"L1.SpeedSP\": 400}}' WHERE id = {vid}",
        f"UPDATE recipe_versions SET status = 'draft' WHERE id = {vid}",
        f"UPDATE recipe_versions SET approver = 'someone' WHERE id = {vid}",
        f"DELETE FROM recipe_versions WHERE id = {vid}",
        "UPDATE recipes SET line = 'L2'",
        "DELETE FROM recipes",
    ):
        with pytest.raises(DBAPIError, match=r"frozen|append-only"):
            await execute(db, statement)
    async with db.session() as session:
        row = (await session.execute(sa.text("SELECT parameters, status FROM recipe_versions"))).one()
    assert json.loads(row[0]) == {"L1.Filler.TempSP": 64.5, "L1.SpeedSP": 300.0}
    assert row[1] == "approved"
    # The one move left to an approved version: superseded by the next approval (the service does it).
    await execute(db, f"UPDATE recipe_versions SET status = 'superseded' WHERE id = {vid}")


@pytest.mark.req("CTL-032")
async def test_approval_needs_another_person_and_a_signature_bound_to_the_content(world: World) -> None:
    eng, eng2, lead = await world.people()
    await world.recipes.create(eng, "Cola", "L1")
    v1 = await world.recipes.new_version(eng, "Cola", {"L1.SpeedSP": 300})
    assert v1.id is not None
    with pytest.raises(FourEyes, match="another engineer or a manager must approve it"):
        await world.recipes.approve(eng, v1.id, SignatureRequest(PERSON_PASSWORD, "erin"))
    [refused] = await world.audit.query(action="recipe.approve.refused")
    assert refused.username == "erin"
    assert "four eyes" in (refused.reason or "")
    with pytest.raises(PermissionDenied):
        await world.recipes.approve(lead, v1.id, SignatureRequest(PERSON_PASSWORD, "lena"))
    assert await world.audit.query(action="recipe.approve.denied")
    with pytest.raises(SignatureRequired):
        await world.recipes.approve(eng2, v1.id, None)
    with pytest.raises(SignatureRefused):
        await world.recipes.approve(eng2, v1.id, SignatureRequest("wrong password", "emil"))
    assert (await world.recipes.version(v1.id)).status is RecipeStatus.DRAFT  # type: ignore[union-attr]
    # Whatever meaning the screen sends, an approval means "Approved".
    approved = await world.recipes.approve(eng2, v1.id, SignatureRequest(PERSON_PASSWORD, "emil", "Reviewed"))
    assert approved.status is RecipeStatus.APPROVED
    assert approved.approver == "emil"
    assert approved.approved_at == world.clock.now()
    signature = await world.recipes.signature_of(approved)
    assert signature is not None
    assert signature.meaning == APPROVED
    assert signature.username == "emil"
    assert await world.recipes.verify(approved)
    assert "Signed by Emil Engineer (emil)" in world.recipes.manifestation(signature)
    [row] = await world.audit.query(action="recipe.approve")
    assert (row.old_value, row.new_value) == ("draft", "approved")
    assert f"signature {signature.id}" in (row.detail or "")
    # Version 2 approved: version 1 is superseded; a rejected draft keeps its reason.
    world.clock.advance(60)
    v2 = await world.recipes.new_version(eng2, "Cola", {"L1.SpeedSP": 320})
    v3 = await world.recipes.new_version(eng2, "Cola", {"L1.SpeedSP": 330})
    assert v2.id is not None
    assert v3.id is not None
    await world.recipes.approve(eng, v2.id, SignatureRequest(PERSON_PASSWORD, "erin"))
    with pytest.raises(RecipeError, match="needs a reason"):
        await world.recipes.reject(eng, v3.id, "  ", SignatureRequest(PERSON_PASSWORD))
    rejected = await world.recipes.reject(eng, v3.id, "speed too high for 0.5 l", SignatureRequest(PERSON_PASSWORD))
    assert rejected.status is RecipeStatus.REJECTED
    assert rejected.reject_reason == "speed too high for 0.5 l"
    statuses = {v.version: v.status for v in await world.recipes.versions(v1.recipe_id)}
    assert statuses == {1: RecipeStatus.SUPERSEDED, 2: RecipeStatus.APPROVED, 3: RecipeStatus.REJECTED}
    assert await world.audit.query(action="recipe.supersede")
    with pytest.raises(RecipeError, match="only a draft"):
        await world.recipes.approve(eng, v3.id, SignatureRequest(PERSON_PASSWORD))
    [summary] = await world.recipes.summaries()
    assert summary.approved is not None
    assert summary.approved.version == 2
    assert summary.drafts == []


@pytest.mark.req("CTL-033")
async def test_only_the_approved_version_can_be_downloaded_and_refusals_are_audited(world: World) -> None:
    eng, _eng2, lead = await world.people()
    await world.recipes.create(eng, "Cola", "L1")
    await world.recipes.new_version(eng, "Cola", {"L1.SpeedSP": 300})
    with pytest.raises(RecipeError, match="version 1 is draft; only the approved version can be downloaded"):
        await world.recipes.download(lead, "Cola", 1, signature=SignatureRequest(PERSON_PASSWORD, "lena"))
    assert await world.writes() == []
    [log] = await world.recipes.downloads()
    assert log.result == "refused"
    assert not log.success
    operator = await sign_in(world.users, "olga", Role.OPERATOR)
    with pytest.raises(PermissionDenied):
        await world.recipes.download(operator, "Cola", 1)
    [denied] = await world.audit.query(action="recipe.download.denied")
    assert denied.username == "olga"


@pytest.mark.req("CTL-034")
async def test_a_download_reports_each_parameter_and_is_one_audited_event(world: World) -> None:
    eng, eng2, lead = await world.people()
    await world.approved(eng, eng2)
    version = await world.recipes.version_of("Cola", 1)
    assert version is not None
    diff = {row.tag: row for row in world.recipes.diff(version)}
    assert diff["L1.SpeedSP"].differs
    assert diff["L1.SpeedSP"].current == 250.0
    assert diff["L1.SpeedSP"].unit == "bpm"
    assert diff["L1.SpeedSP"].limits_text == "100 to 400 (step 5)"
    assert not diff["L1.Filler.TempSP"].differs
    # Signatures on by default for downloads.
    with pytest.raises(SignatureRequired):
        await world.recipes.download(lead, "Cola", 1, reason="changeover")
    report = await world.recipes.download(
        lead, "Cola", 1, reason="changeover", signature=SignatureRequest(PERSON_PASSWORD, "lena")
    )
    assert report.result == COMPLETE
    assert report.success
    assert [(p.tag, p.result) for p in report.parts] == [("L1.Filler.TempSP", "confirmed"), ("L1.SpeedSP", "confirmed")]
    # Each parameter went through the write service: its own audit row, naming the download, its reason and
    # the download's signature.
    rows = await world.writes()
    assert [(r.action, r.object_id, r.reason) for r in rows] == [
        ("tag.write", "L1.Filler.TempSP", "changeover"),
        ("tag.write", "L1.SpeedSP", "changeover"),
    ]
    assert all("recipe Cola version 1" in (r.detail or "") for r in rows)
    assert {json.loads(r.new_value or "")["signature_id"] for r in rows} == {report.signature_id}
    assert report.signature_id is not None
    assert await world.server.nodes["L1.SpeedSP"].read_value() == 300.0
    # One partially failing download: never a success, each part says what happened.
    await world.server.nodes["L1.SpeedSP"].set_writable(False)
    world.clock.advance(5)
    partial = await world.recipes.download(lead, "Cola", 1, reason="retry", signature=SignatureRequest(PERSON_PASSWORD))
    assert partial.result == PARTIAL
    assert not partial.success
    assert "PARTIAL" in partial.summary
    assert "1 of 2" in partial.summary
    # Nothing confirmed: failed.
    await world.server.nodes["L1.Filler.TempSP"].set_writable(False)
    failed = await world.recipes.download(lead, "Cola", 1, signature=SignatureRequest(PERSON_PASSWORD))
    assert failed.result == FAILED
    rows = await world.audit.query(action="recipe.download")
    assert [json.loads(r.new_value or "")["result"] for r in rows] == [FAILED, PARTIAL, COMPLETE]
    assert "partial, 1 of 2 parameters confirmed" in (rows[1].detail or "")
    parts = json.loads(rows[1].new_value or "")["parts"]
    assert {p["tag"]: p["result"] for p in parts} == {"L1.SpeedSP": "server_refused", "L1.Filler.TempSP": "confirmed"}
    log = await world.recipes.downloads("Cola")
    assert [r.result for r in log] == [FAILED, PARTIAL, COMPLETE]
    # Without the signature policy the download needs none.
    world.recipes.signature_required = False
    assert (await world.recipes.download(eng, "Cola", 1)).signature_id is None
    # The log exports: CSV cells never run as formulas, the PDF builds.
    for name in ("L1.SpeedSP", "L1.Filler.TempSP"):
        await world.server.nodes[name].set_writable(True)
    await world.recipes.download(eng, "Cola", 1, reason="=HYPERLINK(1)")
    text = downloads_csv(await world.recipes.downloads(), ZoneInfo("Europe/Berlin"))
    assert "'=HYPERLINK(1)" in text
    assert "partial" in text
    pdf = downloads_pdf(
        await world.recipes.downloads(),
        site="Recipe Plant",
        zone=ZoneInfo("Europe/Berlin"),
        generated_by="erin",
        generated_at=world.clock.now(),
    )
    assert pdf.startswith(b"%PDF")


@pytest.mark.req("CTL-035")
async def test_upload_saves_the_line_values_as_a_new_draft(world: World) -> None:
    eng, eng2, _ = await world.people()
    await world.approved(eng, eng2)
    await world.plc(**{"L1.Filler.TempSP": float("nan")})
    with pytest.raises(RecipeError, match="are not GOOD"):
        await world.recipes.upload(eng, "Cola")
    await world.plc(**{"L1.SpeedSP": 310.0, "L1.Filler.TempSP": 66.10000000000001})
    version = await world.recipes.upload(eng, "Cola")
    assert version.version == 2
    assert version.status is RecipeStatus.DRAFT
    assert json.loads(version.parameters) == {"L1.Filler.TempSP": 66.1, "L1.SpeedSP": 310.0}
    assert "uploaded from the line" in version.note
    [row] = await world.audit.query(action="recipe.upload")
    assert row.username == "erin"


RECIPES_YAML = """
recipes:
  - name: Cola-05
    line: L1
    description: Cola 0.5 l PET
    parameters: {L1.SpeedSP: 300, L1.Filler.TempSP: 64.5}
  - name: Filler-Water
    line: L1
    machine: Filler
    parameters: {L1.Filler.TempSP: 20, L1.Filler.Heads: 24}
"""


@pytest.mark.req("CTL-036")
async def test_recipes_import_from_yaml_as_drafts(world: World, tmp_path: Path) -> None:
    eng, _, _ = await world.people()
    path = tmp_path / "recipes.yaml"
    path.write_text(RECIPES_YAML, encoding="utf-8")
    saved = await world.recipes.import_file(eng, path)
    assert [(r.name, v.version if v else None) for r, v in saved] == [("Cola-05", 1), ("Filler-Water", 1)]
    # The same file again adds nothing; a changed value adds a draft.
    assert [v for _, v in await world.recipes.import_file(eng, path)] == [None, None]
    path.write_text(RECIPES_YAML.replace("300", "305"), encoding="utf-8")
    assert [v.version if v else None for _, v in await world.recipes.import_file(eng, path)] == [2, None]
    # A wrong file stores nothing and names every problem.
    bad = RECIPES_YAML.replace("300", "999").replace("Heads: 24", "Heads: 99").replace("Cola-05", "New")
    with pytest.raises(RecipeError, match=r"nothing was imported.*L1.SpeedSP: 999.*L1.Filler.Heads: 99"):
        await world.recipes.import_text(eng, bad)
    assert await world.recipes.get("New") is None
    with pytest.raises(RecipeError, match="parameters"):
        await world.recipes.import_text(eng, "recipes: [{name: X, line: L1}]")


@pytest.mark.req("CTL-037")
async def test_each_role_may_do_what_the_permission_table_says_and_refusals_are_audited(world: World) -> None:
    eng, eng2, _ = await world.people()
    vid = await world.approved(eng, eng2)
    world.recipes.signature_required = False
    expected = {
        # role: (create, approve, download)
        Role.OPERATOR: (False, False, False),
        Role.LEAD: (False, False, True),
        Role.ENGINEER: (True, True, True),
        Role.MANAGER: (False, True, False),
        Role.ADMIN: (False, False, False),
    }
    for role, (may_create, may_approve, may_download) in expected.items():
        who = await sign_in(world.users, f"walk-{role.value}", role)
        draft = await world.recipes.new_version(eng, "Cola", {"L1.SpeedSP": 305})
        assert draft.id is not None
        attempts = {
            "recipe.create": world.recipes.create(who, f"R-{role.value}", "L2"),
            "recipe.approve": world.recipes.approve(who, draft.id, SignatureRequest(PERSON_PASSWORD, who.username)),
            "recipe.download": world.recipes.download(who, "Cola", 1),
        }
        for (action, attempt), allowed in zip(attempts.items(), (may_create, may_approve, may_download), strict=True):
            try:
                await attempt
                done = True
            except PermissionDenied:
                done = False
            except RecipeError:
                done = True  # past the permission check (e.g. version 1 superseded meanwhile)
            assert done is allowed, (role, action)
            denied = await world.audit.query(action=f"{action}.denied", username=who.username)
            assert len(denied) == (0 if allowed else 1), (role, action)
    assert vid


@pytest.mark.req("CTL-036")
async def test_cli_imports_a_file_as_drafts_by_the_named_engineer(
    world: World, hmi: Hmi, tmp_path: Path, db: Database
) -> None:
    await world.people()
    plant_file = tmp_path / "plant.yaml"
    plant_file.write_text(PLANT, encoding="utf-8")
    recipes = tmp_path / "recipes.yaml"
    recipes.write_text(RECIPES_YAML, encoding="utf-8")
    args = ("recipes", "import", str(recipes), "--config", str(plant_file), "--db", db.url, "--password-stdin")
    code, out, err = await hmi(*args, "--user", "erin", stdin=f"{PERSON_PASSWORD}\n")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["Cola-05 (L1): version 1 (draft)", "Filler-Water (L1 Filler): version 1 (draft)"]
    [row, _] = await world.audit.query(action="recipe.version")
    assert row.username == "erin"
    assert row.station.startswith("cli:")
    # A wrong password or a role that may not manage recipes imports nothing.
    code, _, err = await hmi(*args, "--user", "erin", stdin="wrong\n")
    assert code == 1
    assert "do not match" in err
    code, _, err = await hmi(*args, "--user", "lena", stdin=f"{PERSON_PASSWORD}\n")
    assert code == 1
    assert "refused" in err
    assert await world.audit.query(action="recipe.import.denied")


# The file in this checkout (the installed hmi.assets may be another checkout's).
DEMO_RECIPES_TEXT = (Path(__file__).resolve().parents[2] / "assets" / "demo-recipes.yaml").read_text(encoding="utf-8")
DEMO_LIKE = """
site: {name: Demo-like}
endpoints: [{name: plant, url: "opc.tcp://127.0.0.1:4840"}]
areas:
  - name: Bottling
    lines:
      - name: Line1
        tags:
          - {name: Line1.SpeedSP, endpoint: plant, node_id: "ns=2;s=Line1.SpeedSP", eng_range: [0, 400],
             write: {min: 100, max: 360, step: 5}}
        machines:
          - name: Filler
            tags:
              - {name: Line1.Filler.TemperatureSP, endpoint: plant, node_id: "ns=2;s=Line1.Filler.TemperatureSP",
                 eng_range: [-5, 40], write: {min: 2, max: 12, step: 0.5, signature: true, reason: required}}
      - name: Line2
        tags:
          - {name: Line2.SpeedSP, endpoint: plant, node_id: "ns=2;s=Line2.SpeedSP", eng_range: [0, 400],
             write: {min: 100, max: 260, step: 5}}
        machines:
          - name: Filler
            tags:
              - {name: Line2.Filler.TemperatureSP, endpoint: plant, node_id: "ns=2;s=Line2.Filler.TemperatureSP",
                 eng_range: [-5, 40], write: {min: 2, max: 12, step: 0.5, reason: required}}
"""


@pytest.mark.req("CTL-036")
async def test_the_demo_imports_its_recipes_as_drafts_and_the_manager_approves_them(
    db: Database, audit: AuditLog, users: UserService, clock: ManualClock
) -> None:
    from hmi.control.recipes import seed_demo

    demo = parse_config(DEMO_LIKE, "demo-like.yaml")
    signatures = SignatureService(db, audit, users, clock)
    service = RecipeService(demo, db, audit, signatures, TagCache(), clock)
    engineer = await sign_in(users, "engineer", Role.ENGINEER, station="demo")
    manager = await sign_in(users, "manager", Role.MANAGER, station="demo")
    text = DEMO_RECIPES_TEXT
    kwargs = {"text": text, "author": engineer, "approver": manager, "approver_password": PERSON_PASSWORD}
    assert await seed_demo(service, **kwargs) == 2  # type: ignore[arg-type]
    summaries = await service.summaries()
    assert [(s.recipe.name, s.approved.version if s.approved else None) for s in summaries] == [
        ("Cola-0.5l", 1),
        ("Lemonade-0.5l", 1),
    ]
    assert {r.username for r in await audit.query(action="recipe.version")} == {"engineer"}
    assert {r.username for r in await audit.query(action="recipe.approve")} == {"manager"}
    assert len(await audit.query(action="sign", username="manager")) == 2
    # Only on the first start.
    assert await seed_demo(service, **kwargs) == 0  # type: ignore[arg-type]
