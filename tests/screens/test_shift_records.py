"""Shift log versions and the handover screen, as a lead uses them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from nicegui import ui

from hmi.records.notes import MAX_NOTE_LENGTH
from hmi.store.models import HandoverState
from tests.screens.conftest import Harness

CSS = Path(__file__).resolve().parents[2] / "assets" / "hmi.css"


async def write_note(hmi: Harness, text: str) -> None:
    """On /notes: type `text` and save it."""
    hmi.user.find(marker="note-text").type(text)
    hmi.user.find(marker="note-save").click()
    await hmi.user.should_see("Note saved.", retries=50)


async def drafted_handover(hmi: Harness) -> None:
    """Lena on /handover with the report of her shift drafted."""
    await hmi.login("lena")
    await hmi.user.open("/handover")
    hmi.user.find(marker="handover-draft").click()
    await hmi.user.should_see("Report drafted.", retries=50)


@pytest.mark.req("REC-007")
async def test_note_is_amended_with_a_reason_and_its_history_shown(hmi: Harness) -> None:
    await hmi.login("lena")
    await hmi.user.open("/notes")
    await write_note(hmi, "Seal on filler worn")
    hmi.user.find(marker="note-amend").click()
    hmi.user.find(marker="amend-text").clear().type("Seal on filler worn, replaced at 10:00")
    hmi.user.find(marker="amend-confirm").click()
    await hmi.user.should_see("Not saved: amending a note needs a reason", retries=50)
    hmi.user.find(marker="amend-reason").type("completed")
    hmi.user.find(marker="amend-confirm").click()
    await hmi.user.should_see("version 2 (completed)", retries=100)
    hmi.user.find(marker="note-history").click()
    await hmi.user.should_see("reason: completed", retries=50)
    [note] = await hmi.rt.notes.list()
    assert (note.version, note.reason) == (2, "completed")


@pytest.mark.req("REC-013")
async def test_lead_drafts_and_signs_the_handover(hmi: Harness) -> None:
    await drafted_handover(hmi)
    hmi.user.find(marker="handover-items").type("Order a new seal")
    hmi.sign("lena")
    hmi.user.find(marker="handover-sign").click()
    await hmi.user.should_see("Handed over and signed.", retries=50)
    await hmi.user.should_see("meaning: Handed over", retries=50)
    [handover] = await hmi.rt.handover.recent()
    assert handover.state is HandoverState.HANDED_OVER
    assert await hmi.rt.handover.verify(handover)


@pytest.mark.req("REC-009")
async def test_lead_signs_a_note_and_the_manifestation_is_shown(hmi: Harness) -> None:
    await hmi.login("lena")
    await hmi.user.open("/notes")
    await write_note(hmi, "Line cleared for the next batch")
    hmi.user.find(marker="note-sign").click()
    hmi.sign("lena")
    hmi.user.find(marker="sign-confirm").click()
    await hmi.user.should_see("✔ Signed by Lena Lead (lena)", retries=50)


@pytest.mark.req("REC-013")
async def test_the_lead_who_handed_over_is_not_offered_to_sign_as_incoming(hmi: Harness) -> None:
    await drafted_handover(hmi)
    hmi.sign("lena")
    hmi.user.find(marker="handover-sign").click()
    await hmi.user.should_see("Handed over and signed.", retries=50)
    await hmi.user.should_see(marker="handover-own", retries=50)
    # Neither a password field nor a sign button: the service would refuse her as the incoming lead.
    await hmi.user.should_not_see(marker="handover-sign")
    await hmi.user.should_not_see(marker="sign-password")
    await hmi.user.should_see("meaning: Handed over")


@pytest.mark.req("SCR-008")
async def test_a_note_with_a_very_long_word_wraps(hmi: Harness) -> None:
    await hmi.login("lena")
    await hmi.user.open("/notes")
    note = hmi.user.find(marker="note-text").elements.pop()
    # The limit is shown as a counter beside the field, not only enforced on save.
    assert str(note.props["maxlength"]) == str(MAX_NOTE_LENGTH)
    assert "counter" in note.props
    await write_note(hmi, "x" * MAX_NOTE_LENGTH)
    await hmi.user.should_see("x" * MAX_NOTE_LENGTH, retries=300)  # the list is read again after the save
    shown = [e for e in hmi.user.find("x" * MAX_NOTE_LENGTH).elements if isinstance(e, ui.label)]
    assert shown
    assert all("hmi-wrap" in e.classes for e in shown)
    css = CSS.read_text()
    assert re.search(r"\.hmi-wrap[^{]*\{[^}]*overflow-wrap:\s*anywhere", css)
