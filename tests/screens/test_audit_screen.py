"""The audit trail screen on a real runtime: who may see it, filters, and exports that are themselves audited."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from hmi.records.audit import system_context
from hmi.records.audit_export import CHAIN_HEAD_PREFIX
from tests.screens.conftest import Harness, set_value, table_rows


@pytest.mark.req("REC-006", "REC-018")
async def test_manager_sees_the_logins_filters_and_exports(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.logout()
    await hmi.login("max")
    await hmi.user.open("/audit")
    await hmi.user.should_see(marker="audit-table", retries=50)
    await hmi.user.should_see("entries, newest first", retries=50)
    rows = table_rows(hmi, "audit-table")
    logins = [r for r in rows if r["action"] == "login"]
    assert [r["user"] for r in logins] == ["max", "olga"]  # newest first
    assert logins[0]["object"] == "user:max"
    # Server time shown in plant local time with its zone (the test plant is in Europe/Berlin).
    assert logins[0]["time"].endswith(("CET", "CEST"))

    hmi.user.find(marker="audit-user").type("olga")
    hmi.user.find(marker="audit-apply").click()
    await hmi.user.should_see("2 entries, newest first", retries=50)
    assert [(r["user"], r["action"]) for r in table_rows(hmi, "audit-table")] == [("olga", "logout"), ("olga", "login")]

    hmi.user.find(marker="audit-user").clear()
    hmi.user.find(marker="audit-object").type("user:max")
    hmi.user.find(marker="audit-action").type("login")
    hmi.user.find(marker="audit-apply").click()
    await hmi.user.should_see("1 entries, newest first", retries=50)
    assert [r["user"] for r in table_rows(hmi, "audit-table")] == ["max"]

    hmi.user.find(marker="audit-export-csv").click()
    response = await hmi.user.download.next(timeout=5)
    await hmi.user.should_see("Exported 1 entries.", retries=50)
    *lines, footer = response.content.decode("utf-8-sig").splitlines()
    [record] = list(csv.DictReader(io.StringIO("\n".join(lines))))
    # The whole trail's head at export (the row before the export's own), a copy of it outside the database.
    [csv_export] = await hmi.rt.audit.query(action="audit.export")
    n = csv_export.id - 1
    assert footer.startswith(f"{CHAIN_HEAD_PREFIX}{n} rows up to row {n} · head {csv_export.prev_hash} · ")
    assert (record["username"], record["action"], record["object_id"]) == ("max", "login", "max")
    assert record["zone"] == "Europe/Berlin"

    hmi.user.find(marker="audit-export-pdf").click()
    response = await hmi.user.download.next(timeout=10)
    await hmi.user.should_see("Exported 1 entries.", retries=50)
    assert response.content.startswith(b"%PDF")

    # Each export is on the record with who, from where, the format and the filter.
    exports = await hmi.rt.audit.query(action="audit.export")
    assert [(e.username, e.object_id) for e in exports] == [("max", "pdf"), ("max", "csv")]
    recorded = json.loads(exports[0].new_value or "")
    assert recorded.pop("since").endswith("+00:00")  # the last 24 h, in UTC
    assert recorded == {"object_type": "user", "object_id": "max", "action": "login"}
    assert exports[0].station == exports[1].station


@pytest.mark.req("REC-018")
async def test_operator_is_refused_and_the_refusal_is_audited(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/audit")
    await hmi.user.should_see("Your role (operator) may not view the audit trail", retries=50)
    await hmi.user.should_not_see(marker="audit-table")
    await hmi.user.should_not_see(marker="audit-export-csv")
    [denied] = await hmi.rt.audit.query(username="olga", action="audit.view.denied")
    assert denied.object_type == "audit"
    assert denied.reason == "role operator lacks view_audit"


@pytest.mark.req("SCR-006")
async def test_navigation_offers_the_audit_trail(hmi: Harness) -> None:
    await hmi.login("ada")
    hmi.user.find("Audit").click()
    await hmi.user.should_see(marker="audit-table", retries=50)


@pytest.mark.req("REC-005")
async def test_start_up_findings_are_shown_to_administrators_only(hmi: Harness) -> None:
    finding = "Append-only guards were missing or altered at start-up and were re-installed: audit_entries_no_delete"
    hmi.rt.findings.append(finding)
    await hmi.login("ada")
    await hmi.user.open("/audit")
    await hmi.user.should_see(finding, retries=50)
    await hmi.logout()
    await hmi.login("max")  # a manager may view the audit trail, but the findings are for administrators
    await hmi.user.open("/audit")
    await hmi.user.should_see(marker="audit-table", retries=50)
    await hmi.user.should_not_see(finding)


@pytest.mark.req("REC-018", "SEC-010")
async def test_audit_list_pages_and_refuses_a_range_beyond_its_maximum(hmi: Harness) -> None:
    actor = system_context("runtime")
    for i in range(205):
        await hmi.rt.audit.record(actor, "test.event", "test", str(i))
    await hmi.login("max")
    await hmi.user.open("/audit")
    await hmi.user.should_see("(rows 1–200; older ones on the next page)", retries=50)
    assert len(table_rows(hmi, "audit-table")) == 200
    hmi.user.find(marker="audit-older").click()
    await hmi.user.should_see("older ones on the next page)", retries=50)
    await hmi.user.should_see("(rows 201–", retries=50)
    hmi.user.find(marker="audit-newer").click()
    await hmi.user.should_see("(rows 1–200; older ones on the next page)", retries=50)

    zone = hmi.rt.plant.site.zone
    set_value(hmi, "audit-range", "custom")
    hmi.user.find(marker="audit-from").type(
        (hmi.rt.clock() - timedelta(days=800)).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    )
    hmi.user.find(marker="audit-apply").click()
    await hmi.user.should_see("at most 400 days can be read at once: choose a shorter range", retries=50)
    hmi.user.find(marker="audit-export-csv").click()
    await hmi.user.should_see("Not exported: the export covers", retries=50)
