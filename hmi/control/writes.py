"""Writes and commands from people: setpoints, OPC UA method calls, pulses and recipe downloads.

Every attempt is checked here (role, limits, step grid, quality, endpoint, interlock, mode, another write pending,
compare-before-write, reason, signature), sent in one OPC UA Write or Call (IEC 62541-4 §5.10.4, §5.11.2), read
back through the tag cache and recorded in the audit trail, refusals and server errors included (21 CFR 11.10(e),
(f), (g)). Nothing is reported as done that the server did not confirm. No lock is held while OPC UA is slow: only
the per-tag pending guard, which turns a second writer away instead of making them wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Final
from zoneinfo import ZoneInfo

from asyncua import ua

from hmi.access.context import ActionContext
from hmi.clock import Clock, utc_now
from hmi.cluster import Forward
from hmi.config import CommandRef, PlantConfig, Tag
from hmi.control.outcome import Refusal, Result, WriteOutcome
from hmi.control.spec import Command, WriteSpec
from hmi.control.values import on_grid, parse_value, shown
from hmi.records.audit import AuditLog
from hmi.records.signatures import (
    SignatureRefused,
    SignatureRequest,
    SignatureRequired,
    SignatureService,
    Signer,
    canonical_json,
)
from hmi.sources.base import StatusBoard
from hmi.sources.opcua import EndpointDown, OpcUaSource
from hmi.supervise import wait_event
from hmi.tags import Quality, TagCache, TagState, classify, status_name
from hmi.texts import Text, joined

log = logging.getLogger(__name__)

MAX_REASON = 1000
WRITE_MEANING = "Changed value"
COMMAND_MEANING = "Executed command"


class _NotGiven(Enum):
    TOKEN = 0


NOT_GIVEN: Final = _NotGiven.TOKEN
"""`expected` when the caller does not ask for compare-before-write."""


def _float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def _clean_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise ValueError(
            Text("the reason is {length} characters long; at most {most} are kept", length=len(reason), most=MAX_REASON)
        )
    return reason


@dataclass(eq=False)
class _Part:
    """One value on its way to a tag: what was asked, and what the server and the read-back said."""

    tag: Tag
    requested: Any
    old: Any
    timeout_s: float
    step: float | None
    status: str = ""
    result: Result | None = None
    refusal: Refusal | None = None
    why: str = ""
    readback: Any = None
    seen: TagState | None = None
    matched: asyncio.Event = field(default_factory=asyncio.Event)
    timed_out: bool = False


Problem = tuple[Refusal, str]
"""Why an attempt is refused: the reason and its sentence (a `Text`, read in the screen's language)."""


class WriteService:
    """Every write, command and recipe download passes here."""

    def __init__(
        self,
        plant: PlantConfig,
        cache: TagCache,
        board: StatusBoard,
        sources: Mapping[str, OpcUaSource],
        audit: AuditLog,
        signatures: SignatureService | None,
        clock: Clock = utc_now,
        *,
        acting: Callable[[], bool] = lambda: True,
    ) -> None:
        self._plant = plant
        # False on a standby of a redundant pair: it holds no OPC UA session. With `forward` set (hmi/cluster/
        # commands.py) it checks the signer's password here and hands the write to the active instance, which
        # checks and audits everything else as for a local write; without it a standby refuses (endpoint down).
        self._acting = acting
        self.forward: Forward | None = None
        self._cache = cache
        self._board = board
        self._sources = dict(sources)
        self._audit = audit
        self._signatures = signatures
        self._clock = clock
        # ('tag', name) or ('command', id) -> who is writing it now: the pending guard, checked and taken without
        # an await in between, so two panels can never both send.
        self._pending: dict[tuple[str, str], str] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def use_plant(self, plant: PlantConfig, sources: Mapping[str, OpcUaSource]) -> None:
        """Take over a reloaded plant and its sources (hmi/plant_reload.py); writes under way finish as sent."""
        self._plant = plant
        self._sources = dict(sources)

    @property
    def zone(self) -> ZoneInfo:
        """The plant's time zone: operator texts show times in it."""
        return self._plant.site.zone

    # ------------------------------------------------------------------------------------------- checks
    def blocked(self, ctx: ActionContext, tag: str, value: Any = None) -> list[Problem]:
        """Why `ctx` cannot write `tag` now (empty: it can), for the screen to show before anyone types; with
        `value` also its type, limits and step. No audit, no I/O."""
        problems = self._tag_problems(ctx, tag)
        if value is not None and not any(r is Refusal.NOT_WRITABLE for r, _ in problems):
            try:
                parsed = parse_value(self._plant.tags[tag].tag.data_type, value)
            except ValueError as exc:
                problems.append((Refusal.BAD_VALUE, str(exc)))
            else:
                problems += self._value_problems(tag, parsed)
        return problems

    def _tag_problems(self, ctx: ActionContext, name: str) -> list[Problem]:
        ref = self._plant.tags.get(name)
        if ref is None:
            return [(Refusal.NOT_WRITABLE, Text("there is no tag {tag!r} in the plant file", tag=name))]
        tag = ref.tag
        spec = tag.write
        if spec is None:
            return [(Refusal.NOT_WRITABLE, Text("{tag} is read only: the plant file gives it no write rule", tag=name))]
        problems = self._guard_problems(ctx, spec, name)
        problems += self._quality_problems(tag)
        problems += self._endpoint_problems(tag.endpoint)
        if (who := self._pending.get(("tag", name))) is not None:
            problems.append((Refusal.PENDING, _writing(who, name)))
        return problems

    def _guard_problems(self, ctx: ActionContext, spec: WriteSpec | Command, what: str) -> list[Problem]:
        problems: list[Problem] = []
        if ctx.role not in spec.roles:
            allowed = ", ".join(r.value for r in spec.roles)
            problems.append(
                (
                    Refusal.ROLE,
                    Text(
                        "role {role} may not change {what} (allowed: {allowed})",
                        role=ctx.role.value,
                        what=what,
                        allowed=allowed,
                    ),
                )
            )
        if spec.interlock is not None:
            verdict = spec.interlock.condition.evaluate(self._cache.get)
            if not verdict.met:
                # The plant file's own message is a plant text: the plant file's translations cover it, not ours.
                text = (
                    Text("{message} ({why})", message=spec.interlock.message, why=verdict.why)
                    if spec.interlock.message
                    else verdict.why
                )
                problems.append((Refusal.INTERLOCK, Text("interlock not met: {why}", why=text)))
        return problems

    def _quality_problems(self, tag: Tag) -> list[Problem]:
        state = self._cache.get(tag.name)
        if state is None:
            return [
                (Refusal.QUALITY, Text("{tag} has no value yet; its current value must be known first", tag=tag.name))
            ]
        if state.quality in (Quality.BAD, Quality.STALE):
            return [
                (
                    Refusal.QUALITY,
                    Text(
                        "{tag} is {quality} ({status}): its value is not known",
                        tag=tag.name,
                        quality=state.quality.value.upper(),
                        status=state.status,
                    ),
                )
            ]
        return []

    def _endpoint_problems(self, endpoint: str) -> list[Problem]:
        if self._forwards():
            return []  # the active instance holds the session and says whether its endpoint is up
        source = self._sources.get(endpoint)
        if source is not None and source.connected:
            return []
        status = self._board.get(endpoint)
        if status is not None and status.detail:
            why = Text("endpoint {endpoint} is not connected: {detail}", endpoint=endpoint, detail=status.detail)
        else:
            why = Text("endpoint {endpoint} is not connected", endpoint=endpoint)
        return [(Refusal.ENDPOINT_DOWN, why)]

    def _value_problems(self, name: str, value: Any) -> list[Problem]:
        tag = self._plant.tags[name].tag
        spec = tag.write
        if spec is None or not tag.numeric:
            return []
        problems: list[Problem] = []
        limits = self._plant.write_limits(name)
        # The unit is written with its leading space, so a tag without one reads "85 is outside ...".
        unit = f" {tag.unit}" if tag.unit else ""
        if limits is not None and not limits[0] <= value <= limits[1]:
            problems.append(
                (
                    Refusal.LIMITS,
                    Text(
                        "{value}{unit} is outside the limits {low:g} to {high:g}{unit}",
                        value=shown(value),
                        unit=unit,
                        low=limits[0],
                        high=limits[1],
                    ),
                )
            )
        if (near := on_grid(spec, value)) is not None:
            problems.append(
                (
                    Refusal.STEP,
                    Text(
                        "{value}{unit} is not on the step grid of {step:g}{unit} from {base:g}: "
                        "give {below} or {above}",
                        value=shown(value),
                        unit=unit,
                        step=spec.step,
                        base=spec.min or 0.0,
                        below=shown(near[0]),
                        above=shown(near[1]),
                    ),
                )
            )
        return problems

    def _same(self, part: _Part, value: Any) -> bool:
        """True when `value` read from the server is the value that was written (floats within the tolerance)."""
        return self._equal(part.tag, part.requested, value, part.step)

    def _equal(self, tag: Tag, wanted: Any, value: Any, step: float | None = None) -> bool:
        if value is None:
            return False
        if tag.data_type == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            try:
                target = float(wanted)
            except (TypeError, ValueError):
                return False
            source = self._sources.get(tag.endpoint)
            if source is not None and source.variant_type(tag) is ua.VariantType.Float:
                # A Float node keeps 24 bits: 72.3 comes back as 72.30000305.
                target = _float32(target)
            tolerance = max(1e-6 * abs(target), (step or 0.0) * 1e-3, 1e-12)
            return abs(float(value) - target) <= tolerance
        if tag.data_type == "int":
            return not isinstance(value, bool) and isinstance(value, int | float) and value == wanted
        if tag.data_type == "bool":
            return isinstance(value, bool | int) and bool(value) == bool(wanted) and value in (0, 1)
        return str(value) == str(wanted)

    def _checked(
        self, ctx: ActionContext, tag: str, value: Any
    ) -> tuple[WriteSpec | None, Any, list[tuple[Refusal, str]]]:
        """The tag's write rule, the value typed for it (as given when it cannot be), and every problem with the
        tag and the value that refuses the write before anything is sent."""
        problems = self._tag_problems(ctx, tag)
        ref = self._plant.tags.get(tag)
        spec = ref.tag.write if ref is not None else None
        parsed: Any = value
        if ref is not None and spec is not None:
            try:
                parsed = parse_value(ref.tag.data_type, value)
            except ValueError as exc:
                problems.append((Refusal.BAD_VALUE, str(exc)))
            else:
                problems += self._value_problems(tag, parsed)
        return spec, parsed, problems

    @staticmethod
    def _reason_problem(spec: WriteSpec, tag: str, reason: str) -> list[tuple[Refusal, str]]:
        return (
            [(Refusal.REASON_MISSING, Text("changing {tag} needs a reason", tag=tag))]
            if spec.reason == "required" and not reason
            else []
        )

    # --------------------------------------------------------------------------------------------- write
    async def write(
        self,
        ctx: ActionContext,
        tag: str,
        value: Any,
        *,
        expected: Any = NOT_GIVEN,
        reason: str = "",
        signature: SignatureRequest | Signer | None = None,
    ) -> WriteOutcome:
        """Write `value` (typed, or text as entered) to `tag` for `ctx`, read it back and audit the attempt.

        `expected`: the value the dialog showed; when the tag holds another value now the write is refused as
        `changed` with the `current` one (compare-before-write). SignatureRequired when the tag's rule asks for a
        signature and none is given (nothing is audited then: the screen asks for it first). A Signer given is one
        a standby already checked (a forwarded write).
        """
        reason = _clean_reason(reason)
        if self._forwards():
            ref = self._plant.tags.get(tag)
            args: dict[str, Any] = {"tag": tag, "value": value, "reason": reason}
            if expected is not NOT_GIVEN:
                args["expected"] = expected
            needed = ref is not None and ref.tag.write is not None and ref.tag.write.signature
            return await self._forwarded(ctx, "tag", tag, args, signature, Text("changing {tag}", tag=tag), needed)
        ref = self._plant.tags.get(tag)
        state = self._cache.get(tag)
        old = state.value if state is not None else None
        spec, parsed, problems = self._checked(ctx, tag, value)
        if ref is not None and spec is not None:
            if expected is not NOT_GIVEN and state is not None and not self._equal(ref.tag, expected, old, spec.step):
                problems.append((Refusal.CHANGED, _changed(tag, old)))
            problems += self._reason_problem(spec, tag, reason)
        if problems or ref is None or spec is None:
            return await self._refused(ctx, "tag", tag, parsed, old, problems, reason, current=old)
        if spec.signature and signature is None:
            raise SignatureRequired(Text("changing {tag}", tag=tag))
        content = canonical_json({"tag": tag, "old": old, "requested": parsed})
        signer, refused = await self._prepare(ctx, signature, "tag", tag)
        if refused:
            return await self._refused(ctx, "tag", tag, parsed, old, [(Refusal.SIGNATURE, refused)], reason)
        key = ("tag", tag)
        # Checked again after the password check (which awaited): someone else may have started meanwhile.
        late = self._late_problems(ctx, ref.tag, key, expected, spec.step)
        if late:
            return await self._refused(
                ctx, "tag", tag, parsed, old, late, reason, signer=signer, content=content, current=self._value(tag)
            )
        self._pending[key] = _who(ctx)
        try:
            part = _Part(ref.tag, parsed, old, spec.readback_timeout_s, spec.step)
            await self._send([part])
            outcome = self._outcome(part, "tag")
            stored = await self._store(ctx, "tag", [outcome], reason, signer=signer, content=content)
            return stored[0]
        finally:
            self._pending.pop(key, None)

    def _late_problems(
        self, ctx: ActionContext, tag: Tag, key: tuple[str, str], expected: Any, step: float | None
    ) -> list[Problem]:
        problems: list[Problem] = []
        if (who := self._pending.get(key)) is not None:
            problems.append((Refusal.PENDING, _writing(who, tag.name)))
        problems += self._quality_problems(tag) + self._endpoint_problems(tag.endpoint)
        now = self._value(tag.name)
        if expected is not NOT_GIVEN and not self._equal(tag, expected, now, step):
            problems.append((Refusal.CHANGED, _changed(tag.name, now)))
        return problems

    def _value(self, tag: str) -> Any:
        state = self._cache.get(tag)
        return state.value if state is not None else None

    def _forwards(self) -> bool:
        """True on a standby that hands writes to the active instance."""
        return self.forward is not None and not self._acting()

    async def _forwarded(
        self,
        ctx: ActionContext,
        kind: str,
        target: str,
        args: dict[str, Any],
        signature: SignatureRequest | Signer | None,
        what: str,
        needed: bool,
    ) -> WriteOutcome:
        """On a standby: check the signer's password here (a password never leaves this instance), then have the
        active instance run the write or command and return its outcome."""
        assert self.forward is not None
        if needed and signature is None:
            raise SignatureRequired(what)
        signer, refused = await self._prepare(ctx, signature, kind, target)
        if refused:
            requested = args.get("value", args.get("args"))
            problem = [(Refusal.SIGNATURE, refused)]
            return await self._refused(ctx, kind, target, requested, None, problem, args["reason"])
        outcome = await self.forward(ctx, f"control.{'write' if kind == 'tag' else 'command'}", args, signer)
        if not isinstance(outcome, WriteOutcome):
            raise TypeError(f"the active instance answered a {kind} with {type(outcome).__name__}")
        return outcome

    async def _prepare(
        self, ctx: ActionContext, signature: SignatureRequest | Signer | None, object_type: str, object_id: str
    ) -> tuple[Signer | None, str]:
        """Check the signer's password before anything is held; (signer, '') or (None, why it was refused). A
        Signer given was checked by a standby already (a forwarded write)."""
        if signature is None or isinstance(signature, Signer):
            return signature, ""
        if self._signatures is None:
            raise SignatureRequired(Text("{what} (no signature service is configured)", what=object_id))
        meaning = signature.meaning or (WRITE_MEANING if object_type == "tag" else COMMAND_MEANING)
        try:
            signer = await self._signatures.prepare(
                ctx,
                username=signature.username,
                password=signature.password,
                meaning=meaning,
                object_type=object_type,
                object_id=object_id,
            )
        except SignatureRefused as exc:
            # Its sentence as made (a Text keeps its template for the screen), else as read.
            return None, exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)
        return signer, ""

    # --------------------------------------------------------------------------------------- sending
    async def _send(self, parts: Sequence[_Part]) -> None:
        """Send `parts` (one Write per endpoint, endpoints in parallel) and read them back: each part ends with
        a result. The cache is watched from before the Write, so a fast confirmation is not missed."""
        by_name: dict[str, list[_Part]] = {}
        for part in parts:
            by_name.setdefault(part.tag.name, []).append(part)

        def heard(states: Sequence[TagState]) -> None:
            for state in states:
                for part in by_name.get(state.name, ()):
                    if part.result is None and state.good and self._same(part, state.value):
                        part.seen = state
                        part.matched.set()

        unsubscribe = self._cache.subscribe(list(by_name), heard)
        try:
            groups: dict[str, list[_Part]] = {}
            for part in parts:
                groups.setdefault(part.tag.endpoint, []).append(part)
            await asyncio.gather(*(self._write_group(endpoint, group) for endpoint, group in groups.items()))
            waiting = [p for p in parts if p.result is None and not p.timed_out]
            for part in waiting:
                # The same value written again brings no data change: what the cache holds may already match.
                state = self._cache.get(part.tag.name)
                if state is not None and state.good and self._same(part, state.value):
                    part.seen = state
                    part.matched.set()
            # Most servers take a value with the Write itself: one Read right away confirms it without waiting a
            # publishing interval for the data change. A PLC that takes it later is caught by the cache watch.
            await self._read_now([p for p in waiting if not p.matched.is_set()])
            await asyncio.gather(*(self._confirmed(p) for p in waiting))
        finally:
            unsubscribe()
        await self._read_back([p for p in parts if p.result is None])

    async def _write_group(self, endpoint: str, parts: list[_Part]) -> None:
        source = self._sources.get(endpoint)
        try:
            if source is None:
                raise EndpointDown(endpoint, "?", "no OPC UA source for this endpoint")
            codes = await source.write([(p.tag, p.requested) for p in parts])
        except EndpointDown as exc:
            for part in parts:
                part.result, part.refusal, part.why = Result.REFUSED, Refusal.ENDPOINT_DOWN, str(exc)
            return
        except TimeoutError:
            for part in parts:
                part.status, part.timed_out = "BadTimeout", True
                part.timeout_s = source.request_timeout_s if source is not None else part.timeout_s
            return
        for part, code in zip(parts, codes, strict=True):
            part.status = status_name(code)
            if classify(code) is Quality.BAD:
                part.result = Result.SERVER_REFUSED

    async def _read_now(self, parts: Sequence[_Part]) -> None:
        """One explicit Read per endpoint of `parts` just written; a matching GOOD value confirms a part."""
        groups: dict[str, list[_Part]] = {}
        for part in parts:
            groups.setdefault(part.tag.endpoint, []).append(part)
        for endpoint, group in groups.items():
            source = self._sources.get(endpoint)
            if source is None:
                continue
            try:
                states = await source.read([p.tag for p in group])
            except (EndpointDown, TimeoutError, ua.UaError) as exc:
                log.info("immediate read-back of %s failed (%s); waiting for the data change", endpoint, exc)
                continue
            confirmed = []
            for part, state in zip(group, states, strict=True):
                if state.good and self._same(part, state.value):
                    part.seen = state
                    part.matched.set()
                    confirmed.append(state)
            # What the server confirmed is the value now, on every screen and for the next compare-before-write,
            # without waiting for the data change that will repeat it.
            self._cache.update(confirmed)

    @staticmethod
    async def _confirmed(part: _Part) -> None:
        await wait_event(part.matched, part.timeout_s)

    async def _read_back(self, parts: Sequence[_Part]) -> None:
        """Settle every sent part: matched in the cache -> confirmed; else one explicit Read decides."""
        unsettled = []
        for part in parts:
            if part.matched.is_set() and part.seen is not None and not part.timed_out:
                part.result, part.readback = Result.CONFIRMED, part.seen.value
            else:
                unsettled.append(part)
        groups: dict[str, list[_Part]] = {}
        for part in unsettled:
            groups.setdefault(part.tag.endpoint, []).append(part)
        for endpoint, group in groups.items():
            states: list[TagState | None] = [self._cache.get(p.tag.name) for p in group]
            source = self._sources.get(endpoint)
            if source is not None:
                try:
                    states = list(await source.read([p.tag for p in group]))
                except (EndpointDown, TimeoutError, ua.UaError) as exc:
                    log.warning("read-back of %s failed: %s", ", ".join(p.tag.name for p in group), exc)
            for part, state in zip(group, states, strict=True):
                part.readback = state.value if state is not None else None
                good = state is not None and state.good
                if good and not part.timed_out and self._same(part, part.readback):
                    part.result = Result.CONFIRMED
                else:
                    part.result = Result.NOT_CONFIRMED

    def _outcome(self, part: _Part, kind: str, target: str | None = None) -> WriteOutcome:
        result = part.result or Result.NOT_CONFIRMED
        return WriteOutcome(
            target=target or part.tag.name,
            requested=part.requested,
            old=part.old,
            result=result,
            refusal=part.refusal,
            status=part.status,
            readback=part.readback,
            at=self._clock(),
            why=part.why,
            timeout_s=part.timeout_s,
            kind=kind,
        )

    # ------------------------------------------------------------------------------------------ audit
    async def _refused(
        self,
        ctx: ActionContext,
        kind: str,
        target: str,
        requested: Any,
        old: Any,
        problems: Sequence[Problem],
        reason: str,
        *,
        signer: Signer | None = None,
        content: str = "",
        current: Any = None,
    ) -> WriteOutcome:
        refusal, why = problems[0]
        outcome = WriteOutcome(
            target=target,
            requested=requested,
            old=old,
            result=Result.REFUSED,
            refusal=refusal,
            at=self._clock(),
            why=why,
            current=current if refusal is Refusal.CHANGED else None,
            kind=kind,
        )
        more = "; ".join(text for _, text in problems[1:])
        stored = await self._store(ctx, kind, [outcome], reason, signer=signer, content=content, more=[more])
        return stored[0]

    async def _store(
        self,
        ctx: ActionContext,
        kind: str,
        outcomes: Sequence[WriteOutcome],
        reason: str,
        *,
        signer: Signer | None = None,
        content: str = "",
        more: Sequence[str] = (),
        parent: str = "",
        signature_id: int | None = None,
        notes: Sequence[str] = (),
    ) -> list[WriteOutcome]:
        """Audit each outcome (with the signature, when one was given) in one transaction; `more[i]` lists the
        further problems of a refused outcome, `notes[i]` says what the row is (e.g. a pulse's reset)."""
        prefix = "tag.write" if kind == "tag" else "command"
        done = "tag.write" if kind == "tag" else "command.run"
        stored: list[WriteOutcome] = []
        async with self._audit.transaction() as session:
            if signer is not None and self._signatures is not None:
                signature = await self._signatures.write(
                    ctx,
                    signer,
                    object_type=kind,
                    object_id=outcomes[0].target,
                    content=content,
                    session=session,
                )
                signature_id = signature.id
            for i, outcome in enumerate(outcomes):
                outcome = replace(outcome, signature_id=signature_id)
                action = done if outcome.result is Result.CONFIRMED else f"{prefix}.{outcome.result.value}"
                new_value: dict[str, Any] = {
                    "requested": outcome.requested,
                    "readback": outcome.readback,
                    "status": outcome.status,
                    "result": outcome.result.value,
                    "signature_id": signature_id,
                }
                if outcome.refusal is not None:
                    new_value["refusal"] = outcome.refusal.value
                if outcome.refusal is Refusal.CHANGED:
                    new_value["current"] = outcome.current
                detail = outcome.message(self.zone)
                if outcome.refusal is not None:
                    detail = f"refused ({outcome.refusal.value}): {outcome.why}"
                if i < len(more) and more[i]:
                    detail += f"; also: {more[i]}"
                if i < len(notes) and notes[i]:
                    detail = f"{notes[i]}: {detail}"
                if parent:
                    detail = f"part of {parent}: {detail}"
                await self._audit.record(
                    ctx,
                    action,
                    kind,
                    outcome.target,
                    old_value={"value": outcome.old},
                    new_value=new_value,
                    reason=reason or None,
                    detail=detail[:4000],
                    session=session,
                )
                stored.append(outcome)
        return stored

    # ------------------------------------------------------------------------------------------ commands
    def command_blocked(self, ctx: ActionContext, command_id: str) -> list[Problem]:
        """Why `ctx` cannot run `command_id` now (empty: it can): role, mode, interlock, endpoint, pending."""
        ref = self._plant.commands.get(command_id)
        if ref is None:
            return [(Refusal.NOT_WRITABLE, _no_command(command_id))]
        return self._command_problems(ctx, ref)

    def _command_problems(self, ctx: ActionContext, ref: CommandRef) -> list[Problem]:
        command = ref.command
        problems = self._guard_problems(ctx, command, f"{ref.owner}: {command.title}")
        if problems and problems[0][0] is Refusal.ROLE:
            problems[0] = (
                Refusal.ROLE,
                Text(
                    "role {role} may not run {command} on {owner}",
                    role=ctx.role.value,
                    command=command.title,
                    owner=ref.owner,
                ),
            )
        problems[1:1] = self._mode_problems(ref)
        endpoint = command.call.endpoint if command.call is not None else self._command_tag(command).endpoint
        problems += self._endpoint_problems(endpoint)
        keys = [("command", ref.id)] + ([("tag", command.write.tag)] if command.write is not None else [])
        for key in keys:
            if (who := self._pending.get(key)) is not None:
                problems.append(
                    (
                        Refusal.PENDING,
                        Text("{who} is running {what} right now; wait for the result", who=who, what=key[1]),
                    )
                )
                break
        return problems

    def _mode_problems(self, ref: CommandRef) -> list[Problem]:
        command, mode = ref.command, ref.mode
        if not command.modes or mode is None:
            return []
        state = self._cache.get(mode.tag)
        needed = joined([mode.labels.get(str(m), shown(m)) for m in command.modes], Text(" or "))
        if state is None or not state.good:
            return [
                (
                    Refusal.MODE,
                    Text(
                        "{command} needs mode {needed}; the mode ({tag}) is not known",
                        command=command.title,
                        needed=needed,
                        tag=mode.tag,
                    ),
                )
            ]
        value = state.value
        if any(m == value or str(m) == str(value) or shown(m) == shown(value) for m in command.modes):
            return []
        now = mode.labels.get(shown(value), mode.labels.get(str(value), shown(value)))
        return [
            (
                Refusal.MODE,
                Text(
                    "{command} needs mode {needed}; {owner} is in {now}",
                    command=command.title,
                    needed=needed,
                    owner=ref.owner,
                    now=now,
                ),
            )
        ]

    def _command_tag(self, command: Command) -> Tag:
        assert command.write is not None
        return self._plant.tags[command.write.tag].tag

    async def command(
        self,
        ctx: ActionContext,
        command_id: str,
        *,
        args: Mapping[str, Any] | None = None,
        reason: str = "",
        signature: SignatureRequest | Signer | None = None,
    ) -> WriteOutcome:
        """Run a command for `ctx`: an OPC UA Call (Good status: confirmed) or a tag write confirmed by read-back,
        a pulse writing its reset value after `pulse_s` (in a task this service owns and `stop()` awaits)."""
        reason = _clean_reason(reason)
        args = dict(args or {})
        ref = self._plant.commands.get(command_id)
        if self._forwards():
            what = Text("{command} on {owner}", command=ref.command.title, owner=ref.owner) if ref else command_id
            needed = ref is not None and ref.command.signature
            sent = {"command": command_id, "args": args, "reason": reason}
            return await self._forwarded(ctx, "command", command_id, sent, signature, what, needed)
        if ref is None:
            problem = (Refusal.NOT_WRITABLE, _no_command(command_id))
            return await self._refused(ctx, "command", command_id, args or None, None, [problem], reason)
        command = ref.command
        problems = self._command_problems(ctx, ref)
        old: Any = None
        requested: Any
        call_args: list[tuple[str, Any]] = []
        if command.call is not None:
            requested = {}
            for arg in command.call.args:
                raw = arg.value if arg.value is not None else args.get(arg.name)
                if raw is None:
                    problems.append(
                        (
                            Refusal.BAD_VALUE,
                            Text("{command} needs a value for {arg}", command=command.title, arg=arg.name),
                        )
                    )
                    continue
                try:
                    typed = parse_value(arg.data_type, raw)
                except ValueError as exc:
                    problems.append((Refusal.BAD_VALUE, Text("{arg}: {why}", arg=arg.name, why=exc)))
                    continue
                requested[arg.name] = typed
                call_args.append((arg.data_type, typed))
            requested = requested or None
        else:
            assert command.write is not None
            tag = self._command_tag(command)
            old = self._value(tag.name)
            try:
                requested = parse_value(tag.data_type, command.write.value)
            except ValueError as exc:
                requested = command.write.value
                problems.append((Refusal.BAD_VALUE, str(exc)))
        if command.reason == "required" and not reason:
            problems.append(
                (
                    Refusal.REASON_MISSING,
                    Text("{command} on {owner} needs a reason", command=command.title, owner=ref.owner),
                )
            )
        if problems:
            return await self._refused(ctx, "command", command_id, requested, old, problems, reason)
        if command.signature and signature is None:
            raise SignatureRequired(Text("{command} on {owner}", command=command.title, owner=ref.owner))
        content = canonical_json({"command": command_id, "requested": requested, "old": old})
        signer, refused = await self._prepare(ctx, signature, "command", command_id)
        if refused:
            return await self._refused(
                ctx, "command", command_id, requested, old, [(Refusal.SIGNATURE, refused)], reason
            )
        late = self._command_problems(ctx, ref)
        if late:
            return await self._refused(
                ctx, "command", command_id, requested, old, late, reason, signer=signer, content=content
            )
        keys = [("command", command_id)] + ([("tag", command.write.tag)] if command.write is not None else [])
        for key in keys:
            self._pending[key] = _who(ctx)
        pulsing = False
        try:
            if command.call is not None:
                outcome = await self._call(ref, requested, call_args)
            else:
                assert command.write is not None
                tag = self._command_tag(command)
                timeout = tag.write.readback_timeout_s if tag.write is not None else 5.0
                part = _Part(tag, requested, old, timeout, tag.write.step if tag.write is not None else None)
                await self._send([part])
                outcome = self._outcome(part, "command", target=command_id)
            (outcome,) = await self._store(ctx, "command", [outcome], reason, signer=signer, content=content)
            write = command.write
            if (
                write is not None
                and write.pulse_s is not None
                and outcome.result in (Result.CONFIRMED, Result.NOT_CONFIRMED)
            ):
                # The reset is owed whenever the pulse value may have reached the server (even unconfirmed); a
                # value refused before sending or by the server needs none.
                self._spawn(self._pulse_reset(ctx, ref, keys, reason), f"pulse:{command_id}")
                pulsing = True
            return outcome
        finally:
            if not pulsing:
                for key in keys:
                    self._pending.pop(key, None)

    async def _call(self, ref: CommandRef, requested: Any, args: list[tuple[str, Any]]) -> WriteOutcome:
        call = ref.command.call
        assert call is not None
        source = self._sources.get(call.endpoint)
        base = WriteOutcome(ref.id, requested, None, Result.NOT_CONFIRMED, kind="command")
        try:
            if source is None:
                raise EndpointDown(call.endpoint, "?", "no OPC UA source for this endpoint")
            code, outputs = await source.call(call.object_id, call.method_id, args)
        except EndpointDown as exc:
            return replace(base, result=Result.REFUSED, refusal=Refusal.ENDPOINT_DOWN, why=str(exc), at=self._clock())
        except TimeoutError:
            assert source is not None
            return replace(base, status="BadTimeout", timeout_s=source.request_timeout_s, at=self._clock())
        result = Result.SERVER_REFUSED if classify(code) is Quality.BAD else Result.CONFIRMED
        readback = outputs if outputs else None
        return replace(base, result=result, status=status_name(code), readback=readback, at=self._clock())

    async def _pulse_reset(self, ctx: ActionContext, ref: CommandRef, keys: list[tuple[str, str]], reason: str) -> None:
        write = ref.command.write
        assert write is not None
        assert write.pulse_s is not None
        try:
            await asyncio.sleep(write.pulse_s)
            tag = self._command_tag(ref.command)
            timeout = tag.write.readback_timeout_s if tag.write is not None else 5.0
            requested = parse_value(tag.data_type, write.reset)
            part = _Part(tag, requested, self._value(tag.name), timeout, None)
            await self._send([part])
            outcome = self._outcome(part, "command", target=ref.id)
            if outcome.result is not Result.CONFIRMED:
                log.error("pulse of %s: the reset of %s to %s failed: %s", ref.id, tag.name, shown(requested), outcome)
            note = f"pulse reset of {tag.name} to {shown(requested)} after {write.pulse_s:g} s"
            await self._store(ctx, "command", [outcome], reason, notes=[note])
        except Exception:
            log.exception("pulse of %s: the reset could not be completed", ref.id)
        finally:
            for key in keys:
                self._pending.pop(key, None)

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for the pulse resets still to come (each ends within its pulse time and read-back timeout)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self, timeout: float = 90.0) -> None:  # noqa: ASYNC109 - a bound, not a cancel scope
        """Let owed pulse resets finish (a pulse left on is worse than a slow stop), then cancel what is left."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.settle()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------------------------------ recipes
    async def write_many(
        self,
        ctx: ActionContext,
        changes: Sequence[tuple[str, Any]],
        *,
        reason: str,
        parent: str,
        signature_id: int | None = None,
    ) -> list[WriteOutcome]:
        """Write a set of parameters (a recipe download, `parent` names it): each checked on its own (no
        compare-before-write; the parent's signature covers the parts), one Write per endpoint, all read back,
        each part audited naming `parent`. The outcomes follow the order of `changes`. On a standby the active
        instance runs it (the parent's signature is already stored: the shared database holds it)."""
        reason = _clean_reason(reason)
        if self._forwards():
            assert self.forward is not None
            args = {"changes": [[n, v] for n, v in changes], "reason": reason, "parent": parent}
            answer = await self.forward(ctx, "control.write_many", {**args, "signature_id": signature_id}, None)
            if not isinstance(answer, list) or not all(isinstance(o, WriteOutcome) for o in answer):
                raise TypeError(f"the active instance answered a download with {type(answer).__name__}")
            return answer
        outcomes: list[WriteOutcome | None] = [None] * len(changes)
        refusals: list[tuple[int, WriteOutcome, str]] = []
        parts: list[tuple[int, _Part]] = []
        seen: set[str] = set()
        for i, (name, value) in enumerate(changes):
            ref = self._plant.tags.get(name)
            spec, parsed, problems = self._checked(ctx, name, value)
            if ref is not None and spec is not None:
                if name in seen:
                    problems.append(
                        (Refusal.BAD_VALUE, Text("{tag} appears twice in {parent}", tag=name, parent=parent))
                    )
                problems += self._reason_problem(spec, name, reason)
                if spec.signature and signature_id is None:
                    problems.append(
                        (Refusal.SIGNATURE, Text("changing {tag} needs {parent} to be signed", tag=name, parent=parent))
                    )
            seen.add(name)
            old = self._value(name)
            if problems or ref is None or spec is None:
                refusal, why = problems[0]
                outcome = WriteOutcome(name, parsed, old, Result.REFUSED, refusal, at=self._clock(), why=why)
                refusals.append((i, outcome, "; ".join(t for _, t in problems[1:])))
                continue
            parts.append((i, _Part(ref.tag, parsed, old, spec.readback_timeout_s, spec.step)))
        # Checked above without an await since: no one can have taken these tags in between.
        keys = [("tag", part.tag.name) for _, part in parts]
        for key in keys:
            self._pending[key] = _who(ctx)
        try:
            await self._send([part for _, part in parts])
            for i, part in parts:
                outcomes[i] = self._outcome(part, "tag")
            for i, outcome, _ in refusals:
                outcomes[i] = outcome
            extras = {i: extra for i, _, extra in refusals}
            stored = await self._store(
                ctx,
                "tag",
                [o for o in outcomes if o is not None],
                reason,
                parent=parent,
                signature_id=signature_id,
                more=[extras.get(i, "") for i in range(len(changes))],
            )
            return stored
        finally:
            for key in keys:
                self._pending.pop(key, None)


def _writing(who: str, tag: str) -> Text:
    return Text("{who} is writing {tag} right now; wait for the result", who=who, tag=tag)


def _changed(tag: str, now: Any) -> Text:
    return Text(
        "{tag} changed since the dialog opened: it is now {value}; check and ask again", tag=tag, value=shown(now)
    )


def _no_command(command_id: str) -> Text:
    return Text("there is no command {command!r} in the plant file", command=command_id)


def _who(ctx: ActionContext) -> str:
    return f"{ctx.full_name or ctx.username} ({ctx.username}" + (f", {ctx.station})" if ctx.station else ")")
