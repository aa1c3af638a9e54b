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
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.clock import Clock, utc_now
from hmi.config import PlantConfig, TagRef
from hmi.control.spec import NAME_PATTERN
from hmi.records.audit import AuditLog
from hmi.records.export_cells import safe_cell
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

log = logging.getLogger(__name__)

REJECTED = "Rejected"
DOWNLOAD_MEANING = "Download authorised"
MAX_PARAMETERS = 200
MAX_TEXT = 2000
MAX_STRING_VALUE = 200
# A value counts as on the step grid when it is this close (relative to the step) to a grid point: decimal values
# such as 0.1 are not exact in binary floating point.
GRID_TOLERANCE = 1e-6

Scalar = bool | int | float | str
VIEW_PERMISSIONS = (Permission.MANAGE_RECIPES, Permission.APPROVE_RECIPE, Permission.DOWNLOAD_RECIPE)
"""Whoever holds one of these sees the recipe screens."""


class RecipeError(ValueError):
    """The recipe service cannot do this; the message says why and what to do."""


class RecipeInvalid(RecipeError):
    """Parameters that are not writable tags of the target, or values outside their limits or step grid."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class FourEyes(RecipeError):
    """The author of a version tried to approve it: another person must (21 CFR 11.200, GMP four-eyes rule)."""


# ------------------------------------------------------------------------------------------- the write service
class WriteOutcomeLike(Protocol):
    """What a recipe download reads of one write's outcome (hmi.control.writes.WriteOutcome)."""

    @property
    def target(self) -> str: ...
    @property
    def requested(self) -> Any: ...
    @property
    def old(self) -> Any: ...
    @property
    def result(self) -> Any: ...
    @property
    def readback(self) -> Any: ...

    def message(self, zone: ZoneInfo | None = None) -> str: ...


class Writer(Protocol):
    """The write service as a download uses it (hmi.control.writes.WriteService)."""

    async def write_many(
        self,
        ctx: ActionContext,
        changes: Sequence[tuple[str, Any]],
        *,
        reason: str,
        parent: str,
        signature_id: int | None = None,
    ) -> Sequence[Any]: ...


# ---------------------------------------------------------------------------------------------- validation
def target_tags(plant: PlantConfig, line: str, machine: str = "") -> dict[str, TagRef]:
    """The writable tags of a line (with its machines') or of one machine of it, by name."""
    return {
        name: ref
        for name, ref in plant.tags.items()
        if ref.tag.write is not None
        and ref.line.name == line
        and (not machine or (ref.machine is not None and ref.machine.name == machine))
    }


def check_target(plant: PlantConfig, line: str, machine: str = "") -> None:
    """RecipeError unless `line` (and `machine` on it) exist in the plant."""
    found = plant.line(line)
    if found is None:
        names = ", ".join(ln.name for _, ln in plant.lines())
        raise RecipeError(f"there is no line {line!r} in this plant; choose one of: {names}")
    if machine and machine not in {m.name for m in found[1].machines}:
        names = ", ".join(m.name for m in found[1].machines) or "none"
        raise RecipeError(f"line {line} has no machine {machine!r}; its machines: {names}")


def _number_text(value: float) -> str:
    return f"{value:g}"


def check_value(plant: PlantConfig, ref: TagRef, value: object) -> Scalar:
    """The value as it will be written (snapped onto the step grid), or RecipeError naming the parameter and the fix."""
    tag = ref.tag
    name = tag.name
    if tag.data_type == "bool":
        if not isinstance(value, bool):
            raise RecipeError(f"{name}: {value!r} is not true or false; write true or false")
        return value
    if tag.data_type == "string":
        if not isinstance(value, str) or len(value) > MAX_STRING_VALUE:
            raise RecipeError(f"{name}: give a text of at most {MAX_STRING_VALUE} characters")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecipeError(f"{name}: {value!r} is not a number; give a number")
    unit = f" {tag.unit}" if tag.unit else ""
    limits = plant.write_limits(name)
    if limits is not None:
        low, high = limits
        if not low <= value <= high:
            raise RecipeError(
                f"{name}: {_number_text(value)}{unit} is outside the write limits "
                f"{_number_text(low)} to {_number_text(high)}{unit}; give a value within them"
            )
    number: float = float(value)
    assert tag.write is not None
    step = tag.write.step
    if step is not None:
        base = tag.write.min if tag.write.min is not None else 0.0
        k = (number - base) / step
        if abs(k - round(k)) > GRID_TOLERANCE:
            below = base + math.floor(k) * step
            raise RecipeError(
                f"{name}: {_number_text(number)}{unit} is not on the step grid of {_number_text(step)} from "
                f"{_number_text(base)}; give {_number_text(round(below, 9))} or {_number_text(round(below + step, 9))}"
            )
        number = round(base + round(k) * step, 9)
    if tag.data_type == "int":
        if number != int(number):
            raise RecipeError(f"{name}: {_number_text(number)} is not a whole number; give a whole number")
        return int(number)
    return number


