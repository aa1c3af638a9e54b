"""Recipes (ISA-88): named, versioned sets of setpoint values for a line or one of its machines.

A version is frozen once saved (the database refuses changes to its parameters); a draft becomes downloadable only
when a person other than its author approves it with an electronic signature (21 CFR 11.200, four eyes; EU GMP
Annex 11 §12.4). A download writes every parameter through the write service, reads each back, and is recorded as
one audit event listing every part and the overall result: complete, partial or failed (partial is never success).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.clock import Clock, utc_now
from hmi.config import PlantConfig
from hmi.control.recipe_report import DiffRow, DownloadPart, DownloadReport, part_of
from hmi.control.recipe_values import (
    MAX_TEXT,
    RecipeDef,
    RecipeError,
    check_target,
    parameters_of,
    parse_recipes,
    recipe_content,
    signed_content,
    target_tags,
    validate_parameters,
    where,
)
from hmi.control.spec import NAME_PATTERN
from hmi.control.writes import WriteService
from hmi.records.audit import AuditLog
from hmi.records.signatures import (
    APPROVED,
    SignatureRequest,
    SignatureRequired,
    SignatureService,
    canonical_json,
    content_hash,
    manifestation,
)
from hmi.store.database import Database
from hmi.store.models import Recipe, RecipeStatus, RecipeVersion, Signature
from hmi.tags import TagCache
from hmi.texts import Text, joined

log = logging.getLogger(__name__)

REJECTED = "Rejected"
DOWNLOAD_MEANING = "Download authorised"
VIEW_PERMISSIONS = (Permission.MANAGE_RECIPES, Permission.APPROVE_RECIPE, Permission.DOWNLOAD_RECIPE)
"""Whoever holds one of these sees the recipe screens."""


class FourEyes(RecipeError):
    """The author of a version tried to approve it: another person must (21 CFR 11.200, GMP four-eyes rule)."""


# ---------------------------------------------------------------------------------------------- validation
@dataclass(frozen=True, slots=True)
class RecipeSummary:
    """A recipe as the list shows it: the version in force and the drafts waiting for a decision."""

    recipe: Recipe
    approved: RecipeVersion | None
    drafts: list[RecipeVersion]
    latest: RecipeVersion | None


def _exists(name: str) -> Text:
    return Text("a recipe named {name!r} exists already; add a version to it instead", name=name)


def _reason_too_long(reason: str) -> Text:
    return Text("the reason has {length} characters; at most {most} fit", length=len(reason), most=MAX_TEXT)


# ---------------------------------------------------------------------------------------------- the service
class RecipeService:
    """Creates, approves, rejects, uploads and downloads recipes; checks the permissions and audits everything."""

    def __init__(
        self,
        plant: PlantConfig,
        db: Database,
        audit: AuditLog,
        signatures: SignatureService,
        cache: TagCache,
        clock: Clock = utc_now,
        *,
        writer: WriteService | None = None,
        signature_required: bool | None = None,
    ) -> None:
        self.plant = plant
        self._db = db
        self._audit = audit
        self._signatures = signatures
        self._cache = cache
        self._clock = clock
        self.writer = writer
        self.signature_required = plant.signatures.recipe_download if signature_required is None else signature_required

    def use_plant(self, plant: PlantConfig) -> None:
        """Take over a reloaded plant (hmi/plant_reload.py): its writable tags and its signature policy."""
        self.plant = plant
        self.signature_required = plant.signatures.recipe_download

    # ----------------------------------------------------------------------------------------- viewing
    @staticmethod
    def may_view(ctx: ActionContext) -> bool:
        """True for the people who work with recipes (manage, approve or download them)."""
        return any(ctx.can(p) for p in VIEW_PERMISSIONS)

    async def require_view(self, ctx: ActionContext) -> None:
        """Return when `ctx` may see the recipes; otherwise audit `recipe.view.denied` and raise."""
        if self.may_view(ctx):
            return
        await self._audit.require(ctx, Permission.DOWNLOAD_RECIPE, action="recipe.view", object_type="recipe")

    # ------------------------------------------------------------------------------------- writing records
    async def create(
        self, ctx: ActionContext, name: str, line: str, machine: str = "", description: str = ""
    ) -> Recipe:
        """A new recipe (no versions yet) for a line or one machine of it; needs MANAGE_RECIPES."""
        name, line, machine = name.strip(), line.strip(), machine.strip()
        await self._audit.require(
            ctx, Permission.MANAGE_RECIPES, action="recipe.create", object_type="recipe", object_id=name
        )
        if not re.fullmatch(NAME_PATTERN, name) or len(name) > 120:
            raise RecipeError(
                Text(
                    "{name!r} cannot name a recipe: use letters, digits, '.', '_' and '-', starting with a letter or "
                    "digit",
                    name=name,
                )
            )
        if len(description) > MAX_TEXT:
            raise RecipeError(
                Text(
                    "the description has {length} characters; at most {most} fit",
                    length=len(description),
                    most=MAX_TEXT,
                )
            )
        check_target(self.plant, line, machine)
        if not target_tags(self.plant, line, machine):
            raise RecipeError(
                Text(
                    "{where} has no writable tags; give tags a write rule in the plant file first",
                    where=where(line, machine),
                )
            )
        recipe = Recipe(
            name=name,
            line=line,
            machine=machine,
            description=description.strip(),
            created_at=self._clock(),
            created_by=ctx.username,
            action_id=ctx.id,
        )
        try:
            async with self._audit.transaction() as session:
                if await self._recipe_in(session, name) is not None:
                    raise RecipeError(_exists(name))
                session.add(recipe)
                await session.flush()
                await self._audit.record(
                    ctx,
                    "recipe.create",
                    "recipe",
                    name,
                    session=session,
                    new_value={"line": line, "machine": machine, "description": recipe.description},
                )
        except IntegrityError:
            raise RecipeError(_exists(name)) from None
        return recipe

    async def new_version(
        self, ctx: ActionContext, name: str, parameters: Mapping[str, object], note: str = ""
    ) -> RecipeVersion:
        """A new draft version of recipe `name`; RecipeInvalid naming every wrong parameter; needs MANAGE_RECIPES."""
        await self._audit.require(
            ctx, Permission.MANAGE_RECIPES, action="recipe.version", object_type="recipe", object_id=name
        )
        return await self._add_version(ctx, name, parameters, note, action="recipe.version")

    async def _add_version(
        self, ctx: ActionContext, name: str, parameters: Mapping[str, object], note: str, *, action: str
    ) -> RecipeVersion:
        if len(note) > MAX_TEXT:
            raise RecipeError(
                Text("the note has {length} characters; at most {most} fit", length=len(note), most=MAX_TEXT)
            )
        recipe = await self.get(name)
        if recipe is None:
            raise RecipeError(f"there is no recipe {name!r}")
        cleaned = validate_parameters(self.plant, recipe.line, recipe.machine, parameters)
        try:
            async with self._audit.transaction() as session:
                last = (
                    await session.execute(
                        select(RecipeVersion.version)
                        .where(RecipeVersion.recipe_id == recipe.id)
                        .order_by(col(RecipeVersion.version).desc())
                        .limit(1)
                    )
                ).scalar_one_or_none()
                number = (last or 0) + 1
                assert recipe.id is not None
                version = RecipeVersion(
                    recipe_id=recipe.id,
                    version=number,
                    parameters=canonical_json(cleaned),
                    content_hash=content_hash(recipe_content(recipe, number, cleaned)),
                    note=note.strip(),
                    author_id=ctx.user_id or None,
                    author=ctx.username,
                    created_at=self._clock(),
                    action_id=ctx.id,
                )
                session.add(version)
                await session.flush()
                await self._audit.record(
                    ctx,
                    action,
                    "recipe_version",
                    str(version.id),
                    session=session,
                    new_value=cleaned,
                    reason=version.note or None,
                    detail=f"recipe {name} version {number} (draft); content sha256 {version.content_hash}",
                )
        except IntegrityError:
            raise RecipeError(Text("recipe {name} got another version meanwhile; save again", name=name)) from None
        return version

    async def save(
        self,
        ctx: ActionContext,
        definition: RecipeDef,
    ) -> tuple[Recipe, RecipeVersion | None]:
        """A recipe of a file: created when new, a new draft when its parameters differ from the latest version
        (None when they do not); RecipeError when the file targets another line than the stored recipe."""
        await self._audit.require(
            ctx, Permission.MANAGE_RECIPES, action="recipe.import", object_type="recipe", object_id=definition.name
        )
        recipe = await self.get(definition.name)
        if recipe is None:
            recipe = await self.create(
                ctx, definition.name, definition.line, definition.machine, definition.description
            )
        elif (recipe.line, recipe.machine) != (definition.line, definition.machine):
            raise RecipeError(
                Text(
                    "recipe {name} targets {stored}, the file says {given}; give the recipe another name",
                    name=recipe.name,
                    stored=f"{recipe.line} {recipe.machine}".rstrip(),
                    given=f"{definition.line} {definition.machine}".rstrip(),
                )
            )
        assert recipe.id is not None
        versions = await self.versions(recipe.id)
        cleaned = validate_parameters(self.plant, recipe.line, recipe.machine, definition.parameters)
        if versions and parameters_of(versions[0]) == cleaned:
            return recipe, None
        return recipe, await self.new_version(ctx, recipe.name, cleaned, definition.note)

    async def import_text(
        self, ctx: ActionContext, text: str, name: str = "<recipes>"
    ) -> list[tuple[Recipe, RecipeVersion | None]]:
        """Every recipe of a YAML recipe file (see `save`); the file is checked whole before anything is stored."""
        definitions = parse_recipes(text, name)
        problems: list[str] = []
        for d in definitions:
            try:
                validate_parameters(self.plant, d.line, d.machine, d.parameters)
            except RecipeError as exc:
                problems.append(Text("recipe {name}: {why}", name=d.name, why=exc))
        if problems:
            raise RecipeError(
                Text("{file}: nothing was imported: {problems}", file=name, problems=joined(problems, " | "))
            )
        return [await self.save(ctx, d) for d in definitions]

    async def import_file(self, ctx: ActionContext, path: Path) -> list[tuple[Recipe, RecipeVersion | None]]:
        """`import_text` of a file."""
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except OSError as exc:
            raise RecipeError(
                Text("{path} cannot be read: {why}", path=str(path), why=exc.strerror or str(exc))
            ) from None
        return await self.import_text(ctx, text, str(path))

    async def upload(self, ctx: ActionContext, name: str, note: str = "") -> RecipeVersion:
        """The line's current values as a new draft version of recipe `name` (the tags of its latest version,
        else every writable tag of its target); RecipeError naming values that are missing or not GOOD."""
        await self._audit.require(
            ctx, Permission.MANAGE_RECIPES, action="recipe.upload", object_type="recipe", object_id=name
        )
        recipe = await self.get(name)
        if recipe is None:
            raise RecipeError(f"there is no recipe {name!r}")
        assert recipe.id is not None
        versions = await self.versions(recipe.id)
        tags = (
            list(parameters_of(versions[0]))
            if versions
            else sorted(target_tags(self.plant, recipe.line, recipe.machine))
        )
        values: dict[str, object] = {}
        missing: list[str] = []
        for tag in tags:
            state = self._cache.get(tag)
            if state is None or not state.good:
                missing.append(
                    Text("{tag} ({quality})", tag=tag, quality=state.quality.value)
                    if state is not None
                    else Text("{tag} (no value yet)", tag=tag)
                )
            else:
                values[tag] = state.value
        if missing:
            raise RecipeError(
                Text(
                    "the line's values cannot be uploaded: {missing} are not GOOD; wait for good values",
                    missing=joined(missing, ", "),
                )
            )
        note = note.strip() or f"uploaded from the line at {self._clock().astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        return await self._add_version(ctx, name, values, note, action="recipe.upload")

    # ------------------------------------------------------------------------------------------ decisions
    async def approve(self, ctx: ActionContext, version_id: int, signature: SignatureRequest | None) -> RecipeVersion:
        """Approve a draft (meaning "Approved", signature always required) by a person other than its author; the
        version approved before it is superseded. Needs APPROVE_RECIPE."""
        return await self._decide(ctx, version_id, signature, RecipeStatus.APPROVED, APPROVED, "")

    async def reject(
        self, ctx: ActionContext, version_id: int, reason: str, signature: SignatureRequest | None
    ) -> RecipeVersion:
        """Reject a draft, with the reason and a signature (meaning "Rejected"); needs APPROVE_RECIPE."""
        reason = reason.strip()
        if not reason:
            raise RecipeError(Text("rejecting a version needs a reason; say what must change"))
        if len(reason) > MAX_TEXT:
            raise RecipeError(_reason_too_long(reason))
        return await self._decide(ctx, version_id, signature, RecipeStatus.REJECTED, REJECTED, reason)

    async def _decide(
        self,
        ctx: ActionContext,
        version_id: int,
        request: SignatureRequest | None,
        after: RecipeStatus,
        meaning: str,
        reason: str,
    ) -> RecipeVersion:
        action = "recipe.approve" if after is RecipeStatus.APPROVED else "recipe.reject"
        oid = str(version_id)
        await self._audit.require(
            ctx, Permission.APPROVE_RECIPE, action=action, object_type="recipe_version", object_id=oid
        )
        version = await self.version(version_id)
        if version is None:
            raise RecipeError(Text("there is no recipe version {id}", id=version_id))
        if version.status is not RecipeStatus.DRAFT:
            raise RecipeError(
                Text(
                    "version {version} is {status}; only a draft can be decided on",
                    version=version.version,
                    status=version.status.value,
                )
            )
        if after is RecipeStatus.APPROVED and (version.author_id == ctx.user_id or version.author == ctx.username):
            await self._audit.record(
                ctx,
                f"{action}.refused",
                "recipe_version",
                oid,
                reason="four eyes: the author may not approve their own version",
            )
            raise FourEyes(
                Text(
                    "you wrote version {version}; another engineer or a manager must approve it (four eyes)",
                    version=version.version,
                )
            )
        if request is None:
            raise SignatureRequired(
                Text("approving a recipe version") if after is RecipeStatus.APPROVED else Text("rejecting it")
            )
        # The meaning is the decision's, whatever the screen sent: an approval always means "Approved".
        signer = await self._signatures.prepare(
            ctx,
            username=request.username,
            password=request.password,
            meaning=meaning,
            object_type="recipe_version",
            object_id=oid,
        )
        async with self._audit.transaction() as session:
            current = await session.get(RecipeVersion, version_id, populate_existing=True)
            recipe = await session.get(Recipe, version.recipe_id)
            if current is None or recipe is None or current.status is not RecipeStatus.DRAFT:
                raise RecipeError(
                    Text("version {version} was decided on meanwhile; reload it", version=version.version)
                )
            signature = await self._signatures.write(
                ctx,
                signer,
                object_type="recipe_version",
                object_id=oid,
                content=signed_content(recipe, current),
                session=session,
            )
            if after is RecipeStatus.APPROVED:
                for old in (
                    await session.execute(
                        select(RecipeVersion).where(
                            RecipeVersion.recipe_id == recipe.id, RecipeVersion.status == RecipeStatus.APPROVED
                        )
                    )
                ).scalars():
                    old.status = RecipeStatus.SUPERSEDED
                    await session.flush()
                    await self._audit.record(
                        ctx,
                        "recipe.supersede",
                        "recipe_version",
                        str(old.id),
                        session=session,
                        old_value=RecipeStatus.APPROVED.value,
                        new_value=RecipeStatus.SUPERSEDED.value,
                        detail=f"recipe {recipe.name} version {old.version} superseded by version {current.version}",
                    )
            current.status = after
            current.approver = ctx.username
            current.approver_id = ctx.user_id or None
            current.approved_at = self._clock()
            current.signature_id = signature.id
            current.reject_reason = reason or None
            await session.flush()
            await self._audit.record(
                ctx,
                action,
                "recipe_version",
                oid,
                session=session,
                old_value=RecipeStatus.DRAFT.value,
                new_value=after.value,
                reason=reason or None,
                detail=f"recipe {recipe.name} version {current.version} by {current.author}; signature "
                f"{signature.id}; content sha256 {current.content_hash}",
            )
        return current

    # ------------------------------------------------------------------------------------------- download
    def diff(self, version: RecipeVersion) -> list[DiffRow]:
        """Every parameter of `version` beside the line's current value (from the tag cache)."""
        rows = []
        for tag, value in parameters_of(version).items():
            state = self._cache.get(tag)
            ref = self.plant.tags.get(tag)
            limits = self.plant.write_limits(tag) if ref is not None else None
            step = ref.tag.write.step if ref is not None and ref.tag.write is not None else None
            rows.append(
                DiffRow(
                    tag=tag,
                    current=state.value if state is not None else None,
                    quality=state.quality.value if state is not None else "missing",
                    recipe=value,
                    unit=ref.tag.unit if ref is not None else "",
                    low=limits[0] if limits else None,
                    high=limits[1] if limits else None,
                    step=step,
                )
            )
        return rows

    async def download(
        self,
        ctx: ActionContext,
        name: str,
        version_number: int,
        *,
        reason: str = "",
        signature: SignatureRequest | None = None,
        zone: ZoneInfo | None = None,
    ) -> DownloadReport:
        """Write every parameter of an approved version through the write service and read each back; the whole
        download is one audit event `recipe.download` with its parts and result (the write service records each
        parameter's own row). Needs DOWNLOAD_RECIPE, and a signature when the plant's policy says so."""
        await self._audit.require(
            ctx, Permission.DOWNLOAD_RECIPE, action="recipe.download", object_type="recipe", object_id=name
        )
        reason = reason.strip()
        if len(reason) > MAX_TEXT:
            raise RecipeError(_reason_too_long(reason))
        recipe = await self.get(name)
        version = await self.version_of(name, version_number) if recipe is not None else None
        if recipe is None or version is None or version.id is None:
            raise RecipeError(
                Text("there is no version {version} of recipe {name!r}", version=version_number, name=name)
            )
        refusal = ""
        if version.status is not RecipeStatus.APPROVED:
            refusal = Text(
                "version {version} is {status}; only the approved version can be downloaded",
                version=version.version,
                status=version.status.value,
            )
        elif self.writer is None:
            refusal = Text("this HMI has no write service; nothing can be written to the line")
        if refusal:
            report = DownloadReport(
                name, version.version, version.id, self._clock(), ctx.username, reason, (), refused=refusal
            )
            await self._record_download(ctx, report)
            raise RecipeError(refusal)
        if signature is None and self.signature_required:
            raise SignatureRequired(
                Text("downloading recipe {name} version {version}", name=name, version=version.version)
            )
        signature_id: int | None = None
        if signature is not None:
            signer = await self._signatures.prepare(
                ctx,
                username=signature.username,
                password=signature.password,
                meaning=signature.meaning or DOWNLOAD_MEANING,
                object_type="recipe_version",
                object_id=str(version.id),
            )
            content = canonical_json(
                {
                    "download": name,
                    "version": version.version,
                    "version_id": version.id,
                    "content_hash": version.content_hash,
                    "reason": reason,
                    "action_id": ctx.id,
                }
            )
            async with self._audit.transaction() as session:
                stored = await self._signatures.write(
                    ctx,
                    signer,
                    object_type="recipe_version",
                    object_id=str(version.id),
                    content=content,
                    session=session,
                )
                signature_id = stored.id
        assert self.writer is not None
        changes = list(parameters_of(version).items())
        try:
            outcomes = await self.writer.write_many(
                ctx,
                changes,
                reason=reason,
                parent=f"recipe {name} version {version.version}",
                signature_id=signature_id,
            )
        except Exception as exc:
            # Whatever reached the line is unknown: the download is recorded as failed, never left out.
            failed = DownloadReport(
                name,
                version.version,
                version.id,
                self._clock(),
                ctx.username,
                reason,
                tuple(
                    DownloadPart(tag, value, None, "not_confirmed", Text("the write service failed: {why}", why=exc))
                    for tag, value in changes
                ),
                signature_id,
            )
            with contextlib.suppress(Exception):
                await self._record_download(ctx, failed)
            raise
        parts = tuple(part_of(o, zone or self.plant.site.zone) for o in outcomes)
        report = DownloadReport(
            name, version.version, version.id, self._clock(), ctx.username, reason, parts, signature_id
        )
        return await self._record_download(ctx, report)

    async def _record_download(self, ctx: ActionContext, report: DownloadReport) -> DownloadReport:
        confirmed = sum(p.confirmed for p in report.parts)
        entry = await self._audit.record(
            ctx,
            "recipe.download",
            "recipe",
            report.recipe,
            new_value=report.as_dict(),
            reason=report.reason or None,
            detail=f"version {report.version}: {report.result}, {confirmed} of {len(report.parts)} parameters "
            "confirmed"
            + (f"; {report.refused}" if report.refused else "")
            + (f"; signature {report.signature_id}" if report.signature_id else ""),
        )
        return replace(report, audit_id=entry.id)

    async def downloads(self, name: str | None = None, limit: int = 200) -> list[DownloadReport]:
        """The download log, newest first (of one recipe, or of all): read from the audit trail."""
        rows = await self._audit.query(action="recipe.download", object_type="recipe", object_id=name, limit=limit)
        reports = []
        for entry in rows:
            try:
                reports.append(DownloadReport.from_dict(json.loads(entry.new_value or "{}"), entry.id))
            except (KeyError, TypeError, ValueError):
                log.warning("audit row %s is not a readable recipe download", entry.id)
        return reports

    # ---------------------------------------------------------------------------------------------- reads
    async def get(self, name: str) -> Recipe | None:
        """One recipe by name."""
        async with self._db.session() as session:
            return await self._recipe_in(session, name.strip())

    @staticmethod
    async def _recipe_in(session: Any, name: str) -> Recipe | None:
        result: Recipe | None = (await session.execute(select(Recipe).where(Recipe.name == name))).scalar_one_or_none()
        return result

    async def recipes(self) -> list[Recipe]:
        """Every recipe, by line then name."""
        async with self._db.session() as session:
            return list((await session.execute(select(Recipe).order_by(col(Recipe.line), col(Recipe.name)))).scalars())

    async def versions(self, recipe_id: int) -> list[RecipeVersion]:
        """Every version of a recipe, newest first."""
        statement = (
            select(RecipeVersion)
            .where(RecipeVersion.recipe_id == recipe_id)
            .order_by(col(RecipeVersion.version).desc())
        )
        async with self._db.session() as session:
            return list((await session.execute(statement)).scalars())

    async def version(self, version_id: int) -> RecipeVersion | None:
        """One version by id."""
        async with self._db.session() as session:
            return await session.get(RecipeVersion, version_id)

    async def version_of(self, name: str, number: int) -> RecipeVersion | None:
        """Version `number` of recipe `name`."""
        statement = (
            select(RecipeVersion)
            .join(Recipe, col(Recipe.id) == col(RecipeVersion.recipe_id))
            .where(Recipe.name == name, RecipeVersion.version == number)
        )
        async with self._db.session() as session:
            return (await session.execute(statement)).scalar_one_or_none()

    async def summaries(self) -> list[RecipeSummary]:
        """Each recipe with its approved version, its drafts and its latest version."""
        out = []
        for recipe in await self.recipes():
            assert recipe.id is not None
            versions = await self.versions(recipe.id)
            approved = next((v for v in versions if v.status is RecipeStatus.APPROVED), None)
            drafts = [v for v in versions if v.status is RecipeStatus.DRAFT]
            out.append(RecipeSummary(recipe, approved, drafts, versions[0] if versions else None))
        return out

    async def signature_of(self, version: RecipeVersion) -> Signature | None:
        """The approval (or rejection) signature of a version."""
        return await self._signatures.get(version.signature_id) if version.signature_id is not None else None

    async def verify(self, version: RecipeVersion) -> bool:
        """True when the version's content hash and its decision signature still match its content."""
        recipe = None
        async with self._db.session() as session:
            recipe = await session.get(Recipe, version.recipe_id)
        if recipe is None:
            return False
        if content_hash(recipe_content(recipe, version.version, parameters_of(version))) != version.content_hash:
            return False
        signature = await self.signature_of(version)
        if signature is None:
            return version.status is RecipeStatus.DRAFT
        return self._signatures.verify(signature, signed_content(recipe, version))

    def manifestation(self, signature: Signature, zone: ZoneInfo | None = None) -> str:
        """The signature as people read it."""
        return manifestation(signature, zone or self.plant.site.zone)


async def seed_demo(
    recipes: RecipeService,
    *,
    text: str,
    author: ActionContext,
    approver: ActionContext,
    approver_password: str,
) -> int:
    """On a demo's first start (no recipes yet): the file's recipes imported as drafts by the demo engineer and
    approved, signed, by the demo manager, all audited as such. Returns the number approved (0 when the plant has
    no writable tags the file fits, or recipes exist)."""
    if await recipes.recipes():
        return 0
    try:
        saved = await recipes.import_text(author, text, "demo-recipes.yaml")
    except RecipeError as exc:
        log.warning("demo recipes not imported: %s", exc)
        return 0
    approved = 0
    for _, version in saved:
        if version is None or version.id is None:
            continue
        try:
            await recipes.approve(
                approver.for_action(), version.id, SignatureRequest(approver_password, approver.username, APPROVED)
            )
        except ValueError as exc:
            log.warning("demo recipe version %s not approved: %s", version.id, exc)
            continue
        approved += 1
    return approved
