"""Shift log versions and the handover screen, as a lead uses them."""

from __future__ import annotations

from hmi.store.models import HandoverState
from tests.screens.conftest import PASSWORD, Harness


async def test_note_is_amended_with_a_reason_and_its_history_shown(hmi: Harness) -> None:
    await hmi.login("lena")
    await hmi.user.open("/notes")
    hmi.user.find(marker="note-text").type("Seal on filler worn")
    hmi.user.find(marker="note-save").click()
    await hmi.user.should_see("Note saved.", retries=50)
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


async def test_lead_drafts_and_signs_the_handover(hmi: Harness) -> None:
    await hmi.login("lena")
    await hmi.user.open("/handover")
    hmi.user.find(marker="handover-draft").click()
    await hmi.user.should_see("Report drafted.", retries=50)
    hmi.user.find(marker="handover-items").type("Order a new seal")
    hmi.user.find(marker="sign-user").type("lena")
    hmi.user.find(marker="sign-password").type(PASSWORD)
    hmi.user.find(marker="handover-sign").click()
    await hmi.user.should_see("Handed over and signed.", retries=50)
    await hmi.user.should_see("meaning: Handed over", retries=50)
    [handover] = await hmi.rt.handover.list()
    assert handover.state is HandoverState.HANDED_OVER
    assert await hmi.rt.handover.verify(handover)


async def test_lead_signs_a_note_and_the_manifestation_is_shown(hmi: Harness) -> None:
    await hmi.login("lena")
    await hmi.user.open("/notes")
    hmi.user.find(marker="note-text").type("Line cleared for the next batch")
    hmi.user.find(marker="note-save").click()
    await hmi.user.should_see("Note saved.", retries=50)
    hmi.user.find(marker="note-sign").click()
    hmi.user.find(marker="sign-user").type("lena")
    hmi.user.find(marker="sign-password").type(PASSWORD)
    hmi.user.find(marker="sign-confirm").click()
    await hmi.user.should_see("✔ Signed by Lena Lead (lena)", retries=50)
