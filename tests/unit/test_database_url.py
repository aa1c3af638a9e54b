"""Where the database is: --db, then $HMI_DB_URL, then SQLite in the data folder; URLs rewritten to async drivers."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmi.store.database import Database, resolve_db_url


@pytest.fixture(autouse=True)
def _no_env_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own HMI_DB_URL must not leak into these tests.
    monkeypatch.delenv("HMI_DB_URL", raising=False)


@pytest.mark.req("OPS-003")
def test_cli_value_wins_over_env_and_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HMI_DB_URL", "postgresql://env@db-host/plant")
    assert resolve_db_url("sqlite:///cli.db", tmp_path) == "sqlite+aiosqlite:///cli.db"


@pytest.mark.req("OPS-003")
def test_env_wins_over_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HMI_DB_URL", "postgresql://env@db-host/plant")
    assert resolve_db_url(None, tmp_path) == "postgresql+asyncpg://env@db-host/plant"


@pytest.mark.req("OPS-003")
def test_default_is_sqlite_file_in_data_dir(tmp_path: Path) -> None:
    assert resolve_db_url(None, tmp_path / "data") == f"sqlite+aiosqlite:///{tmp_path}/data/hmi.db"


@pytest.mark.req("OPS-003")
def test_relative_data_dir_becomes_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The server may change directory later; the resolved URL must still name the same file.
    monkeypatch.chdir(tmp_path)
    assert resolve_db_url(None, Path("hmi-data")) == f"sqlite+aiosqlite:///{tmp_path}/hmi-data/hmi.db"


@pytest.mark.req("OPS-003")
def test_blank_values_count_as_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HMI_DB_URL", "  ")
    assert resolve_db_url("", tmp_path) == f"sqlite+aiosqlite:///{tmp_path}/hmi.db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:pw@h:5433/db", "postgresql+asyncpg://u:pw@h:5433/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("PostgreSQL://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u:p%40ss@h/db?sslmode=require", "postgresql+asyncpg://u:p%40ss@h/db?ssl=require"),
    ],
)
@pytest.mark.req("OPS-003")
def test_urls_are_rewritten_to_async_drivers(given: str, expected: str, tmp_path: Path) -> None:
    assert resolve_db_url(given, tmp_path) == expected


@pytest.mark.parametrize("given", ["mysql://u@h/db", "postgresql+psycopg2://u@h/db", "hmi.db", "oracle://x"])
@pytest.mark.req("OPS-003")
def test_unsupported_urls_are_refused_with_the_accepted_forms(given: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"postgresql://USER@HOST:PORT/DB") as info:
        resolve_db_url(given, tmp_path)
    assert "sqlite:///PATH" in str(info.value)


@pytest.mark.req("SEC-008")
def test_unsupported_url_message_hides_the_password(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mysql") as info:
        resolve_db_url("mysql://u:topsecret@h/db", tmp_path)
    assert "topsecret" not in str(info.value)


@pytest.mark.req("SEC-008")
def test_database_names_itself_without_the_password() -> None:
    db = Database("postgresql://op:topsecret@10.0.0.5:5433/plant")
    assert db.dialect == "postgresql"
    assert "topsecret" not in db.redacted_url
    assert db.redacted_url == "postgresql+asyncpg://op:***@10.0.0.5:5433/plant"
    assert db.describe() == "PostgreSQL at 10.0.0.5:5433/plant"
    assert Database("sqlite:///x/hmi.db").dialect == "sqlite"


@pytest.mark.req("OPS-003")
def test_using_a_database_before_start_says_so() -> None:
    with pytest.raises(RuntimeError, match=r"start\(\)"):
        _ = Database("sqlite:///x.db").engine