def validate_parameters(
    plant: PlantConfig, line: str, machine: str, parameters: Mapping[str, object]
) -> dict[str, Scalar]:
    """The parameters as they will be stored and written; RecipeInvalid listing every problem with its fix."""
    check_target(plant, line, machine)
    if not parameters:
        raise RecipeInvalid(["a recipe version needs at least one parameter ({tag: value})"])
    if len(parameters) > MAX_PARAMETERS:
        raise RecipeInvalid([f"at most {MAX_PARAMETERS} parameters fit in one version"])
    writable = target_tags(plant, line, machine)
    where = f"line {line}" + (f" machine {machine}" if machine else "")
    problems: list[str] = []
    cleaned: dict[str, Scalar] = {}
    for name, value in parameters.items():
        ref = writable.get(name)
        if ref is None:
            if name not in plant.tags:
                why = "is not a tag of this plant"
            elif plant.tags[name].tag.write is None:
                why = "is read only (it has no write rule in the plant file)"
            else:
                why = f"is not a tag of {where}"
            choices = ", ".join(sorted(writable)) or "none"
            problems.append(f"{name}: {why}; the writable tags of {where} are: {choices}")
            continue
        try:
            cleaned[name] = check_value(plant, ref, value)
        except RecipeError as exc:
            problems.append(str(exc))
    if problems:
        raise RecipeInvalid(problems)
    return dict(sorted(cleaned.items()))


def recipe_content(recipe: Recipe, version: int, parameters: Mapping[str, object]) -> str:
    """The text a version's content hash covers: what it targets, its number and its parameters."""
    return canonical_json(
        {
            "recipe": recipe.name,
            "line": recipe.line,
            "machine": recipe.machine,
            "version": version,
            "parameters": dict(parameters),
        }
    )


def signed_content(recipe: Recipe, version: RecipeVersion) -> str:
    """The text an approval (or rejection) signature is bound to: the version's identity and its content hash."""
    return canonical_json(
        {
            "id": version.id,
            "recipe": recipe.name,
            "version": version.version,
            "content_hash": version.content_hash,
            "parameters": json.loads(version.parameters),
        }
    )


def parameters_of(version: RecipeVersion) -> dict[str, Scalar]:
    """A version's parameters."""
    data: dict[str, Scalar] = json.loads(version.parameters)
    return data


# ---------------------------------------------------------------------------------------------- reports
@dataclass(frozen=True, slots=True)
class DiffRow:
    """One parameter beside the line's current value: what a download would change."""

    tag: str
    current: Any
    quality: str
    recipe: Scalar
    unit: str
    low: float | None
    high: float | None
    step: float | None

    @property
    def differs(self) -> bool:
        """True when the line's value is not the recipe's (or is unknown)."""
        if self.quality != "good":
            return True
        if isinstance(self.recipe, int | float) and isinstance(self.current, int | float):
            return not math.isclose(float(self.current), float(self.recipe), rel_tol=1e-9, abs_tol=1e-9)
        return bool(self.current != self.recipe)

    @property
    def limits_text(self) -> str:
        """'0 to 400 (step 5)' or ''."""
        if self.low is None or self.high is None:
            return ""
        step = f" (step {_number_text(self.step)})" if self.step else ""
        return f"{_number_text(self.low)} to {_number_text(self.high)}{step}"


RESULT_WORDS = {
    "confirmed": "confirmed",
    "refused": "refused",
    "server_refused": "refused by the server",
    "not_confirmed": "not confirmed",
}


@dataclass(frozen=True, slots=True)
class DownloadPart:
    """One parameter of a download: what was asked, what was there, and what the write service reported."""

    tag: str
    requested: Any
    old: Any
    result: str
    message: str
    readback: Any = None

    @property
    def confirmed(self) -> bool:
        """True only when the server confirmed the value by read-back."""
        return self.result == "confirmed"


