"""Recipes (ISA-88): the list per line, a recipe's version history with its approvals, the draft form, approve and
reject with a signature, the download with its difference table and per-parameter report, and the download log
with CSV and PDF export. Every text from a record is shown as text (labels and table cells), never as HTML."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nicegui import ui

from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Permission
from hmi.control.recipe_report import RESULT_WORDS, DownloadReport, downloads_csv, downloads_pdf
from hmi.control.recipe_values import parameters_of, target_tags
from hmi.control.recipes import RecipeSummary
from hmi.records.signatures import APPROVED, SignatureRequest
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from hmi.store.models import Recipe, RecipeStatus, RecipeVersion
from screens.fitted_table import fitted_table
from screens.fmt import local_time
from screens.frame import frame
from screens.i18n import N_, _, localised_columns, message
from screens.outcome import attempt
from screens.restricted import Restriction, permitted
from screens.session import command
from screens.signature_dialog import SignatureDialog, SignatureFields
from screens.testid import testid
from screens.widgets import column

RECIPE_VIEWERS = Restriction(
    check=lambda rt, ctx: rt.recipes.require_view(ctx),
    refused=lambda ctx, exc: _(
        "Your role ({value}) does not work with recipes; leads, engineers and managers do."
    ).format(value=ctx.role.value),
    unavailable=N_("The recipes cannot be shown"),
    testid="recipes-denied",
)

LOG_COLUMNS: list[dict[str, Any]] = [
    column("time", N_("Time (plant)"), sortable=True),
    column("user", N_("User"), sortable=True),
    column("recipe", N_("Recipe"), sortable=True),
    column("version", N_("Version")),
    column("result", N_("Result"), sortable=True),
    column("confirmed", N_("Confirmed")),
    column("reason", N_("Reason")),
]
DIFF_COLUMNS: list[dict[str, Any]] = [
    column("tag", N_("Tag")),
    column("current", N_("Current")),
    column("recipe", N_("Recipe value")),
    column("unit", N_("Unit")),
    column("limits", N_("Limits")),
    column("change", N_("Change")),
]
REPORT_COLUMNS: list[dict[str, Any]] = [
    column("tag", N_("Tag")),
    column("requested", N_("Written")),
    column("result", N_("Result")),
    column("message", N_("What the server said")),
]
PARAM_COLUMNS: list[dict[str, Any]] = [
    column("tag", N_("Tag")),
    column("value", N_("Value")),
    column("unit", N_("Unit")),
]
TOUCH = "min-h-[48px] text-base"


def _value(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _version_line(v: RecipeVersion, zone: Any) -> str:
    text = _("Version {version} · {status} · written by {author} {when}").format(
        version=v.version, status=_(v.status.value), author=v.author, when=local_time(v.created_at, zone, date=True)
    )
    if v.status is not RecipeStatus.DRAFT and v.approver:
        verb = (
            _(" · rejected by {who} {when}") if v.status is RecipeStatus.REJECTED else _(" · approved by {who} {when}")
        )
        text += verb.format(who=v.approver, when=local_time(v.approved_at, zone, date=True))
    return text


async def recipes_page(rt: Runtime, ctx: ActionContext) -> None:
    """The recipe list: permission checked (and a refusal audited) before anything shows."""
    with frame(rt, ctx, "Recipes"):
        ui.label(_("Recipes")).classes("hmi-title")
        if not await permitted(rt, ctx, RECIPE_VIEWERS):
            return
        await RecipeList(rt, ctx).show()


async def recipe_page(rt: Runtime, ctx: ActionContext, name: str) -> None:
    """One recipe: its versions, decisions, download and log."""
    with frame(rt, ctx, "Recipes"):
        if not await permitted(rt, ctx, RECIPE_VIEWERS):
            return
        recipe = await rt.recipes.get(name)
        if recipe is None:
            testid(ui.label(_("There is no recipe {name!r}.").format(name=name)).classes("hmi-title"), "recipe-missing")
            ui.button(_("All recipes"), on_click=lambda: ui.navigate.to("/recipes")).classes(TOUCH)
            return
        screen = RecipeScreen(rt, ctx, recipe)
        await screen.show()


class DownloadLog:
    """The download log (of one recipe or all), newest first, with CSV and PDF export."""

    def __init__(self, rt: Runtime, recipe: str | None = None) -> None:
        self.rt = rt
        self.recipe = recipe
        self.zone = rt.plant.site.zone
        with ui.row().classes("items-center gap-3"):
            ui.label(_("Download log")).classes("font-bold")
            testid(
                ui.button(_("Export CSV"), on_click=command(rt, lambda a: self.export(a, "csv"))).props("outline"),
                "recipe-log-csv",
            ).classes(TOUCH)
            testid(
                ui.button(_("Export PDF"), on_click=command(rt, lambda a: self.export(a, "pdf"))).props("outline"),
                "recipe-log-pdf",
            ).classes(TOUCH)
        self.status = testid(ui.label("").classes("font-semibold").props('role="status"'), "recipe-log-status")
        # Time, recipe and result always; the rest by screen width, or in the row's details (screens/fitted_table.py).
        self.table = testid(
            fitted_table(
                LOG_COLUMNS,
                {"user": 800, "version": 800, "confirmed": 1024, "reason": 1280},
                row_key="id",
                keep_words=("time", "result", "confirmed"),
            ).props("flat bordered"),
            "recipe-log",
        )

    async def show(self) -> None:
        """Read the log again."""
        try:
            reports = await self.rt.recipes.downloads(self.recipe)
        except DatabaseUnavailable as exc:
            self.status.set_text(_("The download log cannot be read: {exc}").format(exc=message(exc)))
            return
        self.table.rows = [
            {
                "id": r.audit_id,
                "time": local_time(r.at, self.zone, date=True),
                "user": r.username,
                "recipe": r.recipe,
                "version": r.version,
                "result": r.result,
                "confirmed": _("{n} of {total}").format(n=sum(p.confirmed for p in r.parts), total=len(r.parts)),
                "reason": r.reason,
            }
            for r in reports
        ]
        self.table.update()

    async def export(self, actor: ActionContext, fmt: str) -> None:
        """The log as CSV or PDF, recorded in the audit trail before the file leaves."""
        try:
            await self.rt.recipes.require_view(actor)
            reports = await self.rt.recipes.downloads(self.recipe, limit=self.rt.plant.limits.export_max_rows)
        except (PermissionDenied, DatabaseUnavailable) as exc:
            self.status.set_text(_("Not exported: {exc}").format(exc=message(exc)))
            return
        name = f"recipe-downloads{'-' + self.recipe if self.recipe else ''}"
        if fmt == "csv":
            text = await asyncio.to_thread(downloads_csv, reports, self.zone)
            content, filename, media = text.encode("utf-8-sig"), f"{name}.csv", "text/csv"
        else:
            printed = f"{actor.full_name} ({actor.username})" if actor.full_name else actor.username
            content = await asyncio.to_thread(
                lambda: downloads_pdf(
                    reports,
                    site=self.rt.plant.site.name,
                    zone=self.zone,
                    generated_by=printed,
                    generated_at=self.rt.clock(),
                )
            )
            filename, media = f"{name}.pdf", "application/pdf"
        try:
            await self.rt.audit.record(
                actor,
                "recipe.log.export",
                "recipe",
                self.recipe or "",
                new_value={"format": fmt},
                detail=f"{len(reports)} downloads to {filename}",
            )
        except DatabaseUnavailable as exc:
            self.status.set_text(_("Not exported: {exc}").format(exc=message(exc)))
            return
        ui.download.content(content, filename, media)
        self.status.set_text(_("Exported {len} downloads.").format(len=len(reports)))


class RecipeList:
    """Per line: each recipe with its approved version and the drafts awaiting approval; the create form."""

    def __init__(self, rt: Runtime, ctx: ActionContext) -> None:
        self.rt = rt
        self.ctx = ctx
        self.zone = rt.plant.site.zone
        self.status = testid(ui.label("").classes("font-semibold").props('role="status"'), "recipes-status")
        self.listing = testid(ui.column().classes("w-full max-w-5xl gap-2"), "recipe-list")
        if ctx.can(Permission.MANAGE_RECIPES):
            self._create_form()
        self.log = DownloadLog(rt)

    def _create_form(self) -> None:
        targets: dict[str, str] = {}
        for _area, line in self.rt.plant.lines():
            if target_tags(self.rt.plant, line.name):
                targets[line.name] = f"line {line.name}"
            for machine in line.machines:
                if target_tags(self.rt.plant, line.name, machine.name):
                    targets[f"{line.name}/{machine.name}"] = f"line {line.name}, machine {machine.name}"
        with ui.column().classes("hmi-panel p-3 w-full max-w-3xl gap-2"):
            ui.label(_("New recipe")).classes("font-bold")
            if not targets:
                ui.label(_("No line has writable tags: give setpoints a write rule in the plant file first."))
                return
            with ui.row().classes("items-end gap-3 w-full"):
                self.new_name = testid(ui.input(_("Name")).classes("w-56"), "recipe-new-name")
                self.new_target = testid(
                    ui.select(targets, value=next(iter(targets)), label=_("Line or machine")).classes("w-64"),
                    "recipe-new-target",
                )
            self.new_description = testid(ui.input(_("Description")).classes("w-full"), "recipe-new-description")
            testid(ui.button(_("Create recipe"), on_click=command(self.rt, self.create)), "recipe-create").classes(
                TOUCH
            )

    async def create(self, actor: ActionContext) -> None:
        """Create the recipe and open it, where its first draft is written."""
        line, _skip, machine = (self.new_target.value or "").partition("/")
        name = (self.new_name.value or "").strip()
        recipe = await attempt(
            self.status,
            N_("created"),
            self.rt.recipes.create(actor, name, line, machine, self.new_description.value or ""),
        )
        if recipe is not None:
            ui.navigate.to(f"/recipes/{recipe.name}")

    async def show(self) -> None:
        """Read the recipes and the log."""
        try:
            summaries = await self.rt.recipes.summaries()
        except DatabaseUnavailable as exc:
            self.status.set_text(_("The recipes cannot be read: {exc}").format(exc=message(exc)))
            return
        self.listing.clear()
        with self.listing:
            if not summaries:
                ui.label(_("No recipes yet.")).classes("hmi-muted")
            by_line: dict[str, list[RecipeSummary]] = {}
            for s in summaries:
                by_line.setdefault(s.recipe.line, []).append(s)
            for line, items in by_line.items():
                ui.label(_("Line {line}").format(line=line)).classes("font-bold text-lg")
                for s in items:
                    self._row(s)
        await self.log.show()

    def _row(self, s: RecipeSummary) -> None:
        recipe = s.recipe
        with testid(ui.row().classes("hmi-panel p-2 w-full items-center gap-3"), f"recipe-row-{recipe.name}"):
            testid(
                ui.button(recipe.name, on_click=lambda r=recipe: ui.navigate.to(f"/recipes/{r.name}")).props("no-caps"),
                f"recipe-open-{recipe.name}",
            ).classes(TOUCH)
            with ui.column().classes("gap-0 grow"):
                target = recipe.line + (f" · {recipe.machine}" if recipe.machine else "")
                ui.label(f"{target} — {recipe.description}" if recipe.description else target)
                approved = (
                    _("In force: version {version}, approved by {who} {when}").format(
                        version=s.approved.version,
                        who=s.approved.approver,
                        when=local_time(s.approved.approved_at, self.zone, date=True),
                    )
                    if s.approved is not None
                    else _("No approved version: it cannot be downloaded")
                )
                ui.label(approved).classes("font-semibold")
                if s.drafts:
                    ui.label(
                        _("Awaiting approval: ")
                        + ", ".join(
                            _("version {version} by {who}").format(version=d.version, who=d.author) for d in s.drafts
                        )
                    )


class RecipeScreen:
    """One recipe: version history with parameters and decisions, draft form, approve/reject, download, log."""

    def __init__(self, rt: Runtime, ctx: ActionContext, recipe: Recipe) -> None:
        self.rt = rt
        self.ctx = ctx
        self.recipe = recipe
        self.zone = rt.plant.site.zone
        target = recipe.line + (f", machine {recipe.machine}" if recipe.machine else "")
        with ui.row().classes("items-center gap-3"):
            ui.button(_("All recipes"), on_click=lambda: ui.navigate.to("/recipes")).props("outline").classes(TOUCH)
            testid(
                ui.label(_("Recipe {name} — line {target}").format(name=recipe.name, target=target)).classes(
                    "hmi-title"
                ),
                "recipe-title",
            )
        if recipe.description:
            ui.label(recipe.description)
        self.status = testid(ui.label("").classes("font-semibold").props('role="status"'), "recipe-status")
        self.download_panel = testid(ui.column().classes("w-full max-w-5xl gap-2"), "recipe-download")
        self.versions = testid(ui.column().classes("w-full max-w-5xl gap-2"), "recipe-versions")
        self.form = ui.column().classes("w-full max-w-3xl gap-2")
        self.log = DownloadLog(rt, recipe.name)

    async def show(self) -> None:
        """Read the versions again and rebuild the page's lists."""
        assert self.recipe.id is not None
        try:
            versions = await self.rt.recipes.versions(self.recipe.id)
        except DatabaseUnavailable as exc:
            self.status.set_text(_("The recipe cannot be read: {exc}").format(exc=message(exc)))
            return
        self.versions.clear()
        with self.versions:
            ui.label(_("Versions, newest first")).classes("font-bold")
            if not versions:
                ui.label(_("No version yet.")).classes("hmi-muted")
            for v in versions:
                await self._version(v)
        self.form.clear()
        if self.ctx.can(Permission.MANAGE_RECIPES):
            with self.form:
                self._draft_form(versions[0] if versions else None)
        await self.log.show()

    async def _version(self, v: RecipeVersion) -> None:
        with testid(ui.column().classes("hmi-panel p-3 w-full gap-1"), f"recipe-version-{v.version}"):
            ui.label(_version_line(v, self.zone)).classes("font-semibold")
            if v.note:
                ui.label(_("Note: {note}").format(note=v.note)).classes("whitespace-pre-wrap")
            rows = []
            for tag, value in parameters_of(v).items():
                ref = self.rt.plant.tags.get(tag)
                rows.append({"tag": tag, "value": _value(value), "unit": ref.tag.unit if ref else ""})
            testid(
                ui.table(columns=localised_columns(PARAM_COLUMNS), rows=rows, row_key="tag").props(
                    "flat bordered dense"
                ),
                f"recipe-params-{v.version}",
            )
            signature = await self.rt.recipes.signature_of(v)
            if signature is not None:
                testid(ui.label(self.rt.recipes.manifestation(signature, self.zone)), f"recipe-signature-{v.version}")
            if v.reject_reason:
                ui.label(_("Rejected because: {reject_reason}").format(reject_reason=v.reject_reason)).classes(
                    "whitespace-pre-wrap"
                )
            if not await self.rt.recipes.verify(v):
                ui.label(_("WARNING: this version's content no longer matches its hash or signature.")).classes(
                    "font-semibold"
                ).props('role="alert"')
            with ui.row().classes("gap-2 items-end"):
                self._actions(v)

    def _actions(self, v: RecipeVersion) -> None:
        vid = v.id or 0
        if v.status is RecipeStatus.DRAFT and self.ctx.can(Permission.APPROVE_RECIPE):
            if v.author_id == self.ctx.user_id or v.author == self.ctx.username:
                testid(
                    ui.label(_("You wrote this version: another engineer or a manager approves it (four eyes).")),
                    f"recipe-own-{v.version}",
                )
                return
            testid(
                ui.button(_("Approve…"), on_click=lambda: self._approve(vid, v.version)), f"recipe-approve-{v.version}"
            ).classes(TOUCH)
            reason = testid(ui.input(_("Reason to reject")).classes("w-72"), f"recipe-reject-reason-{v.version}")
            testid(
                ui.button(_("Reject…"), on_click=lambda: self._reject(vid, v.version, reason.value or "")).props(
                    "outline"
                ),
                f"recipe-reject-{v.version}",
            ).classes(TOUCH)
        if v.status is RecipeStatus.APPROVED and self.ctx.can(Permission.DOWNLOAD_RECIPE):
            testid(
                ui.button(_("Download to the line…"), on_click=lambda: self._download_panel(v)),
                f"recipe-download-{v.version}",
            ).classes(TOUCH)

    def _approve(self, version_id: int, number: int) -> None:
        async def sign(actor: ActionContext, request: SignatureRequest) -> object:
            return await self.rt.recipes.approve(actor, version_id, request)

        async def after() -> None:
            self.status.set_text(_("Version {number} approved and signed.").format(number=number))
            await self.show()

        title = _("Approve {name} version {number}").format(name=self.recipe.name, number=number)
        SignatureDialog(self.rt, self.ctx, title, [APPROVED], sign, after)

    def _reject(self, version_id: int, number: int, reason: str) -> None:
        if not reason.strip():
            self.status.set_text(_("Not rejected: give the reason to reject first."))
            return

        async def sign(actor: ActionContext, request: SignatureRequest) -> object:
            return await self.rt.recipes.reject(actor, version_id, reason, request)

        async def after() -> None:
            self.status.set_text(_("Version {number} rejected and signed.").format(number=number))
            await self.show()

        title = _("Reject {name} version {number}").format(name=self.recipe.name, number=number)
        SignatureDialog(self.rt, self.ctx, title, [N_("Rejected")], sign, after)

    def _draft_form(self, latest: RecipeVersion | None) -> None:
        values = parameters_of(latest) if latest is not None else {}
        tags = target_tags(self.rt.plant, self.recipe.line, self.recipe.machine)
        with ui.column().classes("hmi-panel p-3 w-full gap-2"):
            ui.label(_("New draft version")).classes("font-bold")
            ui.label(_("Leave a value empty to leave the tag out of the recipe.")).classes("hmi-muted")
            inputs: dict[str, Any] = {}
            for name, ref in sorted(tags.items()):
                limits = self.rt.plant.write_limits(name)
                hint = f" ({limits[0]:g} to {limits[1]:g} {ref.tag.unit})".rstrip() if limits else ""
                current = values.get(name)
                inputs[name] = testid(
                    ui.input(f"{name}{hint}", value="" if current is None else _value(current)).classes("w-96"),
                    f"recipe-value-{name}",
                )
            note = testid(ui.input(_("Note: what changed and why")).classes("w-full"), "recipe-note")

            async def save(actor: ActionContext) -> None:
                parameters: dict[str, object] = {}
                for name, field in inputs.items():
                    text = str(field.value or "").strip()
                    if text:
                        parameters[name] = _parse(text, self.rt.plant.tags[name].tag.data_type)
                saved = await attempt(
                    self.status,
                    N_("saved"),
                    self.rt.recipes.new_version(actor, self.recipe.name, parameters, note.value or ""),
                )
                if saved is not None:
                    self.status.set_text(
                        _("Version {version} saved as a draft; another person approves it.").format(
                            version=saved.version
                        )
                    )
                    await self.show()

            async def upload(actor: ActionContext) -> None:
                saved = await attempt(self.status, N_("uploaded"), self.rt.recipes.upload(actor, self.recipe.name))
                if saved is not None:
                    self.status.set_text(
                        _("The line's values saved as draft version {version}.").format(version=saved.version)
                    )
                    await self.show()

            with ui.row().classes("gap-2"):
                testid(ui.button(_("Save draft"), on_click=command(self.rt, save)), "recipe-save").classes(TOUCH)
                testid(
                    ui.button(_("Upload the line's values"), on_click=command(self.rt, upload)).props("outline"),
                    "recipe-upload",
                ).classes(TOUCH)

    def _download_panel(self, v: RecipeVersion) -> None:
        """The difference between the line and the recipe, the reason and signature, then the confirmation."""
        self.download_panel.clear()
        rows = [
            {
                "tag": d.tag,
                "current": _value(d.current) + ("" if d.quality == "good" else f" ({d.quality})"),
                "recipe": _value(d.recipe),
                "unit": d.unit,
                "limits": message(d.limits_text),
                "change": "changes" if d.differs else "same",
            }
            for d in self.rt.recipes.diff(v)
        ]
        with self.download_panel, ui.column().classes("hmi-panel p-3 w-full gap-2"):
            ui.label(
                _("Download {name} version {version} to line {line}").format(
                    name=self.recipe.name, version=v.version, line=self.recipe.line
                )
            ).classes("font-bold")
            testid(
                ui.table(columns=localised_columns(DIFF_COLUMNS), rows=rows, row_key="tag")
                .classes("w-full")
                .props("flat bordered"),
                "recipe-diff",
            )
            reason = testid(ui.input(_("Reason")).classes("w-full"), "recipe-download-reason")
            fields = SignatureFields(self.rt, self.ctx) if self.rt.recipes.signature_required else None

            async def confirm(actor: ActionContext) -> None:
                request = fields.take() if fields is not None else None
                if fields is not None and request is not None and not request.password:
                    self.status.set_text(_("Not downloaded: enter your password to sign."))
                    return
                report = await attempt(
                    self.status,
                    N_("downloaded"),
                    self.rt.recipes.download(
                        actor, self.recipe.name, v.version, reason=reason.value or "", signature=request, zone=self.zone
                    ),
                )
                if report is None:
                    return
                if fields is not None:
                    fields.signed()
                self._report(report)
                await self.log.show()

            with ui.row().classes("gap-2"):
                testid(
                    ui.button(_("Confirm download"), on_click=command(self.rt, confirm)), "recipe-download-confirm"
                ).classes(TOUCH)
                ui.button(_("Cancel"), on_click=self.download_panel.clear).props("outline").classes(TOUCH)

    def _report(self, report: DownloadReport) -> None:
        """What the download did, parameter by parameter; a partial download is said as such, never as done."""
        self.download_panel.clear()
        with self.download_panel, ui.column().classes("hmi-panel p-3 w-full gap-2"):
            summary = testid(ui.label(message(report.summary)).classes("hmi-title"), "recipe-report-summary")
            if not report.success:
                summary.props('role="alert"').classes("text-red-800")
            testid(
                ui.table(
                    columns=localised_columns(REPORT_COLUMNS),
                    rows=[
                        {
                            "tag": p.tag,
                            "requested": _value(p.requested),
                            "result": message(RESULT_WORDS.get(p.result, p.result)),
                            "message": message(p.message),
                        }
                        for p in report.parts
                    ],
                    row_key="tag",
                )
                .classes("w-full")
                .props("flat bordered"),
                "recipe-report",
            )
        self.status.set_text(message(report.summary))


def _parse(text: str, data_type: str) -> object:
    """A typed value from the form; text the service will refuse with its reason when it is not a number."""
    if data_type == "bool":
        return {"true": True, "1": True, "false": False, "0": False}.get(text.lower(), text)
    if data_type == "string":
        return text
    try:
        number = json.loads(text.replace(",", "."))
    except ValueError:
        return text
    return number if isinstance(number, int | float) and not isinstance(number, bool) else text
