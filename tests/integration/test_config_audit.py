"""A changed plant file at start-up is audited with before/after hashes and the diff (issue 4; 21 CFR 11.10(e),
EU GMP Annex 11 §10)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlmodel import select

from hmi.clock import ManualClock
from hmi.records.audit import AuditLog
from hmi.records.config_audit import config_diff, record_config
from hmi.runtime import Runtime
from hmi.secrets import fingerprint
from hmi.store.database import Database
from hmi.store.models import ConfigSnapshot
from tests.opcua_server import free_port
from tests.plant_fixture import PLANT_YAML, small_plant


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def snapshots(db: Database) -> list[ConfigSnapshot]:
    async with db.session() as session:
        return list((await session.execute(select(ConfigSnapshot).order_by(ConfigSnapshot.id))).scalars())


@pytest.mark.req("REC-014")
async def test_first_load_then_unchanged_then_changed(
    db: Database, audit: AuditLog, clock: ManualClock, tmp_path: Path
) -> None:
    path = tmp_path / "plant.yaml"
    before = "site:\n  name: Plant\n  timezone: UTC\nareas: []\n"
    after = before.replace("timezone: UTC", "timezone: Europe/Berlin")

    first = await record_config(db, audit, path, before, clock)
    assert first is not None
    assert (first.action, first.object_type, first.object_id) == ("config.load", "config", str(path))
    assert (first.old_value, first.new_value) == (None, sha(before))
    assert first.username == "runtime"
    assert first.at == clock.now()

    clock.advance(3600)
    assert await record_config(db, audit, path, before, clock) is None  # unchanged: nothing recorded

    clock.advance(3600)
    change = await record_config(db, audit, path, after, clock)
    assert change is not None
    assert change.action == "config.change"
    assert (change.old_value, change.new_value) == (sha(before), sha(after))
    assert change.reason
    assert change.detail is not None
    assert "-  timezone: UTC\n" in change.detail
    assert "+  timezone: Europe/Berlin\n" in change.detail
    assert f"--- {path} (before)" in change.detail

    assert [(s.sha256, s.text, s.at) for s in await snapshots(db)] == [
        (sha(before), before, first.at),
        (sha(after), after, change.at),
    ]
    assert [e.action for e in await audit.query(object_type="config")] == ["config.change", "config.load"]
    assert await audit.verify() is None


@pytest.mark.req("REC-014")
async def test_another_plant_file_has_its_own_history(
    db: Database, audit: AuditLog, clock: ManualClock, tmp_path: Path
) -> None:
    await record_config(db, audit, tmp_path / "area-a.yaml", "a: 1\n", clock)
    other = await record_config(db, audit, tmp_path / "area-b.yaml", "b: 1\n", clock)
    assert other is not None
    assert other.action == "config.load"


@pytest.mark.req("REC-014")
def test_a_long_diff_is_cut_at_a_line_and_says_so() -> None:
    old = "".join(f"line {i}\n" for i in range(5000))
    new = "".join(f"row {i}\n" for i in range(5000))
    diff = config_diff(old, new, "plant.yaml", limit=2000)
    assert len(diff) < 2200
    assert diff.splitlines()[-1].startswith("… diff cut here: ")
    assert "more lines; both full versions are kept in the config snapshots" in diff
    assert all(line.startswith(("---", "+++", "@@", "-", "+", " ", "…")) for line in diff.splitlines())


@pytest.mark.req("REC-014")
async def test_runtime_records_its_plant_file_at_start(db: Database, clock: ManualClock, tmp_path: Path) -> None:
    url = f"opc.tcp://127.0.0.1:{free_port()}"  # nothing listens: the sources keep retrying in the background
    path = tmp_path / "plant.yaml"
    path.write_text(PLANT_YAML.format(url=url), encoding="utf-8")
    for edit in ("", "# speed limit raised\n"):
        path.write_text(path.read_text(encoding="utf-8") + edit, encoding="utf-8")
        rt = Runtime(small_plant(url), db, clock, config_path=path)
        await rt.start()
        await rt.stop()
        clock.advance(60)
    audit = AuditLog(db, clock)
    await db.start()  # the runtime stopped the shared database; start it again to read
    entries = await audit.query(object_type="config")
    assert [e.action for e in entries] == ["config.change", "config.load"]
    assert entries[0].detail is not None
    assert "+# speed limit raised" in entries[0].detail


def _with_password(password: str) -> str:
    return (
        "site:\n  name: Plant\nendpoints:\n  - name: plc1\n    url: opc.tcp://127.0.0.1:4840\n"
        f"    username: op\n    password: '{password}'\nareas: []\n"
    )


@pytest.mark.req("SEC-008")
async def test_an_inline_password_never_reaches_snapshots_or_the_trail(
    db: Database, audit: AuditLog, clock: ManualClock, tmp_path: Path
) -> None:
    path = tmp_path / "plant.yaml"
    first = await record_config(db, audit, path, _with_password("old-secret-1"), clock)
    clock.advance(60)
    change = await record_config(db, audit, path, _with_password("new-secret-2"), clock)
    assert first is not None
    assert change is not None
    # The change is still visible: the fingerprint line differs, the hashes differ.
    assert change.action == "config.change"
    assert change.old_value != change.new_value
    assert change.detail is not None
    assert f'-    password: "<redacted {fingerprint("old-secret-1")}>"' in change.detail
    assert f'+    password: "<redacted {fingerprint("new-secret-2")}>"' in change.detail
    stored = [s.text for s in await snapshots(db)] + [
        str(v) for e in await audit.query(object_type="config") for v in (e.detail, e.old_value, e.new_value)
    ]
    for text in stored:
        assert "old-secret-1" not in text
        assert "new-secret-2" not in text
    # Same password, same fingerprint: no change recorded.
    assert await record_config(db, audit, path, _with_password("new-secret-2"), clock) is None


@pytest.mark.req("SEC-008")
async def test_a_snapshot_written_before_redaction_is_not_diffed_in_clear(
    db: Database, audit: AuditLog, clock: ManualClock, tmp_path: Path
) -> None:
    path = tmp_path / "plant.yaml"
    old = _with_password("old-secret-1")
    async with db.session() as session:  # what an older version stored: the file as it was
        session.add(ConfigSnapshot(at=clock(), path=str(path), sha256=sha(old), text=old))
        await session.commit()
    clock.advance(60)
    assert await record_config(db, audit, path, old, clock) is None  # the same file: nothing to audit
    change = await record_config(db, audit, path, _with_password("new-secret-2"), clock)
    assert change is not None
    assert change.detail is not None
    assert "old-secret-1" not in change.detail
    assert fingerprint("old-secret-1") in change.detail
    assert "old-secret-1" not in (await snapshots(db))[-1].text