COMPLETE = "complete"
PARTIAL = "partial"
FAILED = "failed"
REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class DownloadReport:
    """A recipe download as recorded: every part, and the overall result (complete / partial / failed)."""

    recipe: str
    version: int
    version_id: int
    at: datetime
    username: str
    reason: str
    parts: tuple[DownloadPart, ...]
    signature_id: int | None = None
    refused: str = ""
    audit_id: int | None = field(default=None, compare=False)

    @property
    def result(self) -> str:
        """complete: every part confirmed; partial: some; failed: none (or nothing sent); refused: not started."""
        if self.refused:
            return REFUSED
        confirmed = sum(p.confirmed for p in self.parts)
        if self.parts and confirmed == len(self.parts):
            return COMPLETE
        return PARTIAL if confirmed else FAILED

    @property
    def success(self) -> bool:
        """Only a complete download is a success; a partial one never is."""
        return self.result == COMPLETE

    @property
    def summary(self) -> str:
        """One sentence for people: the result and how many parameters the server confirmed."""
        if self.refused:
            return f"Download refused: {self.refused}"
        confirmed = sum(p.confirmed for p in self.parts)
        words = {
            COMPLETE: "Download complete",
            PARTIAL: "PARTIAL download — the line does NOT hold the whole recipe",
            FAILED: "Download FAILED — nothing was confirmed",
        }[self.result]
        return f"{words}: {confirmed} of {len(self.parts)} parameters confirmed ({self.recipe} version {self.version})"

    def as_dict(self) -> dict[str, Any]:
        """The report as it is kept in the audit trail."""
        data = asdict(self)
        data.pop("audit_id")
        data["at"] = self.at.astimezone(UTC).isoformat()
        data["result"] = self.result
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], audit_id: int | None = None) -> DownloadReport:
        """A report read back from its audit row."""
        return cls(
            recipe=str(data["recipe"]),
            version=int(data["version"]),
            version_id=int(data["version_id"]),
            at=datetime.fromisoformat(str(data["at"])),
            username=str(data["username"]),
            reason=str(data.get("reason") or ""),
            parts=tuple(DownloadPart(**p) for p in data.get("parts", ())),
            signature_id=data.get("signature_id"),
            refused=str(data.get("refused") or ""),
            audit_id=audit_id,
        )


def _result_text(result: object) -> str:
    value = getattr(result, "value", result)
    return str(value)


def part_of(outcome: Any, zone: ZoneInfo | None) -> DownloadPart:
    """A download part from one outcome of WriteService.write_many."""
    try:
        message = str(outcome.message(zone))
    except TypeError:
        message = str(outcome.message())
    return DownloadPart(
        tag=str(outcome.target),
        requested=outcome.requested,
        old=getattr(outcome, "old", None),
        result=_result_text(outcome.result),
        message=message,
        readback=getattr(outcome, "readback", None),
    )


# ---------------------------------------------------------------------------------------------- the YAML file
class RecipeDef(BaseModel):
    """One recipe in a recipe file: where it goes and its parameter values (a new draft version on import)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, max_length=120)
    line: str = Field(min_length=1, max_length=120)
    machine: str = Field("", max_length=120)
    description: str = Field("", max_length=MAX_TEXT)
    note: str = Field("", max_length=MAX_TEXT)
    parameters: dict[str, Scalar] = Field(min_length=1)


class RecipeFile(BaseModel):
    """A recipe file: `recipes: [...]`."""

    model_config = ConfigDict(extra="forbid")

    recipes: list[RecipeDef] = Field(min_length=1)


def parse_recipes(text: str, name: str = "<recipes>") -> list[RecipeDef]:
    """The recipes of a YAML recipe file; RecipeError saying where the file is wrong."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"{name} is not valid YAML: {exc}") from None
    try:
        return RecipeFile.model_validate(data).recipes
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise RecipeError(f"{name}: " + "; ".join(problems)) from None


