"""The data directory, the session secret, the audit key and the anchor file are private from the first byte,
whatever the umask (21 CFR 11.10(d): access limited to authorised individuals)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hmi.private_files import private_dir
from hmi.records.audit_anchor import Anchor, AnchorFile
from hmi.records.audit_key import load_or_create_key
from screens.cli import storage_secret


def mode_of(path: Path) -> int:
    """The permission bits of `path` (e.g. 0o600)."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o000, 0o022, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.mark.req("SEC-009")
def test_data_dir_and_every_file_in_it_are_private(tmp_path: Path, umask: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HMI_STORAGE_SECRET", raising=False)
    data = private_dir(tmp_path / "plant" / "hmi-data")
    secret = storage_secret(data)
    key, created = load_or_create_key(data / "audit.key")
    AnchorFile(data / "audit.anchor").append(Anchor(at=datetime.now(UTC), rows=0, last_id=0, head="0" * 64, legacy=0))
    assert mode_of(tmp_path / "plant") == 0o700, "parents this call creates are private too"
    assert mode_of(data) == 0o700
    for name in ("storage-secret", "audit.key", "audit.anchor"):
        assert mode_of(data / name) == 0o600, name
    # Made once: the next start reads the same secret and key.
    assert storage_secret(data) == secret
    assert load_or_create_key(data / "audit.key") == (key, False)
    assert created


@pytest.mark.req("SEC-009")
def test_a_key_file_elsewhere_gets_a_private_folder(tmp_path: Path, umask: int) -> None:
    load_or_create_key(tmp_path / "keys" / "plant.key")
    assert (mode_of(tmp_path / "keys"), mode_of(tmp_path / "keys" / "plant.key")) == (0o700, 0o600)


@pytest.mark.req("SEC-009")
def test_an_existing_folder_is_left_as_it_is(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o750)
    private_dir(shared)
    assert mode_of(shared) == 0o750
