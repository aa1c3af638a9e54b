"""The electronic signature, the same on every screen (21 CFR 11.50, 11.200(a)(1)).

The user id is asked on the first signing of a continuous session only (`session.first_signing`), the password
every time. The signature service checks both and enforces the first-signing rule itself; the screen only collects
them, never keeps the password on the page, and remembers a signing that the service accepted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from nicegui import app, ui

from hmi.access.auth import SOURCE_OIDC
from hmi.access.context import ActionContext, PermissionDenied
from hmi.records.signatures import SignatureRequest, SigningSession
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens.i18n import _, message
from screens.oidc_sign_in import start_url
from screens.session import command, first_signing
from screens.testid import testid


class SignatureFields:
    """User id (first signing only) and password, built into the dialog or panel that is being built.

    A person who signs in at the plant's identity provider has no password the HMI could check: the fields are a
    button that opens the provider in a new tab, where they enter user id and password again; the signature then
    takes that fresh sign-in (hmi.access.fresh_sign_in). The dialog and what was typed into it stay as they are."""

    def __init__(self, rt: Runtime, viewer: ActionContext) -> None:
        self._rt = rt
        self._viewer = viewer
        self._signing = SigningSession(app.storage.user, viewer.username)
        self.user_id: ui.input | None = None
        self.password: ui.input | None = None
        client = rt.users.oidc
        if viewer.source == SOURCE_OIDC and client is not None:
            ui.label(
                _("Your password is checked at {provider}: confirm your identity there, then press Sign.").format(
                    provider=client.settings.label
                )
            ).classes("hmi-muted hmi-wrap")
            testid(
                ui.button(
                    _("Confirm identity at {provider}").format(provider=client.settings.label),
                    on_click=lambda: ui.navigate.to(start_url(fresh=True), new_tab=True),
                ).props("outline no-caps"),
                "sign-confirm-identity",
            )
            return
        if first_signing(rt, viewer):
            self.user_id = testid(ui.input(_("User id")).props("autocomplete=off"), "sign-user")
        self.password = testid(ui.input(_("Password"), password=True).props("autocomplete=off"), "sign-password")

    def missing(self) -> str | None:
        """What is still to be typed (or confirmed at the identity provider) before signing, or None."""
        if self.password is None:
            fresh = self._rt.users.fresh.pending(self._viewer.user_id, self._viewer.station)
            return None if fresh is not None else _("Confirm your identity at the identity provider first.")
        if self.password.value and (self.user_id is None or (self.user_id.value or "").strip()):
            return None
        if self.user_id is not None:
            return _("Enter your user id and your password to sign.")
        return _("Enter your password to sign.")

    def take(self, meaning: str = "") -> SignatureRequest:
        """The signature as typed; the password field is emptied."""
        if self.password is None:
            # The identity provider's fresh sign-in stands for user id and password; the service takes it.
            return SignatureRequest("", None, meaning)
        user_id = (self.user_id.value or "").strip() if self.user_id is not None else None
        request = SignatureRequest(self.password.value or "", user_id, meaning)
        self.password.set_value("")
        return request

    def signed(self) -> None:
        """The service accepted the signature: later signings of this session ask for the password alone."""
        self._signing.signed()


class SignatureDialog:
    """Sign one record: its meaning, then user id and password; `sign` stores the signature, `after` follows."""

    def __init__(
        self,
        rt: Runtime,
        viewer: ActionContext,
        title: str,
        meanings: Sequence[str],
        sign: Callable[[ActionContext, SignatureRequest], Awaitable[object]],
        after: Callable[[], Awaitable[None]],
    ) -> None:
        self._sign = sign
        self._after = after
        self._default = meanings[0]
        with ui.dialog() as self.dialog, ui.card().classes("w-[30rem]"):
            ui.label(_(title)).classes("hmi-title")
            # The meaning is recorded in English (the signature record, 21 CFR 11.50); the person reads their language.
            self.meaning = ui.select({m: _(m) for m in meanings}, value=self._default, label=_("Meaning")).classes(
                "w-48"
            )
            self.fields = SignatureFields(rt, viewer)
            self.problem = ui.label("").classes("font-semibold")
            with ui.row():
                testid(ui.button(_("Sign"), on_click=command(rt, self.confirm)), "sign-confirm")
                ui.button(_("Cancel"), on_click=self.dialog.close).props("outline")
        self.dialog.open()

    async def confirm(self, actor: ActionContext) -> None:
        """Store the signature as the person signed in at the touch; a refusal is shown and nothing closes."""
        try:
            await self._sign(actor, self.fields.take(self.meaning.value or self._default))
        except (ValueError, PermissionDenied, DatabaseUnavailable) as exc:
            self.problem.set_text(_("Not signed: {exc}").format(exc=message(exc)))
            return
        self.fields.signed()
        self.dialog.close()
        await self._after()