@dataclass(frozen=True, slots=True)
class RecipeSummary:
    """A recipe as the list shows it: the version in force and the drafts waiting for a decision."""

    recipe: Recipe
    approved: RecipeVersion | None
    drafts: list[RecipeVersion]
    latest: RecipeVersion | None


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
        writer: Writer | None = None,
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
                f"{name!r} cannot name a recipe: use letters, digits, '.', '_' and '-', starting with a letter or digit"
            )
        if len(description) > MAX_TEXT:
            raise RecipeError(f"the description has {len(description)} characters; at most {MAX_TEXT} fit")
        check_target(self.plant, line, machine)
        if not target_tags(self.plant, line, machine):
            where = f"line {line}" + (f" machine {machine}" if machine else "")
            raise RecipeError(f"{where} has no writable tags; give tags a write rule in the plant file first")
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
                    raise RecipeError(f"a recipe named {name!r} exists already; add a version to it instead")
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
            raise RecipeError(f"a recipe named {name!r} exists already; add a version to it instead") from None
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
            raise RecipeError(f"the note has {len(note)} characters; at most {MAX_TEXT} fit")
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
            raise RecipeError(f"recipe {name} got another version meanwhile; save again") from None
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
                f"recipe {recipe.name} targets {recipe.line} {recipe.machine}".rstrip()
                + f", the file says {definition.line} {definition.machine}".rstrip()
                + "; give the recipe another name"
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
                problems.append(f"recipe {d.name}: {exc}")
        if problems:
            raise RecipeError(f"{name}: nothing was imported: " + " | ".join(problems))
        return [await self.save(ctx, d) for d in definitions]

    async def import_file(self, ctx: ActionContext, path: Path) -> list[tuple[Recipe, RecipeVersion | None]]:
        """`import_text` of a file."""
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except OSError as exc:
            raise RecipeError(f"{path} cannot be read: {exc.strerror or exc}") from None
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
                missing.append(f"{tag} ({state.quality.value if state is not None else 'no value yet'})")
            else:
                values[tag] = state.value
        if missing:
            raise RecipeError(
                "the line's values cannot be uploaded: " + ", ".join(missing) + " are not GOOD; wait for good values"
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
            raise RecipeError("rejecting a version needs a reason; say what must change")
        if len(reason) > MAX_TEXT:
            raise RecipeError(f"the reason has {len(reason)} characters; at most {MAX_TEXT} fit")
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
            raise RecipeError(f"there is no recipe version {version_id}")
        if version.status is not RecipeStatus.DRAFT:
            raise RecipeError(f"version {version.version} is {version.status.value}; only a draft can be decided on")
        if after is RecipeStatus.APPROVED and (version.author_id == ctx.user_id or version.author == ctx.username):
            await self._audit.record(
                ctx,
                f"{action}.refused",
                "recipe_version",
                oid,
                reason="four eyes: the author may not approve their own version",
            )
            raise FourEyes(
                f"you wrote version {version.version}; another engineer or a manager must approve it (four eyes)"
            )
        if request is None:
            raise SignatureRequired("approving a recipe version" if after is RecipeStatus.APPROVED else "rejecting it")
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
                raise RecipeError(f"version {version.version} was decided on meanwhile; reload it")
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
            raise RecipeError(f"the reason has {len(reason)} characters; at most {MAX_TEXT} fit")
        recipe = await self.get(name)
        version = await self.version_of(name, version_number) if recipe is not None else None
        if recipe is None or version is None or version.id is None:
            raise RecipeError(f"there is no version {version_number} of recipe {name!r}")
        refusal = ""
        if version.status is not RecipeStatus.APPROVED:
            refusal = (
                f"version {version.version} is {version.status.value}; only the approved version can be downloaded"
            )
        elif self.writer is None:
            refusal = "this HMI has no write service; nothing can be written to the line"
        if refusal:
            report = DownloadReport(
                name, version.version, version.id, self._clock(), ctx.username, reason, (), refused=refusal
            )
            await self._record_download(ctx, report)
            raise RecipeError(refusal)
        if signature is None and self.signature_required:
            raise SignatureRequired(f"downloading recipe {name} version {version.version}")
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
                    DownloadPart(tag, value, None, "not_confirmed", f"the write service failed: {exc}")
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


# ------------------------------------------------------------------------------------------ download log export
LOG_HEADER = ("Time (plant)", "User", "Recipe", "Version", "Result", "Confirmed", "Reason", "Parts")


def _parts_text(report: DownloadReport) -> str:
    return "; ".join(f"{p.tag}={p.requested}: {RESULT_WORDS.get(p.result, p.result)}" for p in report.parts)


def log_rows(reports: Sequence[DownloadReport], zone: ZoneInfo) -> list[list[str]]:
    """The download log as table rows (plant local time)."""
    return [
        [
            r.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
            r.username,
            r.recipe,
            str(r.version),
            r.result,
            f"{sum(p.confirmed for p in r.parts)} of {len(r.parts)}",
            r.reason,
            r.refused or _parts_text(r),
        ]
        for r in reports
    ]


def downloads_csv(reports: Sequence[DownloadReport], zone: ZoneInfo) -> str:
    """The download log as CSV; every cell safe from spreadsheet formula injection."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(LOG_HEADER)
    for row in log_rows(reports, zone):
        writer.writerow([safe_cell(c) for c in row])
    return out.getvalue()


def downloads_pdf(
    reports: Sequence[DownloadReport], *, site: str, zone: ZoneInfo, generated_by: str, generated_at: datetime
) -> bytes:
    """The download log as PDF (call off the event loop: reportlab is CPU work)."""
    from hmi.records.pdf import PdfReport

    report = PdfReport(
        f"Recipe downloads · {site}",
        meta=[f"{len(reports)} downloads, newest first"],
        footer=[
            f"Generated by {generated_by} at {generated_at.astimezone(zone):%Y-%m-%d %H:%M %Z}. "
            f"Times are plant local time ({zone.key})."
        ],
        author=site,
        landscape_pages=True,
    )
    report.heading("Recipe download log")
    report.table(list(LOG_HEADER), log_rows(reports, zone), widths_mm=(34, 22, 30, 14, 18, 18, 50, 90))
    return report.build()


# ------------------------------------------------------------------------------------------------ the demo
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
